"""What the space checks say: the key, index, dtype, shape or range that is off, in one line."""

from __future__ import annotations

import math

import carla
import numpy as np
import pytest
from gymnasium import spaces

from rllib_integration.space_checks import (
    action_problem,
    control_problem,
    non_finite_problem,
    observation_problem,
)

BOX = spaces.Box(-10.0, 10.0, shape=(3,), dtype=np.float32)
DICT = spaces.Dict({"imu": BOX, "gear": spaces.Discrete(3)})


@pytest.mark.parametrize(
    ("space", "value", "problem"),
    [
        (BOX, np.array([0, 1000.5, 0], np.float32), "observation[1] = 1000.5 is above the space's high 10"),
        (BOX, np.array([-11, 0, 0], np.float32), "observation[0] = -11 is below the space's low -10"),
        (BOX, np.zeros(3), "observation has dtype float64; Box(-10.0, 10.0, (3,), float32) wants float32"),
        (BOX, np.zeros((3, 1), np.float32), "observation has shape (3, 1);"),
        (BOX, [0.0, 0.0, 0.0], "observation is a list; Box(-10.0, 10.0, (3,), float32) wants a numpy array"),
        (BOX, np.array([0, np.nan, 0], np.float32), "observation[1] is nan, not a finite number"),
        (DICT, {"imu": np.zeros(3, np.float32)}, "observation has no key 'gear'"),
        (DICT, {"imu": np.zeros(3, np.float32), "gear": 1, "gps": 0}, "observation has key 'gps', which its space does not declare"),
        (DICT, {"imu": np.zeros(3, np.float32), "gear": 3}, "observation['gear'] = 3 is outside Discrete(3) (0..2)"),
        (DICT, {"imu": np.zeros(3, np.float32), "gear": 1.0}, "observation['gear'] = 1.0 (a float) is not an integer"),
        (DICT, {"imu": np.full(3, 20, np.float32), "gear": 0}, "observation['imu'][0] = 20 is above"),
        (spaces.Tuple([BOX]), (np.zeros(3, np.float32), 1), "observation has 2 items;"),
    ],
)  # fmt: skip
def test_observation_problems_name_what_is_off(space, value, problem):
    found = observation_problem(space, value, "observation")
    assert found is not None and found.startswith(problem), found


@pytest.mark.parametrize(
    "value",
    [np.zeros(3, np.float32), np.full(3, 10, np.float32)],
)
def test_valid_observations_pass(value):
    assert observation_problem(BOX, value, "observation") is None
    assert observation_problem(DICT, {"imu": value, "gear": np.int64(2)}, "observation") is None


def test_actions_are_taken_as_array_likes_but_must_be_finite_and_in_range():
    assert action_problem(BOX, [0.5, -1.0, 10.0], "action") is None  # a list, float64: fine
    assert action_problem(spaces.Discrete(3), np.array(2), "action") is None  # RLlib's 0-d
    assert action_problem(BOX, [0, 0, 11], "action").startswith("action[2] = 11 is above")
    assert action_problem(BOX, [0, 0], "action").startswith("action has shape (2,)")
    assert (
        non_finite_problem(np.array([np.nan, 0.2]), "action")
        == "action[0] is nan, not a finite number"
    )
    assert non_finite_problem({"pedal": [0.0, math.inf]}, "action") == (
        "action['pedal'][1] is inf, not a finite number"
    )
    assert non_finite_problem(np.array([0.1, 0.2]), "action") is None
    # Scalars: integers (a Discrete action) are finite; a NaN or infinite float is named.
    for finite in (3, np.int64(3), True, 0.5, np.float32(0.5), np.array(2)):
        assert non_finite_problem(finite, "action") is None
    assert non_finite_problem(math.nan, "action") == "action is nan, not a finite number"
    assert non_finite_problem(np.float64(-math.inf), "action") == (
        "action is -inf, not a finite number"
    )


def test_controls_with_nan_are_always_refused_and_ranges_when_checked():
    assert control_problem(carla.VehicleControl(throttle=0.5, steer=-0.2)) is None
    nan = carla.VehicleControl(throttle=float("nan"))
    assert control_problem(nan, checked=False) == "throttle is nan, not a finite number"
    wide = carla.VehicleControl(steer=1.5)
    assert control_problem(wide) == "steer is 1.5, outside [-1, 1]"
    assert control_problem(wide, checked=False) is None
