"""CarlaEnv checks what an experiment returns and what it is given, on the embedded server: in
the first episode every observation and action against the declared spaces, always with
`check_spaces: true`, and NaN or infinite actions or controls always, before the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.space_checks import SpaceError
from tests.integration.scenarios import env_config

EXPERIMENT = "tests.integration.experiments:Misbehaving"
OBSERVATION_ERROR = (
    r"^Misbehaving\.get_observation\(\) returned an observation outside "
    r"get_observation_space\(\): "
)


@pytest.fixture
def make_env():
    envs = []

    def make(**experiment) -> CarlaEnv:
        envs.append(CarlaEnv(env_config(type=EXPERIMENT, max_steps=1000, **experiment)))
        return envs[-1]

    yield make
    for env in envs:
        env.close()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("large", r"observation\['imu'\]\[0\] = 1000 is above the space's high 10"),
        ("float64", r"observation\['imu'\] has dtype float64; Box\(.*\) wants float32"),
        ("missing_key", r"observation has no key 'imu'"),
    ],
)
def test_a_wrong_observation_in_the_first_episode_is_named(make_env, fault, message):
    env = make_env(fault=fault)
    with pytest.raises(SpaceError, match=OBSERVATION_ERROR + message):
        env.reset(seed=1)


def test_a_nan_action_never_reaches_the_simulator_in_any_episode(make_env):
    env = make_env()
    env.reset(seed=1)
    env.step(np.array([0.5, 0.0], np.float32))
    for episode in (1, 2):  # checked, then unchecked: NaN is refused in both
        assert env.checking == (episode == 1)
        frame = env.core.frame
        with pytest.raises(SpaceError, match=r"action\[1\] is nan, not a finite number"):
            env.step(np.array([0.5, np.nan], np.float32))
        assert env.core.frame == frame  # no tick happened
        env.reset(seed=2)


def test_a_nan_control_from_compute_action_is_refused(make_env):
    env = make_env(fault="nan_control")
    env.reset(seed=1)
    frame = env.core.frame
    with pytest.raises(SpaceError, match=r"compute_action\(.*\) returned a control whose "
                       "throttle is nan"):  # fmt: skip
        env.step(np.array([0.5, 0.0], np.float32))
    assert env.core.frame == frame


@pytest.mark.parametrize("check_spaces", [False, True])
def test_later_episodes_are_checked_only_with_check_spaces(make_env, check_spaces):
    env = make_env(check_spaces=check_spaces)
    env.reset(seed=1)
    with pytest.raises(SpaceError, match=r"action\[0\] = 2 is above the space's high 1"):
        env.step([2.0, 0.0])  # finite, but outside Box(-1, 1)
    env.reset(seed=2)
    env.experiment.config["fault"] = "large"
    if not check_spaces:
        env.reset(seed=3)  # the third episode: unchecked
        env.step([2.0, 0.0])
        return
    with pytest.raises(SpaceError, match=OBSERVATION_ERROR):
        env.reset(seed=3)
    env.experiment.config["fault"] = "none"
    env.reset(seed=4)
    with pytest.raises(SpaceError, match=r"action\[0\] = 2 is above"):
        env.step([2.0, 0.0])
