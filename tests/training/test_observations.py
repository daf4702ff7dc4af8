"""Observations adapted for RLlib's default networks: Dict/Tuple flattened, images scaled."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from rllib_integration.training.observations import (
    AdaptObservations,
    adapted_space,
    make_training_env,
)


class SpaceEnv(gym.Env):
    """Returns one fixed observation of a given space."""

    def __init__(self, config, space=None, value=None):
        self.observation_space = space
        self.action_space = spaces.Discrete(2)
        self.value = value
        self.config = config

    def reset(self, *, seed=None, options=None):
        return self.value, {}

    def step(self, action):
        return self.value, 0.0, False, False, {}


def test_a_dict_with_an_image_becomes_one_float32_vector():
    space = spaces.Dict(
        {
            "camera": spaces.Box(0, 255, (2, 2, 3), np.uint8),
            "speed": spaces.Box(0.0, 50.0, (1,), np.float64),
            "gear": spaces.Discrete(3),
        }
    )
    value = {
        "camera": np.full((2, 2, 3), 255, np.uint8),
        "speed": np.array([12.5]),
        "gear": 2,
    }
    env = AdaptObservations(SpaceEnv({}, space, value))
    observation, _ = env.reset()
    assert env.observation_space == spaces.Box(
        env.observation_space.low, env.observation_space.high, (12 + 1 + 3,), np.float32
    )
    assert observation.dtype == np.float32 and env.observation_space.contains(observation)
    # Keys in sorted order (gymnasium's Dict): camera (scaled to 1.0), gear one-hot, speed.
    assert observation.tolist() == [1.0] * 12 + [0.0, 0.0, 1.0] + [12.5]


def test_a_tuple_and_a_plain_uint8_image_are_adapted_too():
    image = spaces.Box(0, 255, (4, 4, 1), np.uint8)
    env = AdaptObservations(SpaceEnv({}, image, np.full((4, 4, 1), 51, np.uint8)))
    observation, _ = env.reset()
    assert env.observation_space == spaces.Box(0.0, 1.0, (4, 4, 1), np.float32)
    assert np.allclose(observation, 0.2) and observation.dtype == np.float32
    pair = spaces.Tuple([spaces.Box(-1.0, 1.0, (2,), np.float32), spaces.Discrete(2)])
    assert adapted_space(pair).shape == (4,)


@pytest.mark.parametrize(
    "space",
    [spaces.Box(-1.0, 1.0, (3,), np.float32), spaces.Box(0, 255, (8, 8, 3), np.float32)],
)
def test_float32_boxes_are_left_alone(space):
    assert adapted_space(space) is None
    env = make_training_env({"k": 1}, SpaceEnv, adapt=True, space=space, value=space.sample())
    assert isinstance(env, SpaceEnv) and env.config == {"k": 1}


def test_no_adapting_for_an_own_module():
    space = spaces.Dict({"a": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    env = make_training_env({}, SpaceEnv, adapt=False, space=space, value=space.sample())
    assert env.observation_space is space
