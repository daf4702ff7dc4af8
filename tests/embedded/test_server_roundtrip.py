"""Round trips through the real carla==0.9.16 client: settings, state, controls, queries."""

import pytest

from tests.conftest import start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server


@pytest.fixture(scope="module")
def server():
    with start_embedded_server() as handle:
        yield handle
    assert_no_unknown_rpc(handle)


def test_connect_version_maps_and_settings_both_ways(server):
    body = """
s0 = world.get_settings()
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.1
s.no_rendering_mode = True
world.apply_settings(s)
s1 = world.get_settings()
f0 = world.get_snapshot().frame
world.tick(); world.tick()
snap = world.get_snapshot()
s.synchronous_mode = False
s.fixed_delta_seconds = None
world.apply_settings(s)
s2 = world.get_settings()
result(version=client.get_server_version(), maps=client.get_available_maps(),
       map=world.get_map().name, s0=[s0.synchronous_mode, s0.fixed_delta_seconds],
       s1=[s1.synchronous_mode, s1.fixed_delta_seconds, s1.no_rendering_mode],
       s2=[s2.synchronous_mode, s2.fixed_delta_seconds],
       frames=[f0, snap.frame], delta=snap.timestamp.delta_seconds)
"""
    r, _ = run_on_server(server, body, sync=False)
    assert r["version"] == "0.9.16"
    assert any(m.endswith("Loop01") for m in r["maps"])
    assert r["map"].endswith("Loop01")
    assert r["s0"] == [False, None]
    assert r["s1"] == [True, pytest.approx(0.1), True]
    assert r["s2"] == [False, None]
    assert r["frames"][1] == r["frames"][0] + 2
    assert r["delta"] == pytest.approx(0.1)


def test_transform_velocity_and_control_round_trip(server):
    body = """
bp = library.find("vehicle.tesla.model3")
bp.set_attribute("role_name", "hero")
v = world.spawn_actor(bp, spawn_points[0])
world.tick()
target = carla.Transform(carla.Location(x=spawn_points[3].location.x, y=spawn_points[3].location.y,
                                        z=spawn_points[3].location.z), carla.Rotation(yaw=33.0))
v.set_simulate_physics(False)
v.set_transform(target)
world.tick()
t = v.get_transform()
v.set_simulate_physics(True)
control = carla.VehicleControl(throttle=0.25, steer=-0.5, brake=0.125, hand_brake=False, reverse=True)
v.apply_control(control)
world.tick()
c = v.get_control()
v.apply_control(carla.VehicleControl())
v.set_target_velocity(carla.Vector3D(4.0, 3.0, 0.0))
world.tick()
vel = v.get_velocity()
result(loc=[t.location.x, t.location.y], yaw=t.rotation.yaw,
       target=[target.location.x, target.location.y],
       control=[c.throttle, c.steer, c.brake, c.hand_brake, c.reverse],
       vel=[vel.x, vel.y], role=v.attributes["role_name"], type_id=v.type_id,
       speed_limit=v.get_speed_limit(),
       bbox=[v.bounding_box.extent.x, v.bounding_box.extent.y, v.bounding_box.extent.z])
v.destroy()
"""
    r, _ = run_on_server(server, body)
    assert r["loc"] == pytest.approx(r["target"], abs=1e-3)
    assert r["yaw"] == pytest.approx(33.0, abs=1e-3)
    assert r["control"] == [0.25, -0.5, 0.125, False, True]
    # A target velocity along (4, 3) at yaw 33 deg: speed is kept along the heading.
    assert (r["vel"][0] ** 2 + r["vel"][1] ** 2) ** 0.5 == pytest.approx(4.95, abs=0.3)
    assert r["role"] == "hero" and r["type_id"] == "vehicle.tesla.model3"
    assert r["speed_limit"] > 0
    assert r["bbox"] == pytest.approx([2.396, 1.082, 0.744], abs=1e-3)


def test_every_field_of_weather_settings_and_control_round_trips(server):
    """Each value comes back as sent (the order itself is pinned in test_server_codec.py)."""
    body = """
def fields(value):
    names = [n for n, p in vars(type(value)).items() if isinstance(p, property)]
    return {n: getattr(value, n) for n in names}
weather = carla.WeatherParameters(*[float(i + 1) for i in range(14)])
world.set_weather(weather)
s = carla.WorldSettings(True, True, 0.04, False, 0.02, 7, 5.0, False, 1500.0, 1000.0, False)
world.apply_settings(s)
got_settings = world.get_settings()
v = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[4])
control = carla.VehicleControl(0.5, -0.25, 0.75, True, True, True, 2)
v.apply_control(control)
world.tick()
result(weather=[fields(weather), fields(world.get_weather())],
       settings=[fields(s), fields(got_settings)], control=[fields(control), fields(v.get_control())])
v.destroy()
world.apply_settings(carla.WorldSettings(True, False, 0.05))
"""
    r, _ = run_on_server(server, body)
    for name in ("weather", "settings", "control"):
        sent, received = r[name]
        assert received == pytest.approx(sent), name


def test_throttle_moves_forward_along_heading_and_brake_stops(server):
    body = """
v = world.spawn_actor(library.find("vehicle.lincoln.mkz_2017"), spawn_points[1])
world.tick()
start = v.get_transform()
fwd = start.get_forward_vector()
v.apply_control(carla.VehicleControl(throttle=1.0))
for _ in range(40):
    world.tick()
moved = v.get_location() - start.location
along = moved.x * fwd.x + moved.y * fwd.y
speed_after_throttle = v.get_velocity().length()
accel = v.get_acceleration().length()
v.apply_control(carla.VehicleControl(brake=1.0))
for _ in range(40):
    world.tick()
p1 = v.get_location()
for _ in range(10):
    world.tick()
p2 = v.get_location()
result(along=along, total=moved.length(), speed=speed_after_throttle, accel=accel,
       stopped_speed=v.get_velocity().length(), creep=p1.distance(p2))
v.destroy()
"""
    r, _ = run_on_server(server, body)
    assert r["along"] > 5.0 and r["along"] == pytest.approx(r["total"], rel=0.05)
    assert r["speed"] > 3.0 and r["accel"] > 0.5
    assert r["stopped_speed"] < 0.01 and r["creep"] < 0.01


def test_blueprints_actors_spectator_weather_and_queries(server):
    body = """
bp = library.find("vehicle.lincoln.mkz_2017")
colors = bp.get_attribute("color").recommended_values
bp.set_attribute("color", colors[1])
v = world.spawn_actor(bp, spawn_points[2])
cam = world.spawn_actor(library.find("sensor.camera.rgb"), carla.Transform(carla.Location(x=1.5, z=2.0)), attach_to=v)
world.tick()
actors = world.get_actors()
ids = sorted(a.id for a in actors)
found = world.get_actors([v.id, cam.id])
spectator = world.get_spectator()
spectator.set_transform(carla.Transform(carla.Location(1, 2, 30), carla.Rotation(pitch=-90)))
world.tick()
sp = spectator.get_transform()
weather = carla.WeatherParameters(cloudiness=80.0, precipitation=30.0, sun_altitude_angle=-10.0)
world.set_weather(weather)
w2 = world.get_weather()
pc = v.get_physics_control()
pc.mass = 2000.0
v.apply_physics_control(pc)
v.set_light_state(carla.VehicleLightState.HighBeam)
world.debug.draw_line(carla.Location(0, 0, 0), carla.Location(10, 0, 0))
world.debug.draw_string(carla.Location(0, 0, 1), "hi")
cam_loc = cam.get_transform().location
veh_loc = v.get_transform().location
result(n_vehicle_bps=len(library.filter("vehicle.*")), color=v.attributes["color"],
       expected_color=colors[1], ids=ids, found=sorted(a.id for a in found), vid=v.id, cid=cam.id,
       parent=cam.parent.id, spectator=[sp.location.x, sp.location.y, sp.location.z, sp.rotation.pitch],
       weather=[w2.cloudiness, w2.precipitation, w2.sun_altitude_angle],
       mass=v.get_physics_control().mass, wheels=len(pc.wheels),
       lights=[tl.id for tl in world.get_actors().filter("traffic.traffic_light*")],
       light_state=str(v.get_light_state()),
       cam_offset=cam_loc.distance(veh_loc), vehicles=len(world.get_actors().filter("vehicle.*")))
cam.destroy(); v.destroy()
world.tick()
result(after=[a.id for a in world.get_actors() if a.id in (v.id, cam.id)])
"""
    r, _ = run_on_server(server, body)
    assert r["n_vehicle_bps"] >= 30
    assert r["color"] == r["expected_color"]
    assert {r["vid"], r["cid"]} <= set(r["ids"]) and r["found"] == sorted([r["vid"], r["cid"]])
    assert r["parent"] == r["vid"]
    assert r["spectator"] == pytest.approx([1, 2, 30, -90])
    assert r["weather"] == pytest.approx([80.0, 30.0, -10.0])
    assert r["mass"] == pytest.approx(2000.0) and r["wheels"] == 4
    assert r["lights"] == []
    assert r["light_state"] == "HighBeam"
    assert r["cam_offset"] == pytest.approx((1.5**2 + 2.0**2) ** 0.5, abs=0.05)
    assert r["vehicles"] == 1
    assert r["after"] == []


def test_asynchronous_mode_advances_on_its_own(server):
    body = """
s = world.get_settings(); s.synchronous_mode = False; s.fixed_delta_seconds = 0.02
world.apply_settings(s)
first = world.wait_for_tick(2.0)
import time; time.sleep(0.5)
later = world.wait_for_tick(2.0)
result(first=first.frame, later=later.frame, delta=later.timestamp.delta_seconds)
s.fixed_delta_seconds = None; world.apply_settings(s)
"""
    r, _ = run_on_server(server, body, sync=False)
    assert r["later"] > r["first"] + 3  # ~25 ticks of 20 ms in 0.5 s; a loaded box lags
    assert r["delta"] == pytest.approx(0.02)


def test_walkers_with_ai_controller_walk_where_sent(server):
    body = """
world.tick()  # the client loads the walkers' navigation mesh on an episode's first tick
walker_bp = library.find("walker.pedestrian.0005")
lane = carla.LaneType.Sidewalk
sidewalk = carla_map.get_waypoint(spawn_points[7].location, project_to_road=True, lane_type=lane)
walker = world.spawn_actor(walker_bp, carla.Transform(sidewalk.transform.location + carla.Location(z=1)))
controller = world.spawn_actor(library.find("controller.ai.walker"), carla.Transform(), walker)
world.tick()
controller.start()
controller.go_to_location(sidewalk.next(30.0)[0].transform.location)
controller.set_max_speed(1.4)
start = walker.get_location()
for _ in range(60):
    world.tick()
moved = walker.get_location().distance(start)
speed = walker.get_velocity().length()
controller.stop()
controller.destroy()
world.tick()
still = walker.get_location()
for _ in range(10):
    world.tick()
result(moved=moved, speed=speed, type=type(controller).__name__, after_stop=walker.get_location().distance(still))
walker.destroy()
"""
    r, _ = run_on_server(server, body)
    assert r["type"] == "WalkerAIController"
    assert 2.0 < r["moved"] < 3 * 1.4 + 0.5  # about 1.4 m/s for 3 s
    assert r["speed"] == pytest.approx(1.4, abs=0.05)
    assert r["after_stop"] < 0.01


def test_reverse_steering_hand_brake_and_top_speed(server):
    body = """
def drive(control, ticks, point):
    v = world.spawn_actor(library.find("vehicle.audi.tt"), point)
    world.tick()
    start = v.get_transform()
    v.apply_control(control)
    for _ in range(ticks):
        world.tick()
    end = v.get_transform()
    fwd = start.get_forward_vector()
    moved = end.location - start.location
    out = dict(along=moved.x * fwd.x + moved.y * fwd.y, yaw=(end.rotation.yaw - start.rotation.yaw + 540) % 360 - 180,
               speed=v.get_velocity().length(), omega=v.get_angular_velocity().z)
    v.destroy()
    world.tick()
    return out
p = spawn_points[4]
result(reverse=drive(carla.VehicleControl(throttle=0.5, reverse=True), 40, p),
       right=drive(carla.VehicleControl(throttle=0.4, steer=0.3), 30, p),
       left=drive(carla.VehicleControl(throttle=0.4, steer=-0.3), 30, p),
       handbrake=drive(carla.VehicleControl(throttle=1.0, hand_brake=True), 40, p))
v = world.spawn_actor(library.find("vehicle.audi.tt"), p)
v.set_simulate_physics(False)
world.tick()
v.set_simulate_physics(True)
v.set_target_velocity(carla.Vector3D(80.0, 0.0, 0.0))  # far above top speed
v.apply_control(carla.VehicleControl(throttle=1.0))
for _ in range(200):
    world.tick()
result(top_speed=v.get_velocity().length())
v.destroy()
"""
    r, _ = run_on_server(server, body)
    assert r["reverse"]["along"] < -1.0  # reverse gear drives backwards
    assert r["right"]["yaw"] > 5.0 and r["right"]["omega"] > 0  # +steer turns right (+yaw)
    assert r["left"]["yaw"] < -5.0 and r["left"]["omega"] < 0
    assert r["handbrake"]["speed"] == 0.0  # the hand brake holds against full throttle
    assert r["top_speed"] <= 180 / 3.6 + 0.1  # drag and the engine limit bring it under top speed
