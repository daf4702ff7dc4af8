"""Train the DQN example for real (Ray + embedded server), resume it, and run both inference
scripts from its checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dqn_example.export import CHECKPOINT_FILES, EXPORT_DIR
from rllib_integration.training.checkpoints import LATEST_FILE, is_complete
from rllib_integration.training.monitor import TENSORBOARD_DIR
from tests.dqn.helpers import (
    CONFIG,
    assert_no_servers_left,
    run_python,
    run_script,
    tiny_overrides,
)

ITERATION_LINE = re.compile(
    r"^iter +(\d+) \| env steps ([\d,]+) \| episodes [\d,-]+ \| return \S+ \| "
    r"distance \S+ m \| speed \S+ km/h \| collisions \S+ \| route completion \S+ \| "
    r"([\d.]+) steps/s",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dqn_train")
    logs = root / "server_logs"
    result = run_script(
        "dqn_train.py",
        str(CONFIG),
        "--name",
        "tiny",
        "--directory",
        str(root / "results"),
        *tiny_overrides(logs, iterations=2),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return {"root": root, "logs": logs, "result": result, "experiment": root / "results" / "tiny"}


def latest_checkpoint(experiment: Path) -> Path:
    return Path(json.loads((experiment / LATEST_FILE).read_text())["checkpoint"])


def test_training_reports_each_iteration_and_writes_checkpoints(trained):
    out = trained["result"].stdout
    iterations = [(int(i), int(s.replace(",", ""))) for i, s, _ in ITERATION_LINE.findall(out)]
    assert [i for i, _ in iterations] == [1, 2], out
    assert iterations[1][1] >= 200  # env steps sampled over two iterations of >= 100
    checkpoint = latest_checkpoint(trained["experiment"])
    assert checkpoint.name == "checkpoint_000001" and is_complete(checkpoint, CHECKPOINT_FILES)
    trial = checkpoint.parent
    tensorboard = trained["experiment"] / TENSORBOARD_DIR
    assert list(tensorboard.glob("events.out.tfevents.*")), "no TensorBoard log"
    assert (trial / "progress.csv").read_text().count("\n") == 3  # header + 2 iterations
    assert f"final checkpoint {checkpoint}" in out
    assert_no_servers_left(trained["logs"])


def test_each_reward_term_is_a_tensorboard_curve(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dqn_example.dqn_experiment import REWARD_TERMS

    trial = latest_checkpoint(trained["experiment"]).parent
    last = json.loads((trial / "result.json").read_text().splitlines()[-1])
    terms = last["env_runners"]["reward_terms"]
    assert set(terms) == set(REWARD_TERMS)
    assert terms["distance"] != 0.0  # at least one finished episode drove somewhere
    events = EventAccumulator(str(trained["experiment"] / TENSORBOARD_DIR)).Reload()
    curves = {t for t in events.Tags()["scalars"] if t.startswith("ray/tune/env_runners/reward_")}
    assert curves == {f"ray/tune/env_runners/reward_terms/{term}" for term in REWARD_TERMS}


def test_exported_network_matches_the_rllib_module(trained):
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule

    from dqn_example.qnet import load_qnet

    checkpoint = latest_checkpoint(trained["experiment"])
    module = RLModule.from_checkpoint(
        str(checkpoint / "learner_group/learner/rl_module/default_policy")
    )
    net = load_qnet(checkpoint / EXPORT_DIR)
    assert net.spec.obs_shape == (64, 64, 12) and net.spec.num_actions == 29
    obs = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 64, 64, 12), np.uint8))
    with torch.no_grad():
        expected = module.compute_q_values({Columns.OBS: obs})["qf_preds"]
        assert torch.allclose(net(obs), expected, atol=1e-6)
        assert torch.equal(
            module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS], net(obs).argmax(-1)
        )


def test_auto_resumes_from_the_latest_checkpoint(trained):
    before = latest_checkpoint(trained["experiment"])
    result = run_script(
        "dqn_train.py",
        str(CONFIG),
        "--name",
        "tiny",
        "--directory",
        str(trained["root"] / "results"),
        "--auto",
        *tiny_overrides(trained["logs"], iterations=3),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"continuing from {before}" in result.stdout
    iterations = [int(i) for i, _, _ in ITERATION_LINE.findall(result.stdout)]
    assert iterations == [3], result.stdout  # counters continue; stop.iterations=3 is reached
    after = latest_checkpoint(trained["experiment"])
    assert after != before and is_complete(after, CHECKPOINT_FILES)
    # TensorBoard: one run for the experiment, continued: iterations 1, 2, then 3.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = {path.parent for path in trained["experiment"].rglob("events.out.tfevents.*")}
    assert runs == {trained["experiment"] / TENSORBOARD_DIR}
    events = EventAccumulator(str(trained["experiment"] / TENSORBOARD_DIR)).Reload()
    steps = [e.step for e in events.Scalars("ray/tune/num_env_steps_sampled_lifetime")]
    assert sorted(steps) == [1, 2, 3]
    assert_no_servers_left(trained["logs"])


EPISODE_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?[\d.]+)\s+(\w+)\s", re.MULTILINE)


def test_inference_with_ray_runs_greedy_episodes(trained, tmp_path):
    video = tmp_path / "bev.mp4"
    result = run_script(
        "dqn_inference_ray.py",
        str(CONFIG),
        str(trained["experiment"]),
        "--episodes",
        "2",
        "--video",
        str(video),
        "--spread",
        "--set",
        "env_config.experiment.max_time_episode=2.0",
        "--set",
        f"env_config.carla.log_dir={trained['logs']}",
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rows = EPISODE_ROW.findall(result.stdout)
    assert [int(r[0]) for r in rows] == [1, 2], result.stdout
    for _, steps, _, end in rows:  # every episode ended: time limit (20 steps) or earlier
        assert 1 <= int(steps) <= 20 and end in ("time_limit", "off_road", "collision", "idle")
    assert video.stat().st_size > 1000
    assert "2 episodes | mean return" in result.stdout
    assert_no_servers_left(trained["logs"])


def test_inference_without_ray_never_imports_ray(trained):
    code = (
        "import sys, dqn_inference\n"
        f"rc = dqn_inference.main([{str(CONFIG)!r}, {str(trained['experiment'])!r},"
        " '--episodes', '1', '--set', 'env_config.experiment.max_time_episode=2.0',"
        f" '--set', 'env_config.carla.log_dir={trained['logs']}'])\n"
        "assert rc == 0, rc\n"
        "print('RAY_IMPORTED', any(m == 'ray' or m.startswith('ray.') for m in sys.modules))\n"
    )
    result = run_python(code, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "RAY_IMPORTED False" in result.stdout
    assert "network" in result.stdout and "on cpu" in result.stdout
    assert len(EPISODE_ROW.findall(result.stdout)) == 1
    assert_no_servers_left(trained["logs"])
