"""Client-side code for the route tests: plan on the server's map, drive a hero along a route."""

from __future__ import annotations

import textwrap

from tests.conftest import EmbeddedServerHandle
from tests.embedded.helpers import run_on_server

# After tests.embedded.helpers.SYNC_PRELUDE (sync mode at 20 Hz, `library`, `carla_map`, `result`).
ROUTES_PRELUDE = """
import numpy as np
from rllib_integration.routes import (
    Route, RoadOption, RoutePlanner, RouteTracker, TrackerSettings, read_routes,
)
planner = RoutePlanner(carla_map)
L = carla.Location
actors = []

def lane_fit(route):
    # How well the route follows the lanes: the farthest point from its lane's centre, the
    # largest heading difference to that lane, and the largest gap between points.
    gap, turn = 0.0, 0.0
    for (x, y, z), yaw in zip(route.positions, route.yaws):
        lane = carla_map.get_waypoint(L(x, y, z), project_to_road=True)
        here = lane.transform.location
        gap = max(gap, math.hypot(here.x - x, here.y - y))
        diff = (lane.transform.rotation.yaw - yaw + 180.0) % 360.0 - 180.0
        turn = max(turn, abs(diff)) if not lane.is_junction else turn
    step = float(np.max(np.linalg.norm(np.diff(route.positions, axis=0), axis=1)))
    return {"lane_gap": gap, "lane_turn": turn, "max_step": step}

def spawn_hero(route, index=0):
    x, y, z = route.positions[index]
    where = carla.Transform(L(x, y, z + 0.3), carla.Rotation(yaw=float(route.yaws[index])))
    hero = world.spawn_actor(library.find("vehicle.lincoln.mkz_2017"), where)
    actors.append(hero)
    events = []
    sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
    actors.append(sensor)
    sensor.listen(events.append)
    world.tick()
    return hero, events

def follow(hero, route, index, speed, left=0.0):
    # Pure pursuit on the route (shifted `left` metres to its left), ~5 m ahead of the route
    # point `index`, at `speed` m/s.
    tf = hero.get_transform()
    v = hero.get_velocity().length()
    ahead = route.cumulative[index] + max(5.0, 0.8 * v)
    j = min(int(np.searchsorted(route.cumulative, ahead)), len(route) - 1)
    (fx, fy), (px, py) = route.forward[j], route.positions[j][:2]
    px, py = px + left * fy, py - left * fx  # CARLA's y points right of the heading
    dx, dy = px - tf.location.x, py - tf.location.y
    alpha = math.atan2(dy, dx) - math.radians(tf.rotation.yaw)
    alpha = math.atan2(math.sin(alpha), math.cos(alpha))
    wheelbase = 1.2 * hero.bounding_box.extent.x
    steer = math.atan2(2.0 * wheelbase * math.sin(alpha), math.hypot(dx, dy)) / math.radians(63.0)
    throttle = min(1.0, max(0.0, 0.5 * (speed - v)))
    return carla.VehicleControl(throttle=throttle, steer=max(-1.0, min(1.0, steer)))

def hold_lights(state):
    # Every traffic light (Grid01 has them at every junction) held at `state` until cleanup.
    world.freeze_all_traffic_lights(True)
    for light in world.get_actors().filter("traffic.traffic_light*"):
        light.set_state(state)

def nearest_index(route, actor):
    where = actor.get_location()
    return int(np.argmin(np.hypot(*(route.positions[:, :2] - (where.x, where.y)).T)))

def run(tracker, hero, events, control, max_ticks=6000):
    # Tick until the route ends; `control(tick)` gives the hero's control (None: none applied).
    ticks = 0
    while not tracker.done and ticks < max_ticks:
        c = control(ticks)
        if c is not None:
            hero.apply_control(c)
        world.tick()
        ticks += 1
        batch, events[:] = list(events), []
        tracker.update(batch)
    return ticks

def cleanup():
    for actor in reversed(actors):
        if actor.type_id.startswith("sensor"):
            actor.stop()
        actor.destroy()
    actors.clear()
    world.freeze_all_traffic_lights(False)
    world.reset_all_traffic_lights()
    settings.synchronous_mode = False
    world.apply_settings(settings)
"""


def run_routes(
    server: EmbeddedServerHandle, body: str, values: dict | None = None, timeout: float = 120.0
) -> dict:
    """Run ``body`` after the prelude (and ``cleanup()`` after it), with ``values`` as global
    names (Python literals); return what it passed to ``result(...)``."""
    names = "".join(f"{name} = {value!r}\n" for name, value in (values or {}).items())
    code = ROUTES_PRELUDE + names + "try:\n" + _indent(body) + "\nfinally:\n    cleanup()\n"
    values, _ = run_on_server(server, code, timeout=timeout)
    return values


def _indent(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), "    ")
