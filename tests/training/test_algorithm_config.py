"""Each algorithm of the current stack gets its config and a network for the example's spaces
(built here, without Ray), with RLlib's default network adapted to a Dict observation."""

from __future__ import annotations

import sys

import pytest
from gymnasium import spaces

from rllib_integration.config import ConfigError
from rllib_integration.training.algorithm_config import build_algorithm_config, check_spaces
from rllib_integration.training.observations import make_training_env
from rllib_integration.training.training_file import (
    apply_overrides,
    env_class,
    load_training_file,
    resolved_env_config,
)
from tests.dqn.helpers import ROOT

EXAMPLE = ROOT / "examples" / "lane_keeping"


@pytest.fixture(autouse=True)
def example_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("lane_keeping", None)


def example(*overrides: str):
    tf = load_training_file(EXAMPLE / "ppo_config.yaml")
    apply_overrides(tf, list(overrides))
    return tf


@pytest.mark.parametrize("name", ["PPO", "APPO", "IMPALA", "SAC"])
def test_every_algorithm_for_continuous_actions_builds_its_network(name):
    tf = example(f"algorithm={name}", "training={}", "rl_module.model_config={}")
    config = build_algorithm_config(tf)
    assert config.algo_class.__name__ == name
    env = make_training_env(resolved_env_config(tf), env_class(tf), adapt=True)
    try:  # the env is not reset: no simulator starts
        assert env.observation_space.shape == (15,)  # lane (8) + imu (7), flattened
        experiment = env.unwrapped
        check_spaces(tf, config, experiment.observation_space, experiment.action_space, "x")
    finally:
        env.close()


def test_a_network_rllib_cannot_build_is_a_config_error():
    tf = example()
    config = build_algorithm_config(tf)
    flat_image = spaces.Box(0.0, 1.0, (8, 8), "float32")  # 2-D: no default encoder
    with pytest.raises(ConfigError, match=r"rl_module: no network for observations Box\("):
        check_spaces(tf, config, flat_image, spaces.Box(-1.0, 1.0, (2,), "float32"), "x")
