"""The learning benchmark's evaluation and table code (dqn_example/learning_report.py) on a tiny
checkpoint: greedy episodes on the embedded server, the early stop of a checkpoint scan, when
each checkpoint was written, the per-seed table, the last line and the curves PNG."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dqn_example import learning_report as report
from dqn_example.dqn_experiment import DQNExperiment
from dqn_example.export import EXPORT_DIR
from dqn_example.qnet import QNet, QNetSpec, save_qnet
from rllib_integration.training.checkpoints import MODULE_STATE, append_history
from tests.dqn.helpers import assert_no_servers_left, run_python


def tiny_checkpoint(path: Path) -> Path:
    """A checkpoint folder as dqn_train.py leaves it, with an untrained exported network."""
    (path / MODULE_STATE).parent.mkdir(parents=True)
    (path / MODULE_STATE).write_bytes(b"")
    (path / "rllib_checkpoint.json").write_text("{}")
    experiment = DQNExperiment({"type": "dqn_example.dqn_experiment:DQNExperiment"})
    spec = QNetSpec(experiment.get_observation_space().shape, 29, [[4, 8, 4]], [16])
    save_qnet(QNet(spec), path / EXPORT_DIR)
    return path


EVALUATE = """
import io
import json
from dqn_example import learning_report as report
from rllib_integration.carla_env import CarlaEnv

def make(**experiment):
    return CarlaEnv({
        "carla": {"server": "embedded", "timestep": 0.1, "log_dir": LOG_DIR},
        "experiment": {"type": "dqn_example.dqn_experiment:DQNExperiment", "town": "Loop01",
                       "max_time_episode": 2.0, **experiment},
    })

out = {}
env = make()
policy = report.greedy_policy(CHECKPOINT)
table = io.StringIO()
stats, reports = report.evaluate(env, policy, 3, stream=table)
out["greedy"] = {"stats": stats, "episodes": len(reports), "table": table.getvalue(),
                 "actions": sorted({policy(env.reset()[0]) for _ in range(2)})}
env.close()
# Full throttle, hard right: off the road (or into something) long before the time limit.
env = make(max_time_episode=30.0)
stats, reports = report.evaluate(env, lambda obs: 23, 20, report.TRAINING_TOWN_TARGETS)
out["off_road"] = {"stats": stats, "ends": [r.end for r in reports]}
env.close()
print("RESULT" + json.dumps(out))
"""


def test_greedy_evaluation_of_a_checkpoint_and_its_early_stop(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint_000000")
    logs = tmp_path / "logs"
    code = f"LOG_DIR = {str(logs)!r}\nCHECKPOINT = {str(checkpoint)!r}\n" + textwrap.dedent(
        EVALUATE
    )
    result = run_python(code, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    out = json.loads(result.stdout.split("RESULT", 1)[1])

    greedy = out["greedy"]
    assert greedy["episodes"] == 3 and greedy["stats"]["episodes"] == 3
    assert all(0 <= a < 29 for a in greedy["actions"])
    stats = greedy["stats"]
    for key in ("truncated_rate", "collision_or_off_road_rate", "mean_route_completion"):
        assert 0.0 <= stats[key] <= 1.0
    assert stats["lane_invasions_per_episode"] >= 0.0
    assert 0.0 < stats["mean_lane_centre_distance"] < 3.5  # within a lane width of its centre
    # The evaluation table: a header with the metres from the lane centre, a row per episode.
    table = greedy["table"].splitlines()
    assert table[0] == report.EVAL_HEADER and "ctr m" in table[0] and len(table) == 4
    centres = [float(row.split()[-1]) for row in table[1:]]
    assert abs(sum(centres) / 3 - stats["mean_lane_centre_distance"]) < 0.01

    # 20 episodes asked, but 3 failures already exceed the 10 % allowed: the scan stops there.
    off_road = out["off_road"]
    assert len(off_road["ends"]) == 3 and set(off_road["ends"]) <= {"off_road", "collision"}
    assert off_road["stats"]["collision_or_off_road_rate"] == 1.0
    assert not report.meets(off_road["stats"], report.TRAINING_TOWN_TARGETS)
    assert_no_servers_left(logs)


def test_checkpoint_times_come_from_the_run_history(tmp_path):
    experiment = tmp_path / "experiment"
    trial = experiment / "trial"
    trial.mkdir(parents=True)
    for index, iteration in enumerate((2, 4, 6)):
        checkpoint = tiny_checkpoint(trial / f"checkpoint_{index:06d}")
        append_history(
            experiment, checkpoint, env_steps=2000 * iteration, time_total_s=60.0 * iteration
        )
    # Deleted by checkpoint.keep, or damaged since: skipped.
    for path in (trial / "checkpoint_000001" / EXPORT_DIR).iterdir():
        path.unlink()
    times = report.checkpoint_times(experiment)
    assert [(t.path.name, t.minutes, t.env_steps) for t in times] == [
        ("checkpoint_000000", 2.0, 4000),
        ("checkpoint_000002", 6.0, 12000),
    ]
    assert report.checkpoint_times(tmp_path / "no_run") == []


def stats(completed: float, failed: float, speed: float, lane: float, centre: float) -> dict:
    return {
        "episodes": 20,
        "truncated_rate": completed,
        "collision_or_off_road_rate": failed,
        "mean_speed_kmh": speed,
        "mean_return": 100.0,
        "mean_route_completion": completed,
        "lane_invasions_per_episode": lane,
        "mean_lane_centre_distance": centre,
    }


def test_table_and_last_line():
    good = stats(0.9, 0.05, 22.0, 3.0, 0.3)
    results = [
        report.SeedResult(
            0, 20.0, 300_000, report.CheckpointTime(Path("c"), 17.5, 250_000), "Loop01", good,
            {"Roundabout01": stats(0.7, 0.1, 20.0, 5.0, 0.4)},
        ),
        # Lane keeping missed (12 invasions per episode) -> the seed misses the targets.
        report.SeedResult(
            1, 20.0, 312_000, None, "Loop01", stats(0.9, 0.05, 22.0, 12.0, 0.3),
            {"Roundabout01": stats(0.7, 0.1, 20.0, 5.0, 0.4)},
        ),
        # The unseen town failing alone misses them too.
        report.SeedResult(
            2, 20.0, 330_000, report.CheckpointTime(Path("c"), 9.0, 150_000), "Loop01", good,
            {"Roundabout01": stats(0.5, 0.1, 20.0, 5.0, 0.4)},
        ),
    ]  # fmt: skip
    assert [r.passed for r in results] == [True, False, False]
    table = report.format_table(results)
    lines = table.splitlines()
    assert len(lines) == 4 and "Roundabout01" in lines[0]
    assert "17.5 min" in lines[1] and "250,000" in lines[1] and lines[1].endswith("met")
    assert "not met" in lines[2] and lines[2].endswith("missed")
    assert " 12.0 " in lines[2]
    last = report.final_line(results)
    assert re.fullmatch(
        r"seeds meeting targets: \d+/\d+; slowest time to targets: \d+\.\d min; "
        r"sustained env steps/s: \d+",
        last,
    )
    # Seed 1 never met them: its whole 20-minute run counts; the slowest rate is seed 0's.
    assert last == (
        "seeds meeting targets: 1/3; slowest time to targets: 20.0 min; sustained env steps/s: 250"
    )


@pytest.mark.parametrize("seeds", [1, 3])
def test_curves_png_has_every_seed(tmp_path, seeds):
    import cv2

    curves = {}
    for seed in range(seeds):
        n = 10
        curves[seed] = {
            "env steps": np.linspace(2000, 20000, n),
            "minutes": np.linspace(0.5, 5.0, n),
            "return": np.linspace(-80, 150 + seed, n),
            "route completion": np.linspace(0.1, 0.9, n),
        }
    curves.setdefault(99, {k: np.full(3, np.nan) for k in curves[0]})  # no data: no line
    path = tmp_path / "curves.png"
    report.plot_curves(curves, path)
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (600, 1120, 3)
    colours = {tuple(int(v) for v in c) for c in report.COLOURS[:seeds]}
    present = {tuple(int(v) for v in px) for px in image.reshape(-1, 3)[::7]}
    assert colours <= present


@pytest.mark.parametrize(
    "route_column", ["env_runners/route_completion", "env_runners/env/route_completion"]
)
def test_learning_curve_of_dqn_train_and_of_the_generic_trainer(tmp_path, route_column):
    rows = [
        f"num_env_steps_sampled_lifetime,time_total_s,env_runners/episode_return_mean,{route_column}"
    ]
    rows += ["2000,60,-80.5,0.1", "4000,120,-20.0,0.35"]
    (tmp_path / "progress.csv").write_text("\n".join(rows) + "\n")
    curve = report.learning_curve(tmp_path)
    assert curve["env steps"].tolist() == [2000, 4000]
    assert curve["minutes"].tolist() == [1.0, 2.0]
    assert curve["return"].tolist() == [-80.5, -20.0]
    assert curve["route completion"].tolist() == [0.1, 0.35]


def test_reuse_takes_only_a_run_that_trained_its_minutes(tmp_path, monkeypatch):
    """dqn_learning.py --reuse: a seed's run is evaluated again, not retrained, only when it
    trained the minutes asked and left a complete checkpoint."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    learning = __import__("dqn_learning")
    experiment = tmp_path / "seed0"
    trial = experiment / "trial"
    trial.mkdir(parents=True)
    rows = ["num_env_steps_sampled_lifetime,time_total_s", "2000,600.0", "4000,1201.5"]
    (trial / "progress.csv").write_text("\n".join(rows) + "\n")
    assert learning.finished_run(experiment, 20.0) is None  # no checkpoint yet
    tiny_checkpoint(trial / "checkpoint_000000")
    assert learning.finished_run(experiment, 20.0) == trial
    assert learning.finished_run(experiment, 30.0) is None  # stopped short of 30 minutes
    assert learning.finished_run(tmp_path / "seed1", 20.0) is None
