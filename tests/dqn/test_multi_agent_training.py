"""The multi-agent DQN configs for real (Ray + embedded server): 4 heroes sharing one policy, and
two policies; checkpoints export every policy; both inference scripts run every agent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dqn_example.export import CHECKPOINT_FILES, EXPORT_DIR, export_dir
from rllib_integration.training.checkpoints import LATEST_FILE, is_complete, module_ids
from tests.dqn.helpers import ROOT, assert_no_servers_left, run_python, run_script, tiny_overrides

SHARED = ROOT / "dqn_example" / "dqn_multi_agent_config.yaml"
TWO_POLICIES = ROOT / "dqn_example" / "dqn_multi_agent_two_policies.yaml"
ITERATION = re.compile(r"^iter +(\d+) \| env steps ([\d,]+) \|", re.MULTILINE)
AGENT_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?[\d.]+)\s+(\w+)\s.*\s(car_\d)$", re.MULTILINE)


def train(tmp_path_factory, config: Path, name: str) -> dict:
    root = tmp_path_factory.mktemp(name)
    logs = root / "server_logs"
    result = run_script(
        "dqn_train.py",
        str(config),
        "--name",
        name,
        "--directory",
        str(root / "results"),
        *tiny_overrides(logs, iterations=2),
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    experiment = root / "results" / name
    checkpoint = Path(json.loads((experiment / LATEST_FILE).read_text())["checkpoint"])
    return {"logs": logs, "result": result, "experiment": experiment, "checkpoint": checkpoint}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict:
    return train(tmp_path_factory, SHARED, "shared")


@pytest.fixture(scope="module")
def two_policies(tmp_path_factory) -> dict:  # used only by slow tests (~70 s of training)
    return train(tmp_path_factory, TWO_POLICIES, "two")


def agent_steps(trial: Path) -> dict[str, int]:
    """Agent id -> its steps sampled, as of the last iteration."""
    last = json.loads((trial / "result.json").read_text().splitlines()[-1])
    return {a: int(n) for a, n in last["env_runners"]["num_agent_steps_sampled_lifetime"].items()}


def test_four_heroes_train_one_shared_policy_for_two_iterations(shared):
    out = shared["result"].stdout
    assert [int(i) for i, _ in ITERATION.findall(out)] == [1, 2], out
    checkpoint = shared["checkpoint"]
    assert is_complete(checkpoint, CHECKPOINT_FILES) and module_ids(checkpoint) == ["shared"]
    assert (export_dir(checkpoint, "shared") / "qnet_state.pt").is_file()
    # Four agents step per tick: the agent steps are ~4x the env steps.
    trial = checkpoint.parent
    last = json.loads((trial / "result.json").read_text().splitlines()[-1])
    env_steps = last["num_env_steps_sampled_lifetime"]
    steps = agent_steps(trial)
    assert set(steps) == {"car_0", "car_1", "car_2", "car_3"}
    assert sum(steps.values()) >= 3 * env_steps > 0
    # Each agent's episodes reach the metrics: the env's and the example's own.
    assert "distance" in last["env_runners"]["env"] and "reward_terms" in last["env_runners"]
    assert_no_servers_left(shared["logs"])


@pytest.mark.slow
def test_two_policies_each_learn_from_their_own_agents(two_policies):
    checkpoint = two_policies["checkpoint"]
    assert is_complete(checkpoint, CHECKPOINT_FILES) and module_ids(checkpoint) == ["mini", "sedan"]
    learners = json.loads((checkpoint.parent / "result.json").read_text().splitlines()[-1])
    learners = learners["learners"]
    assert {"mini", "sedan"} <= set(learners)
    assert all(learners[p]["num_module_steps_trained"] > 0 for p in ("mini", "sedan"))
    assert_no_servers_left(two_policies["logs"])


@pytest.mark.slow
def test_each_policy_s_export_matches_its_rllib_module(two_policies):
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule

    from dqn_example.qnet import load_qnet

    checkpoint = two_policies["checkpoint"]
    obs = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 12), np.uint8))
    outputs = []
    for policy in ("mini", "sedan"):
        module = RLModule.from_checkpoint(
            str(checkpoint / "learner_group/learner/rl_module" / policy)
        )
        net = load_qnet(checkpoint / EXPORT_DIR / policy)
        with torch.no_grad():
            expected = module.compute_q_values({Columns.OBS: obs})["qf_preds"]
            assert torch.allclose(net(obs), expected, atol=1e-6)
            outputs.append(expected)
    assert not torch.allclose(*outputs)  # two networks, not one


@pytest.mark.slow
def test_inference_with_ray_runs_every_agent_with_its_policy(two_policies):
    result = run_script(
        "dqn_inference_ray.py",
        str(TWO_POLICIES),
        str(two_policies["experiment"]),
        "--episodes",
        "4",
        "--spread",
        "--set",
        "env_config.experiment.max_time_episode=2.0",
        "--set",
        f"env_config.carla.log_dir={two_policies['logs']}",
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rows = AGENT_ROW.findall(result.stdout)
    assert sorted(r[4] for r in rows) == ["car_0", "car_1", "car_2", "car_3"], result.stdout
    assert "RLModule mini" in result.stdout and "RLModule sedan" in result.stdout
    assert "4 episodes | mean return" in result.stdout
    assert_no_servers_left(two_policies["logs"])


def test_inference_without_ray_runs_the_shared_policy_on_every_agent(shared):
    code = (
        "import sys, dqn_inference\n"
        f"rc = dqn_inference.main([{str(SHARED)!r}, {str(shared['experiment'])!r},"
        " '--episodes', '4', '--set', 'env_config.experiment.max_time_episode=2.0',"
        f" '--set', 'env_config.carla.log_dir={shared['logs']}'])\n"
        "assert rc == 0, rc\n"
        "print('RAY_IMPORTED', any(m == 'ray' or m.startswith('ray.') for m in sys.modules))\n"
    )
    result = run_python(code, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "RAY_IMPORTED False" in result.stdout
    assert len(AGENT_ROW.findall(result.stdout)) == 4, result.stdout
    assert f"{EXPORT_DIR}/shared on cpu" in result.stdout
    assert_no_servers_left(shared["logs"])


def test_the_learning_benchmark_s_evaluation_runs_on_a_tiny_checkpoint(shared, monkeypatch):
    """benchmarks/multi_agent_learning.py: checkpoints with their training time, the shared
    policy's network evaluated greedily in the single-agent env, the summary line."""

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.syspath_prepend(str(ROOT))
    learning = __import__("multi_agent_learning")

    checkpoints = learning.checkpoints_in_time(shared["experiment"])
    assert [c.iteration for c in checkpoints] == [1, 2], checkpoints
    assert 0 < checkpoints[0].seconds < checkpoints[1].seconds
    assert learning.network_of(checkpoints[-1].path) == checkpoints[-1].path / EXPORT_DIR / "shared"
    overrides = [
        "env_config.experiment.max_time_episode=1.0",
        f"env_config.carla.log_dir={shared['logs']}",
    ]
    evaluated = []

    def evaluate(path):
        stats = learning.greedy_evaluation(learning.network_of(path), 2, overrides)
        evaluated.append((path, stats))
        return stats

    reached = learning.time_to_targets(checkpoints, evaluate, every=2)
    assert [path for path, _ in evaluated] == [checkpoints[1].path]
    stats = evaluated[0][1]
    assert stats["episodes"] == 2
    assert reached == (checkpoints[1] if learning.meets_targets(stats) else None)
    # The summary line, with and without a run that reached the targets.
    one = learning.Checkpoint(checkpoints[0].path, 5, 2472.0, 0)
    four = learning.Checkpoint(checkpoints[0].path, 5, 1110.0, 0)
    assert learning.summary_line({"1 hero": one, "4 heroes": four}, 60) == (
        "time to the greedy targets: 1 hero 41.2 min, 4 heroes 18.5 min (2.23x sooner)"
    )
    assert learning.summary_line({"1 hero": None, "4 heroes": four}, 60) == (
        "time to the greedy targets: 1 hero not reached in 60 min, 4 heroes 18.5 min"
    )
    assert_no_servers_left(shared["logs"])
