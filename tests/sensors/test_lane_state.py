"""`sensor.lane_state` on the embedded server through the real `carla` client: the hero's offset
and heading against its lane, the lane's width, and the distance to the next junction.

Client code runs in a subprocess (the real client can abort on malformed data) and prints the
readings as JSON for the assertions here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rllib_integration.sensors.lane_state import FIELDS, LaneStateSensor
from tests.conftest import client_code, run_client, start_embedded_server

pytest.importorskip("carla")

PRELUDE = """
import json, math
from types import SimpleNamespace
from rllib_integration.sensors.lane_state import LaneStateSensor, reading_as_dict
from rllib_integration.sim_view import SimulatorView

settings = world.get_settings()
settings.synchronous_mode = True
settings.fixed_delta_seconds = 0.05
world.apply_settings(settings)
carla_map = world.get_map()
blueprint = world.get_blueprint_library().find("vehicle.tesla.model3")
blueprint.set_attribute("role_name", "hero")

def place(hero, wp, right=0.0, yaw=0.0):
    r = wp.transform.get_right_vector()
    at = wp.transform.location + carla.Location(x=r.x * right, y=r.y * right, z=0.2)
    hero.set_transform(carla.Transform(at, carla.Rotation(yaw=wp.transform.rotation.yaw + yaw)))
    world.tick()
    return reading_as_dict(sensor.tick(0, world.get_snapshot()))

start = carla_map.get_spawn_points()[0]
hero = world.spawn_actor(blueprint, start)
view = SimulatorView(SimpleNamespace(client=client, world=world, map=carla_map, hero=hero,
                                     frame=0, timestep=0.05))
sensor = LaneStateSensor("lane", {"type": "sensor.lane_state", "horizon": 40.0}, view)
world.tick()
"""


def readings(server, body: str) -> dict:
    result = run_client(client_code(server, PRELUDE + body, timeout=10.0), timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_offset_heading_and_width_against_the_lane(module_embedded_server):
    out = readings(
        module_embedded_server,
        """
wp = carla_map.get_waypoint(start.location)
print(json.dumps({"width": wp.lane_width, "centre": place(hero, wp),
                  "shifted": place(hero, wp, right=1.0, yaw=10.0),
                  "left": place(hero, wp, right=-0.5, yaw=-20.0)}))
""",
    )
    centre, shifted, left = out["centre"], out["shifted"], out["left"]
    assert abs(centre["lateral_offset"]) < 0.05 and abs(centre["heading_error"]) < 0.01
    assert centre["lane_width"] == pytest.approx(out["width"])
    assert shifted["lateral_offset"] == pytest.approx(1.0, abs=0.05)
    assert shifted["heading_error"] == pytest.approx(math.radians(10.0), abs=0.01)
    assert left["lateral_offset"] == pytest.approx(-0.5, abs=0.05)
    assert left["heading_error"] == pytest.approx(math.radians(-20.0), abs=0.01)
    for reading in out.values():
        if isinstance(reading, dict):  # no lights on this map: nothing ahead to report
            assert reading["light_distance"] == 40.0 and reading["light_state"] == 0.0
            assert reading["speed_limit"] > 0.0 and reading["speed"] >= 0.0


def test_the_distance_to_the_next_junction():
    with start_embedded_server(map_name="Grid01") as server:
        out = readings(
            server,
            """
def first_junction(wp):  # metres along the lane to the first junction point, 1 m resolution
    return next((d for d in range(1, 41) if wp.next(float(d))[0].is_junction), None)

approach = next(wp for wp in carla_map.generate_waypoints(2.0)
                if not wp.is_junction and first_junction(wp) in range(15, 26))
inside = next(wp for wp in carla_map.generate_waypoints(2.0) if wp.is_junction)
print(json.dumps({"approach": place(hero, approach), "inside": place(hero, inside),
                  "expected": first_junction(approach)}))
""",
        )
    # Within one look-ahead step (2 m) of where the junction begins.
    assert abs(out["approach"]["junction_distance"] - out["expected"]) <= 2.0, out
    assert out["inside"]["junction_distance"] == 0.0


def test_the_space_matches_the_reading_and_settings_are_checked():
    space = LaneStateSensor.observation_space({"horizon": 30.0})
    assert space.shape == (len(FIELDS),) and space.dtype == np.float32
    assert space.high[FIELDS.index("junction_distance")] == 30.0
    for bad, message in (
        ({"horizon": 0}, "horizon must be a number > 0"),
        ({"horizon": 10, "step": 20}, "step must not exceed horizon"),
        ({"horizn": 10}, "sensor.lane_state has no attribute 'horizn'"),
    ):
        with pytest.raises(ValueError, match=message):
            LaneStateSensor.settings(bad)


def test_the_next_traffic_light_and_its_state_on_grid01():
    with start_embedded_server(map_name="Grid01") as server:
        out = readings(
            server,
            """
light = sorted(world.get_actors().filter("traffic.traffic_light*"), key=lambda a: a.id)[0]
stop = light.get_stop_waypoints()[0]  # the lane it governs, just before the junction
approach = stop.previous(20.0)[0]
ahead = [lm for lm in approach.get_landmarks(40.0, False) if lm.id == light.get_opendrive_id()]
world.freeze_all_traffic_lights(True)
states = {}
for state in ("Red", "Yellow", "Green"):
    light.set_state(getattr(carla.TrafficLightState, state))
    states[state] = place(hero, approach)
world.freeze_all_traffic_lights(False)
print(json.dumps({"states": states, "expected": min(lm.distance for lm in ahead)}))
""",
        )
    for state, value in (("Red", 3.0), ("Yellow", 2.0), ("Green", 1.0)):
        reading = out["states"][state]
        assert reading["light_state"] == value, out
        assert reading["light_distance"] == pytest.approx(out["expected"], abs=1e-3)
        assert 20.0 < reading["light_distance"] < 26.0  # just past the stop line, on the junction
