"""Traffic lights and signs through the real carla client: actors, groups, cycles, every light
RPC, landmarks, and vehicles (the client's Traffic Manager and an agent-like controller) that
stop at red and go at green."""

from __future__ import annotations

import pytest

from rllib_integration.embedded.signals.layout import build_layout
from tests.conftest import ROOT, free_port_block, start_embedded_server
from tests.embedded.helpers import (
    assert_no_unknown_rpc,
    run_on_server,
    run_tm_script,
)

CARLA_2020 = ROOT.parent / "shared" / "maps" / "carla-2020"


@pytest.fixture(scope="module")
def grid_server():
    with start_embedded_server(map_name="Grid01") as server:
        yield server


def test_grid01_lights_groups_boxes_and_landmarks(grid_server):
    body = """
lights = list(world.get_actors().filter("traffic.traffic_light*"))
carla_map = world.get_map()
checks = []
for tl in lights:
    tf, tv = tl.get_transform(), tl.trigger_volume
    stop = tl.get_stop_waypoints()
    centre_wp = carla_map.get_waypoint(tf.transform(tv.location))
    group = tl.get_group_traffic_lights()
    junction = stop[0].next(5.0)[0].junction_id
    checks.append(dict(
        id=tl.id, opendrive=tl.get_opendrive_id(), attributes=dict(tl.attributes),
        tags=list(tl.semantic_tags), box_is_volume=tl.bounding_box.extent == tv.extent,
        stop=[(w.road_id, w.lane_id, w.is_junction) for w in stop],
        centre=(centre_wp.road_id, centre_wp.lane_id),
        enters_junction=all(w.is_junction for w in stop[0].next(4.6)),
        affected=[w.is_junction for w in tl.get_affected_lane_waypoints()],
        group=[g.id for g in group],
        in_junction=sorted(g.id for g in world.get_traffic_lights_in_junction(junction)),
        pole=tl.get_pole_index()))
landmarks = carla_map.get_all_landmarks()
by_landmark = {lm.id: world.get_traffic_light(lm).id for lm in landmarks}
wp = carla_map.get_waypoint(lights[0].get_stop_waypoints()[0].transform.location)
ahead = wp.previous(30.0)[0].get_landmarks(40.0)
result(checks=checks, landmarks=len(landmarks), types=sorted({lm.type for lm in landmarks}),
       by_landmark=by_landmark, ahead=[lm.id for lm in ahead],
       first=lights[0].get_opendrive_id(), signs=len(world.get_actors().filter("traffic.*")))
"""
    r, _ = run_on_server(grid_server, body, sync=False)
    checks = r["checks"]
    assert len(checks) == 40 == r["signs"]
    assert len({c["opendrive"] for c in checks}) == 40
    for c in checks:
        assert c["attributes"] == {} and c["tags"] == [7] and c["box_is_volume"] and c["pole"] == 0
        # the stop line is on the lane entering the junction, 1.5-4.5 m before it
        assert c["stop"] and all(not in_junction for _, _, in_junction in c["stop"])
        assert c["centre"] == c["stop"][0][:2] and c["enters_junction"]
        assert c["affected"] and all(c["affected"])  # the references sit on junction roads
        assert c["id"] in c["group"] and len(c["group"]) in (3, 4)
        assert sorted(c["group"]) == c["in_junction"]
    assert r["landmarks"] == 96 and r["types"] == ["1000001"]
    ids = {c["opendrive"]: c["id"] for c in checks}
    assert r["by_landmark"] == {k: ids[k] for k in r["by_landmark"]}
    assert r["first"] in r["ahead"]  # the client finds the light along the lane
    assert_no_unknown_rpc(grid_server)


CYCLE = """
settings.fixed_delta_seconds = 0.05
world.apply_settings(settings)
world.reset_all_traffic_lights()
world.tick()  # frame 1 after the reset (frame 0)
tl = next(t for t in world.get_actors().filter("traffic.traffic_light*") if t.state.name == "Green")
group = tl.get_group_traffic_lights()
mine = [g for g in group if g.state == tl.state]
others = [g for g in group if g.state != tl.state]
history = []
for k in range(700):
    history.append((tl.state.name, others[0].state.name, round(tl.get_elapsed_time(), 3)))
    world.tick()
result(history=history, mine=len(mine), others=len(others), start=tl.state.name,
       times=[tl.get_green_time(), tl.get_yellow_time(), tl.get_red_time()])
"""


def runs(states: list[str]) -> list[tuple[str, int]]:
    out: list[list] = []
    for s in states:
        if out and out[-1][0] == s:
            out[-1][1] += 1
        else:
            out.append([s, 1])
    return [tuple(r) for r in out]


def test_group_cycles_with_carla_default_times(grid_server):
    r, _ = run_on_server(grid_server, CYCLE)
    assert r["times"] == [10.0, 3.0, 2.0] and r["start"] == "Green"
    mine = runs([h[0] for h in r["history"]])
    other = runs([h[1] for h in r["history"]])
    # at 20 Hz: green 200 frames (from the reset's), yellow 61, red 41 (float32 time, strict
    # comparison); the two phases take turns
    assert mine[:4] == [("Green", 199), ("Yellow", 61), ("Red", 41 + 302), ("Green", 97)]
    assert other[:3] == [("Red", 301), ("Green", 200), ("Yellow", 61)]
    assert r["mine"] == 2 and r["others"] in (1, 2)
    elapsed = [h[2] for h in r["history"]]
    assert elapsed[0] == 0.05 and elapsed[99] == pytest.approx(5.0, abs=1e-3)
    assert elapsed[301] == 0.0  # its phase waits, with no time


LIGHT_RPCS = """
world.reset_all_traffic_lights()
world.tick()
tl = next(t for t in world.get_actors().filter("traffic.traffic_light*") if t.state.name == "Green")
group = tl.get_group_traffic_lights()
mates = [g for g in group if g.state == tl.state and g.id != tl.id]  # its phase
other = [g for g in group if g.state != tl.state][0]
out = dict()
tl.set_state(carla.TrafficLightState.Yellow); world.tick()
out["set_state"] = tl.state.name
# Command 21 SetTrafficLightState is C++-only (not in the Python API): send the batch raw
from tests.embedded.helpers import raw_rpc
reply = raw_rpc({host!r}, {port}, "apply_batch", [[[21, [tl.id, 3]]]], False)
out["batch_reply"] = reply[3]
world.tick()
out["batch_state"] = tl.state.name
tl.set_green_time(12.5); tl.set_yellow_time(4.0); tl.set_red_time(1.5); world.tick()
out["times"] = [tl.get_green_time(), tl.get_yellow_time(), tl.get_red_time()]
out["phase_times"] = [[g.get_green_time() for g in mates], other.get_green_time()]
for _ in range(10): world.tick()
e0 = tl.get_elapsed_time()
tl.freeze(True)  # every group (freeze_all_traffic_lights)
for _ in range(40): world.tick()
out["frozen"] = [tl.is_frozen(), all(g.is_frozen() for g in world.get_actors().filter("traffic.traffic_light*"))]
out["frozen_elapsed"] = [e0, tl.get_elapsed_time()]
world.freeze_all_traffic_lights(False); world.tick()
out["thawed"] = [tl.is_frozen(), tl.get_elapsed_time() > e0]
other.reset_group(); world.tick()
out["reset_group"] = [tl.state.name, other.state.name, tl.get_elapsed_time()]
tl.set_state(carla.TrafficLightState.Red)
world.reset_all_traffic_lights(); world.tick()
out["reset_all"] = [tl.state.name, round(tl.get_elapsed_time(), 3)]
boxes = tl.get_light_boxes()
loc = tl.get_transform().location
out["light_box"] = [len(boxes), boxes[0].location.distance(loc) < 5.0, boxes[0].extent.z > 0]
out["pole"] = tl.get_pole_index()
result(light=tl.id, **out)
"""


def test_every_traffic_light_rpc(grid_server):
    body = LIGHT_RPCS.format(host=grid_server.host, port=grid_server.rpc_port)
    r, _ = run_on_server(grid_server, body)
    assert r["set_state"] == "Yellow" and r["batch_state"] == "Off"
    assert r["batch_reply"] == [[[1, r["light"]]]]  # one Response<actor id>
    assert r["times"] == [12.5, 4.0, 1.5]  # the controller's: shared by its phase
    assert r["phase_times"] == [[12.5], 10.0]
    assert r["frozen"] == [True, True]
    assert r["frozen_elapsed"][1] == r["frozen_elapsed"][0] > 0
    assert r["thawed"] == [False, True]
    # reset_group: phase 0 green from zero, whichever light asked
    assert r["reset_group"] == ["Green", "Red", pytest.approx(0.05)]  # one tick after it
    assert r["reset_all"] == ["Green", 0.05]  # a set_state lasts until the controller changes
    assert r["light_box"] == [1, True, True] and r["pole"] == 0
    assert_no_unknown_rpc(grid_server)


# A vehicle 60 m before a light on its lane; the light held red, then turned green.
APPROACH = """
import math
world.reset_all_traffic_lights()
lights = sorted(world.get_actors().filter("traffic.traffic_light*"), key=lambda t: t.id)
tl = lights[{light}]
stop_wp = tl.get_stop_waypoints()[0]
start = stop_wp.previous(60.0)[0].transform
start.location.z += 0.5
vehicle = world.spawn_actor(library.find("vehicle.audi.a2"), start)

def hold(state):
    world.freeze_all_traffic_lights(True)  # set states hold until unfrozen or reset
    tl.set_state(state)

def to_stop_line():
    loc = vehicle.get_location()
    fwd = stop_wp.transform.get_forward_vector()
    d = stop_wp.transform.location - loc
    return d.x * fwd.x + d.y * fwd.y

def speed():
    v = vehicle.get_velocity()
    return math.hypot(v.x, v.y)
"""

TM_AT_LIGHT = (
    APPROACH
    + """
tm_port = {tm_port}
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(0)
hold(carla.TrafficLightState.Red)  # after the TM starts: it resets every light
world.tick()
vehicle.set_autopilot(True, tm_port)
tm.ignore_lights_percentage(vehicle, 0.0)
red = []
for k in range(500):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
    red.append((speed(), to_stop_line(), vehicle.is_at_traffic_light(),
                vehicle.get_traffic_light_state().name,
                (vehicle.get_traffic_light() or vehicle).id))
start_green = vehicle.get_location()
hold(carla.TrafficLightState.Green)
green = []
for k in range(300):
    world.tick()
    progress[:] = [500 + k + 1, time.monotonic()]
    green.append((speed(), vehicle.is_at_traffic_light()))
moved = vehicle.get_location().distance(start_green)
vehicle.set_autopilot(False, tm_port)
vehicle.destroy()
world.freeze_all_traffic_lights(False)
result(red=red[-100:], first_at_light=next(i for i, r in enumerate(red) if r[2]),
       moved=moved, green=green[:5], light=tl.id)
"""
)


def _tm_at_light(server) -> dict:
    r = run_tm_script(server, TM_AT_LIGHT.format(light=3, tm_port=free_port_block(1)), 240)
    assert_no_unknown_rpc(server)
    return r


def test_traffic_manager_vehicle_stops_at_red_and_goes_at_green():
    with start_embedded_server(map_name="Grid01") as server:
        r = _tm_at_light(server)
    for speed, to_line, at_light, state, light in r["red"]:  # the last 5 s of red
        assert speed < 0.05 and at_light and state == "Red" and light == r["light"]
        assert -2.0 < to_line < 6.0  # at the stop line, not in the junction
    assert r["moved"] > 20.0  # green: it drives on through the junction
    assert r["green"][0][1] and r["green"][0][0] >= 0.0


# The test's own agent-like driver: follows its lane at 6 m/s and stops for a red light, either
# from what the vehicle reports (is_at_traffic_light, get_traffic_light_state) or, as CARLA's
# agents look for lights, from a light whose trigger volume lies on its road within 5 m + speed.
AGENT_AT_LIGHT = (
    APPROACH
    + """
mode = {mode!r}
RED = carla.TrafficLightState.Red
triggers = []
for light in world.get_actors().filter("traffic.traffic_light*"):
    centre = light.get_transform().transform(light.trigger_volume.location)
    triggers.append((light, carla_map.get_waypoint(centre)))

latched = []  # the red light it stopped for: it waits for that one to change

def red_light_ahead():
    if latched and latched[0].state == RED:
        return True
    latched.clear()
    here = vehicle.get_location()
    ego = carla_map.get_waypoint(here)
    forward = vehicle.get_transform().get_forward_vector()
    for light, trigger in triggers:
        d = trigger.transform.location - here
        ahead = d.x * forward.x + d.y * forward.y
        if trigger.road_id == ego.road_id and 0.0 < ahead <= 5.0 + speed() and light.state == RED:
            latched.append(light)
            return True
    return False

def must_stop():
    if mode == "vehicle fields":
        return vehicle.is_at_traffic_light() and vehicle.get_traffic_light_state() == RED
    return red_light_ahead()

def drive():
    tf = vehicle.get_transform()
    target = carla_map.get_waypoint(tf.location).next(6.0)[0].transform.location
    heading = math.degrees(math.atan2(target.y - tf.location.y, target.x - tf.location.x))
    steer = max(-1.0, min(1.0, ((heading - tf.rotation.yaw + 180.0) % 360.0 - 180.0) / 30.0))
    if must_stop():
        return carla.VehicleControl(brake=1.0, steer=steer)
    error = 6.0 - speed()
    return carla.VehicleControl(throttle=max(0.0, min(1.0, 0.3 + 0.5 * error)),
                                brake=max(0.0, min(1.0, -0.5 * error)), steer=steer)

world.reset_all_traffic_lights()
hold(RED)
world.tick()
red = []
for k in range(400):
    vehicle.apply_control(drive())
    world.tick()
    red.append((speed(), to_stop_line(), vehicle.is_at_traffic_light(),
                carla_map.get_waypoint(vehicle.get_location()).is_junction))
start_green = vehicle.get_location()
hold(carla.TrafficLightState.Green)
for k in range(200):
    vehicle.apply_control(drive())
    world.tick()
moved = vehicle.get_location().distance(start_green)
vehicle.destroy()
world.freeze_all_traffic_lights(False)
result(red=red[-100:], moved=moved)
"""
)


@pytest.mark.parametrize("mode", ["vehicle fields", "trigger volumes"])
def test_agent_like_driver_stops_at_red_and_goes_at_green(grid_server, mode):
    r, _ = run_on_server(grid_server, AGENT_AT_LIGHT.format(light=7, mode=mode), timeout=120)
    for speed, to_line, at_light, in_junction in r["red"]:  # the last 5 s of red
        assert speed < 0.05 and not in_junction
        if mode == "vehicle fields":  # it stopped inside the light's box
            assert at_light and -2.0 < to_line < 6.0
        else:  # 5 m + its speed before the box centre, 1.5 m past the stop line
            assert not at_light and 3.0 < to_line < 16.0
    assert r["moved"] > 20.0


TOWNS = """
client.set_timeout(120.0)  # loading a CARLA town takes seconds, more on a loaded machine
out = dict()
for town in {towns!r}:
    world = client.load_world(town)
    world.reset_all_traffic_lights()  # what the leaderboard does after load_world
    world.tick() if world.get_settings().synchronous_mode else world.wait_for_tick()
    actors = world.get_actors()
    carla_map = world.get_map()
    landmarks = carla_map.get_all_landmarks()
    lights = actors.filter("traffic.traffic_light*")
    junctions = {{lm.road_id: carla_map.get_waypoint_xodr(lm.road_id, lm.get_lane_validities()[0][0], lm.s)
                 for lm in landmarks if lm.type == "1000001"}}
    in_junction = [len(world.get_traffic_lights_in_junction(wp.junction_id))
                   for wp in list(junctions.values())[:5] if wp is not None and wp.is_junction]
    out[town] = dict(
        landmarks=len(landmarks),
        types=sorted(a.type_id for a in actors.filter("traffic.*")),
        ids_found=sum(world.get_traffic_light(lm) is not None for lm in landmarks if lm.type == "1000001"),
        lights_with_box=sum(tl.trigger_volume.extent.x > 0 for tl in lights),
        states=sorted({{tl.state.name for tl in lights}}),
        in_junction=in_junction)
    signs = sorted(actors.filter("traffic.speed_limit.90"), key=lambda a: a.id)
    if signs:  # a vehicle driving through a speed-limit sign's box takes its limit
        sign = signs[0]
        box_wp = carla_map.get_waypoint(sign.get_transform().transform(sign.trigger_volume.location))
        start = box_wp.previous(5.0)[0].transform
        start.location.z += 0.5
        vehicle = world.spawn_actor(world.get_blueprint_library().find("vehicle.audi.a2"), start)
        limits = []
        for k in range(80):
            vehicle.apply_control(carla.VehicleControl(throttle=0.8))
            world.wait_for_tick()
            limits.append(vehicle.get_speed_limit())
        vehicle.destroy()
        out[town]["speed_limits"] = [limits[0], limits[-1]]
result(**out)
"""


def test_carla_2020_towns_have_their_lights_and_signs():
    towns = ["Town01", "Town07", "Town10HD"]
    if not all((CARLA_2020 / f"{t}.xodr").exists() for t in towns):
        pytest.skip(f"CARLA's 2020 town exports not in {CARLA_2020}")
    with start_embedded_server("--map-dir", str(CARLA_2020), map_name="Town01") as server:
        r, _ = run_on_server(server, TOWNS.format(towns=towns), timeout=180, sync=False)
        assert_no_unknown_rpc(server)
    for town in towns:
        layout = build_layout(town, (CARLA_2020 / f"{town}.xodr").read_text())
        assert r[town]["types"] == sorted(s.type_id for s in layout.signs), town
        lights = sum(s.type_id == "traffic.traffic_light" for s in layout.signs)
        assert r[town]["lights_with_box"] >= lights - 1, town
        assert r[town]["states"] == ["Green", "Red"] and r[town]["in_junction"], town
        assert all(n >= 2 for n in r[town]["in_junction"]), town
    t01, t07, t10 = (r[t] for t in towns)
    assert t01["landmarks"] == 94 and t01["types"].count("traffic.traffic_light") == 36
    assert t01["ids_found"] == 72  # every light landmark resolves to its actor
    assert t01["types"].count("traffic.speed_limit.30") == 11
    assert t01["speed_limits"] == [30.0, 90.0]
    assert t07["landmarks"] == 155
    assert t07["types"].count("traffic.stop") >= 10 and t07["types"].count("traffic.yield") >= 10
    assert t10["landmarks"] == 65 and t10["types"].count("traffic.stop") == 3


TM_AT_STOP = """
import math
tm_port = {tm_port}
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(0)
sign = sorted(world.get_actors().filter("traffic.stop"), key=lambda a: a.id)[0]
box_wp = carla_map.get_waypoint(sign.get_transform().transform(sign.trigger_volume.location))
start = box_wp.previous(40.0)[0].transform
start.location.z += 0.5
vehicle = world.spawn_actor(library.find("vehicle.audi.a2"), start)
world.tick()
vehicle.set_autopilot(True, tm_port)
log = []
for k in range(400):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
    v = vehicle.get_velocity()
    here = carla_map.get_waypoint(vehicle.get_location())
    log.append((math.hypot(v.x, v.y), vehicle.get_traffic_light_state().name,
                vehicle.is_at_traffic_light(), here.is_junction,
                vehicle.get_location().distance(box_wp.transform.location)))
vehicle.set_autopilot(False, tm_port)
vehicle.destroy()
result(log=log)
"""


def test_traffic_manager_vehicle_halts_at_a_stop_sign_then_goes():
    with start_embedded_server(map_name="Roundabout01") as server:
        log = run_tm_script(server, TM_AT_STOP.format(tm_port=free_port_block(1)), 240)["log"]
        assert_no_unknown_rpc(server)
    red = [k for k, entry in enumerate(log) if entry[1] == "Red"]
    assert red and not any(entry[2] for entry in log)  # a sign: Red, but no light
    assert all(entry[1] == "Green" for entry in log[: red[0]])  # Green until the sign's box
    # it halts before the junction, at least the TM's 2 s (the sign holds Red for 2 s from its
    # box, then the TM's own stop at an unsignalised entry), then goes on through
    halt = longest = 0
    for speed, _, _, in_junction, _ in log:
        halt = halt + 1 if speed < 0.05 and not in_junction else 0
        longest = max(longest, halt)
    assert longest >= 40, [entry[:2] for entry in log[red[0] : red[0] + 100]]
    after = red[-1] + 1
    assert after < len(log) and log[after][1] == "Green"
    assert any(entry[3] for entry in log[after:]) and log[-1][4] > 15.0


ROUNDABOUT_SIGNS = """
carla_map = world.get_map()
landmarks = carla_map.get_all_landmarks()
signs = world.get_actors().filter("traffic.*")
yield_sign = [a for a in signs if a.type_id == "traffic.yield"][0]
box_wp = carla_map.get_waypoint(yield_sign.get_transform().transform(yield_sign.trigger_volume.location))
found = box_wp.previous(20.0)[0].get_landmarks_of_type(40.0, "205")
result(landmarks=sorted(lm.type for lm in landmarks),
       signs=sorted(a.type_id for a in signs),
       by_landmark=sorted({world.get_traffic_sign(lm).type_id for lm in landmarks}),
       classes=sorted({type(a).__name__ for a in signs}),
       found=[lm.name for lm in found], tags=sorted({t for a in signs for t in a.semantic_tags}))
"""


def test_roundabout01_signs_and_landmarks():
    with start_embedded_server(map_name="Roundabout01") as server:
        r, _ = run_on_server(server, ROUNDABOUT_SIGNS, sync=False)
    assert r["landmarks"] == ["205"] * 4 + ["206"] * 8  # a stop sign is referenced twice
    assert r["signs"] == ["traffic.stop"] * 4 + ["traffic.yield"] * 4
    assert r["by_landmark"] == ["traffic.stop", "traffic.yield"]
    assert r["classes"] == ["TrafficSign"] and r["tags"] == [8]
    assert r["found"] and set(r["found"]) == {"Sign_Yield"}
