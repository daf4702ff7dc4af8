"""Route episodes of CarlaEnv on the embedded server: the hero starts on the route, every step's
info["route"] scores the drive, the episode ends with the route, and the Traffic Manager can drive
the route (autopilot)."""

from __future__ import annotations

import carla
import numpy as np
import pytest

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.routes import RoutePlanner, read_routes, resolve_route_file
from tests.integration.scenarios import env_config


@pytest.fixture
def grid_env():
    envs: list[CarlaEnv] = []

    def make(**experiment) -> CarlaEnv:
        env = CarlaEnv(env_config(town="Grid01", max_steps=100000, **experiment))
        envs.append(env)
        env.reset(seed=0)
        return env

    yield make
    for env in envs:
        env.close()


def _run(env: CarlaEnv, action: int) -> tuple[int, bool, bool, dict]:
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            return steps, terminated, truncated, info


def test_a_route_episode_starts_on_the_route_and_ends_with_it(grid_env):
    env = grid_env()
    planner = RoutePlanner(env.core.map)
    # 150 m east along the south street: full throttle, no steering, stays on it.
    route = planner.route([carla.Location(-120.0, -148.25), carla.Location(30.0, -148.25)])
    _, info = env.reset(options={"route": route})
    start = env.core.hero.get_location()
    assert start.distance(carla.Location(*route.positions[0])) < 0.6
    assert "route_collision" in env.core.collector.sensors  # added: collisions are scored
    assert info["route"]["completion"] == 0.0 and info["route"]["end_reason"] is None
    steps, terminated, truncated, info = _run(env, action=2)
    assert terminated and not truncated
    assert info["route"]["end_reason"] == "completed"
    assert info["route"]["completion"] == pytest.approx(1.0)
    # Nothing but, where the server has traffic lights, a red one at the junction it crosses.
    infractions = info["route"]["infractions"]
    red_lights = infractions["red_light"]
    assert sum(infractions.values()) == red_lights <= 1
    assert info["route"]["driving_score"] == pytest.approx(0.7**red_lights)
    # The next episode without a route is an ordinary one again.
    _, info = env.reset()
    assert "route" not in info and "route_collision" not in env.core.collector.sensors


def test_the_route_settings_come_from_the_experiment_config(grid_env):
    env = grid_env(route={"blocked_time": 2.0})
    route = RoutePlanner(env.core.map).random_route(300.0, np.random.default_rng(1))
    env.reset(options={"route": route})
    steps, terminated, _, info = _run(env, action=0)  # no throttle: standing still
    assert terminated and info["route"]["end_reason"] == "blocked"
    assert info["route"]["duration"] == pytest.approx(2.05, abs=0.06)
    assert steps == pytest.approx(41, abs=1)


def test_the_traffic_manager_drives_the_hero_along_the_routes(grid_env):
    env = grid_env()
    planner = RoutePlanner(env.core.map)
    specs = read_routes(resolve_route_file("grid01_heldout"))[:2]
    for spec in specs:
        route = planner.plan(spec)
        assert {"LEFT", "RIGHT"} & {d.name for d in route.decisions()}
        env.reset(options={"route": route, "autopilot": True})
        _, terminated, _, info = _run(env, action=0)  # the action is ignored
        assert terminated and info["route"]["end_reason"] == "completed", info["route"]
        assert info["route"]["driving_score"] == pytest.approx(1.0)
    # The hero on autopilot is released before it is destroyed: resets and close go on cleanly.
    env.reset()
    assert env.step(2)[4]["env"]["speed"] >= 0.0


def test_bad_route_options_are_clear_errors(grid_env):
    env = grid_env()
    with pytest.raises(ValueError, match="route must be a routes.Route"):
        env.reset(options={"route": [(0.0, 0.0)]})
    with pytest.raises(ValueError, match="autopilot drives along a route"):
        env.reset(options={"autopilot": True})
