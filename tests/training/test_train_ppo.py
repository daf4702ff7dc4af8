"""The shipped continuous-action example (Dict observation) trained with PPO by the installed
`carla-rllib-train`, run from a folder outside the repository, then driven by
`carla-rllib-infer` with a video: the whole "Creating your own experiment" path of the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rllib_integration.training.checkpoints import LATEST_FILE, is_complete
from rllib_integration.training.monitor import TENSORBOARD_DIR
from tests.conftest import run_command
from tests.dqn.helpers import ROOT, assert_no_servers_left, script_env

CONFIG = ROOT / "examples" / "lane_keeping" / "ppo_config.yaml"
ENV = script_env()
ITERATION = re.compile(r"^iter +(\d+) \| env steps ([\d,]+) \|", re.MULTILINE)
EPISODE_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?[\d.]+)\s+(\w+)\s", re.MULTILINE)


def tiny(log_dir: Path, **extra: object) -> list[str]:
    sets = {
        "stop.iterations": 2,
        "checkpoint.frequency": 1,
        "training.train_batch_size_per_learner": 200,
        "training.minibatch_size": 64,
        "training.num_epochs": 2,
        "env_config.experiment.max_time": 5.0,
        "env_config.carla.log_dir": str(log_dir),
        **extra,
    }
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def trained(installed_venv, tmp_path_factory) -> dict:
    outside = tmp_path_factory.mktemp("user_folder")
    logs = outside / "server_logs"
    command = [str(installed_venv / "bin" / "carla-rllib-train"), str(CONFIG), "--name", "lane"]
    result = run_command([*command, "-d", str(outside / "results"), *tiny(logs)], 600, ENV, outside)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return {"venv": installed_venv, "dir": outside, "logs": logs, "result": result}


def test_ppo_trains_two_iterations_and_checkpoints(trained):
    out = trained["result"].stdout
    assert "env check passed" in out
    assert [int(i) for i, _ in ITERATION.findall(out)] == [1, 2], out
    experiment = trained["dir"] / "results" / "lane"
    checkpoint = Path(json.loads((experiment / LATEST_FILE).read_text())["checkpoint"])
    assert is_complete(checkpoint) and f"final checkpoint {checkpoint}" in out
    assert_no_servers_left(trained["logs"])


def test_env_metrics_and_the_experiments_info_keys_reach_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained["dir"] / "results" / "lane" / TENSORBOARD_DIR))
    tags = set(events.Reload().Tags()["scalars"])
    prefix = "ray/tune/env_runners/"
    for key in ("distance", "mean_speed", "collisions", "lane_invasions", "end/truncated"):
        assert f"{prefix}env/{key}" in tags, sorted(tags)
    # LaneKeeping.get_info's numbers, as per-episode means of their step values.
    assert {f"{prefix}info/progress", f"{prefix}info/lateral_offset"} <= tags


def test_the_trained_policy_drives_and_records_a_video(trained):
    video = trained["dir"] / "lane.mp4"
    command = [str(trained["venv"] / "bin" / "carla-rllib-infer"), str(CONFIG)]
    command += [str(trained["dir"] / "results" / "lane"), "--episodes", "2", "--video", str(video)]
    result = run_command(
        [*command, "--set", "env_config.experiment.max_time=2.0", *tiny(trained["logs"])[-2:]],
        300,
        ENV,
        trained["dir"],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rows = EPISODE_ROW.findall(result.stdout)
    assert [int(r[0]) for r in rows] == [1, 2], result.stdout
    for _, steps, _, end in rows:  # 20 steps of 0.1 s, or an earlier end
        assert 1 <= int(steps) <= 20 and end in ("time_limit", "off_lane", "collision")
    assert "2 episodes | mean return" in result.stdout
    assert video.stat().st_size > 1000
    assert_no_servers_left(trained["logs"])


def test_an_action_space_the_algorithm_cannot_use_is_one_line_before_ray(installed_venv, tmp_path):
    config = tmp_path / "dqn.yaml"
    config.write_text(
        "algorithm: DQN\n"
        f"python_path: [{ROOT / 'examples' / 'lane_keeping'}]\n"
        "env_config:\n"
        "  experiment:\n"
        "    type: lane_keeping:LaneKeeping\n"
        "    hero: {sensors: {lane: {type: sensor.lane_state}}}\n"
    )
    command = [str(installed_venv / "bin" / "carla-rllib-train"), str(config)]
    result = run_command([*command, "-d", str(tmp_path / "results")], 120, ENV, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [
        f"carla-rllib-train: error: {config}:1: algorithm: DQN needs a Discrete action space, "
        "but LaneKeeping.get_action_space() returns Box(-1.0, 1.0, (2,), float32); "
        "PPO, APPO, IMPALA, SAC can"
    ], result.stderr
    assert "Traceback" not in result.stderr and "Ray instance" not in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
