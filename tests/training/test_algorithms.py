"""Which algorithm acts in which action space: one line naming both, before Ray starts."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from rllib_integration.config import ConfigError
from rllib_integration.defaults import Where
from rllib_integration.training.algorithms import algorithm, check_action_space

WHERE = Where("train.yaml", "algorithm", {"algorithm": 3})
BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)


@pytest.mark.parametrize(
    ("name", "space", "fits"),
    [
        ("PPO", BOX, True),
        ("ppo", spaces.Discrete(3), True),
        ("APPO", spaces.MultiDiscrete([3, 2]), True),
        ("IMPALA", spaces.Dict({"pedal": BOX, "gear": spaces.Discrete(2)}), True),
        ("SAC", BOX, True),
        ("SAC", spaces.Discrete(4), True),
        ("SAC", spaces.MultiDiscrete([3, 2]), False),
        ("DQN", spaces.Discrete(29), True),
        ("DQN", BOX, False),
        ("PPO", spaces.Box(-1.0, 1.0, (2, 2), np.float32), False),
        ("PPO", spaces.Box(0, 3, (2,), np.int64), False),
    ],
)
def test_action_space_fits_the_algorithm(name, space, fits):
    algo = algorithm(name, WHERE)
    if fits:
        check_action_space(algo, space, "Mine.get_action_space()", WHERE)
        return
    with pytest.raises(ConfigError) as raised:
        check_action_space(algo, space, "Mine.get_action_space()", WHERE)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"train.yaml:3: algorithm: {algo.name} needs ")
    assert f"but Mine.get_action_space() returns {space}" in message


def test_the_message_names_the_algorithms_that_can():
    with pytest.raises(ConfigError, match=r"returns Box\(.*\); PPO, APPO, IMPALA, SAC can$"):
        check_action_space(algorithm("DQN", WHERE), BOX, "Mine.get_action_space()", WHERE)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "algorithm: missing; name the RLlib algorithm, one of PPO, APPO, IMPALA, DQN, SAC"),
        ("PPOO", "unknown algorithm 'PPOO'; did you mean 'PPO'?"),
        ("MARWIL", "MARWIL learns offline from recorded data, not from an env"),
        (3, "unknown algorithm 3"),
    ],
)
def test_bad_algorithm_names(name, message):
    with pytest.raises(ConfigError, match=message):
        algorithm(name, WHERE)
