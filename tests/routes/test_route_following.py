"""The route-following example (examples/routes/) on the embedded server: every reset drives a
drawn route, the bird's-eye view shows the route ahead, `sensor.route_state` says where the hero
is on it and what comes next, and the reward pays route progress with the YAML's weights."""

from __future__ import annotations

import sys

import carla
import numpy as np
import pytest

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import ConfigError
from rllib_integration.routes import RoadOption, RoutePlanner, read_routes, resolve_route_file
from rllib_integration.sensors.route_state import FIELDS
from rllib_integration.training.training_file import (
    apply_overrides,
    load_training_file,
    resolved_env_config,
)
from tests.dqn.helpers import ROOT

EXAMPLE = ROOT / "examples" / "routes"
CONFIG = EXAMPLE / "dqn_config.yaml"
# No traffic: what the hero sees and earns is its own doing.
QUIET = (
    "env_config.carla.server=embedded",
    "env_config.experiment.background_activity.n_vehicles=0",
    "env_config.experiment.background_activity.n_walkers=0",
)
# The DQN example's action table: throttle 1.0, no steering.
FULL_THROTTLE = 22
STRAIGHT = (carla.Location(-120.0, -148.25), carla.Location(30.0, -148.25))


@pytest.fixture(autouse=True)
def example_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("route_following", None)


def route_env(*overrides: str) -> CarlaEnv:
    tf = load_training_file(CONFIG)
    apply_overrides(tf, [*QUIET, *overrides])
    return CarlaEnv(resolved_env_config(tf))


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        made = route_env()
        try:
            yield made
        finally:
            made.close()


def test_the_shipped_config_trains_in_traffic_with_every_weight_a_key():
    section = load_training_file(CONFIG).raw["env_config"]["experiment"]
    assert section["background_activity"]["n_vehicles"] >= 10
    from route_following import RouteFollowing

    assert set(section["reward"]) == set(RouteFollowing.DEFAULT_CONFIG["reward"])


def test_every_reset_drives_a_drawn_route_shown_ahead_of_the_hero(env):
    lengths = []
    for seed in range(3):
        observation, info = env.reset(seed=seed)
        assert env.observation_space.contains(observation)
        route = info["route"]
        assert route["route_id"] == "random" and route["completion"] == 0.0
        lengths.append(route["route_length"])
        # The route layer of the newest frame: a line from under the hero forward.
        layers = env.experiment.config["hero"]["sensors"]["birdview"]["layers"]
        channels = observation["birdview"].shape[-1] // 2
        route_layer = observation["birdview"][..., channels + layers.index("route")]
        assert route_layer.sum() > 20
        state = dict(zip(FIELDS, env.experiment.route_state, strict=True))
        assert abs(state["lateral_offset"]) < 0.5 and abs(state["heading_error"]) < 0.1
        assert state["target_x"] == pytest.approx(8.0, abs=1.0)  # lookahead, straight ahead
    assert all(150.0 <= length <= 600.0 + 20.0 for length in lengths), lengths
    assert len(set(lengths)) == 3


def test_driving_the_route_pays_its_metres_and_the_yaml_weights_them(env):
    planner = RoutePlanner(env.core.map)
    route = planner.route(list(STRAIGHT))
    returns = {}
    for weight in (1.0, 2.0):
        env.experiment.config["reward"]["progress"] = weight
        env.reset(options={"route": route})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(FULL_THROTTLE)
            total += reward
            done = terminated or truncated
        assert info["end_reason"] in ("completed", "red_light"), info["route"]
        returns[weight] = (total, info)
    env.experiment.config["reward"]["progress"] = 1.0
    for weight, (total, info) in returns.items():
        terms = info["reward_terms"]
        assert total == pytest.approx(sum(terms.values()))
        # Metres credited on the route, each worth the weight (scaled by the penalty so far).
        credited = info["route"]["passed_m"] - info["route"]["outside_lanes_m"]
        assert terms["progress"] == pytest.approx(weight * credited, rel=0.05)


def test_a_route_file_source_draws_its_routes(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    made = route_env("env_config.experiment.routes.source=grid01_train")
    try:
        ids = {spec.route_id for spec in read_routes(resolve_route_file("grid01_train"))}
        drawn = {made.reset(seed=seed)[1]["route"]["route_id"] for seed in range(2)}
        assert drawn <= ids
    finally:
        made.close()


def test_a_missing_route_file_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"experiment\.routes\.source: .*no_such_routes"):
        route_env("env_config.experiment.routes.source=no_such_routes.xml")


def test_the_route_state_points_to_the_next_turn(env):
    planner = RoutePlanner(env.core.map)
    route = planner.route(
        [carla.Location(-100.0, -148.25), carla.Location(-51.75, 0.0), carla.Location(-20, 51.75)]
    )
    assert route.decisions()[0] == RoadOption.RIGHT
    turn = int(np.flatnonzero(np.array(route.options) == RoadOption.RIGHT)[0])
    env.reset(options={"route": route})
    state = dict(zip(FIELDS, env.experiment.route_state, strict=True))
    ahead = route.cumulative[turn]
    assert state["right"] == 1.0
    assert state["left"] == state["straight"] == 0.0
    assert state["decision_distance"] == pytest.approx(ahead, abs=1.5)
    assert np.isclose(state["remaining"], 50.0)
