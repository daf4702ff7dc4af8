"""The multi-agent env as a PettingZoo ParallelEnv, and both envs through gymnasium.make."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import rllib_integration
from rllib_integration.carla_env import CarlaEnv
from rllib_integration.multi_agent_env import MultiAgentCarlaEnv
from rllib_integration.pettingzoo_env import CarlaParallelEnv
from rllib_integration.supervisor.process import child_environment
from tests.integration.scenarios import env_config, multi_agent_config

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def staggered_config() -> dict:
    """Three agents whose episodes end at different steps (2, 5 and the max_steps of 8)."""
    config = multi_agent_config(3, max_steps=8, hero={"sensors": {}})
    config["experiment"]["agents"] = {"a": {"end_at_step": 2}, "b": {"end_at_step": 5}, "c": {}}
    return config


def test_pettingzoo_parallel_api_test_passes_without_warnings():
    env = CarlaParallelEnv(staggered_config())
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parallel_api_test(env, num_cycles=20)
        messages = [str(w.message) for w in caught if "pettingzoo" in w.filename]
        assert messages == []
        # The agents leave one by one, and the episode is over with the last.
        observations, _ = env.reset(seed=0)
        assert env.agents == ["a", "b", "c"] and set(observations) == {"a", "b", "c"}
        left = []
        while env.agents:
            _, _, terminations, truncations, _ = env.step(dict.fromkeys(env.agents, 1))
            assert "__all__" not in terminations and "__all__" not in truncations
            left.append(list(env.agents))
        assert left == [["a", "b", "c"], ["b", "c"], *[["b", "c"]] * 2, ["c"], ["c"], ["c"], []]
        assert env.observation_space("a") is env.observation_space("a")
    finally:
        env.close()


def test_gymnasium_make_builds_the_single_agent_env_which_passes_check_env():
    env = gymnasium.make("rllib_integration/CarlaEnv-v0", config=env_config(max_steps=20))
    try:
        assert isinstance(env.unwrapped, CarlaEnv)
        check_env(env.unwrapped, skip_render_check=True)
        observation, _ = env.reset(seed=0)
        assert env.observation_space.contains(observation)
        assert len(env.step(env.action_space.sample())) == 5
    finally:
        env.close()


def test_gymnasium_make_builds_the_multi_agent_env():
    env = gymnasium.make(
        "rllib_integration/MultiAgentCarlaEnv-v0", config=multi_agent_config(2, max_steps=20)
    )
    try:
        assert isinstance(env.unwrapped, MultiAgentCarlaEnv)
        observations, _ = env.reset(seed=0)
        assert set(observations) == {"car_0", "car_1"}
        *_, truncateds, _ = env.step({"car_0": 1, "car_1": 1})
        assert truncateds == {"car_0": False, "car_1": False, "__all__": False}
    finally:
        env.close()


@pytest.mark.parametrize("skip", [False, True])
def test_the_library_s_children_skip_the_gymnasium_registration(skip):
    """The server and traffic processes never make an env, so they do not import gymnasium."""
    environment = child_environment()
    if not skip:
        environment.pop(rllib_integration.SKIP_REGISTRATION)
    code = "import sys, rllib_integration; print('gymnasium' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.stdout.strip() == str(not skip), result.stderr
