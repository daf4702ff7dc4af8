"""Collisions between vehicles and with the edge of the world, seen by collision sensors."""

import pytest

from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

DRIVE_INTO = """
events = []
wp = carla_map.get_waypoint(spawn_points[0].location)
ahead = wp.next(15.0)[0]
hero = world.spawn_actor(library.find("vehicle.lincoln.mkz_2017"), wp.transform)
parked_tf = ahead.transform
parked_tf.location.z += 0.3
parked = world.spawn_actor(library.find("vehicle.tesla.model3"), parked_tf)
sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
sensor.listen(lambda e: events.append((e.frame, e.other_actor.id, e.other_actor.type_id,
                                        e.normal_impulse.x, e.normal_impulse.y, e.normal_impulse.z)))
parked.apply_control(carla.VehicleControl(hand_brake=True))
world.tick()
fwd = hero.get_transform().get_forward_vector()
hero.apply_control(carla.VehicleControl(throttle=1.0))
frame_hit = None
for _ in range(120):
    world.tick()
    if events and frame_hit is None:
        frame_hit = world.get_snapshot().frame
import time; time.sleep(0.2)
first = events[0] if events else None
gap = hero.get_location().distance(parked.get_location())
result(n=len(events), first=first, parked=parked.id, fwd=[fwd.x, fwd.y], gap=gap,
       hero_speed=hero.get_velocity().length())
sensor.stop(); sensor.destroy(); hero.destroy(); parked.destroy()
"""


def test_vehicle_collision_reports_other_actor_and_impulse(embedded_server):
    r, _ = run_on_server(embedded_server, DRIVE_INTO)
    assert r["n"] >= 1, r
    frame, other_id, other_type, ix, iy, _ = r["first"]
    assert other_id == r["parked"] and other_type == "vehicle.tesla.model3"
    magnitude = (ix**2 + iy**2) ** 0.5
    assert magnitude > 1000.0  # ~ reduced mass x closing speed, N s
    # The impulse on the hero pushes it back against its heading.
    assert (ix * r["fwd"][0] + iy * r["fwd"][1]) / magnitude < -0.7
    # Boxes never interpenetrate deeply: centres stay about two half-lengths apart.
    assert r["gap"] > 4.0
    assert_no_unknown_rpc(embedded_server)


def test_leaving_the_map_is_a_collision_with_the_world_edge(embedded_server):
    body = """
events = []
hero = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[0])
sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
sensor.listen(lambda e: events.append((e.other_actor.type_id, e.normal_impulse.length())))
world.tick()
# Far outside the map, pointing further out.
loc = hero.get_location()
far = carla.Transform(carla.Location(x=loc.x + 100000.0, y=loc.y, z=loc.z), carla.Rotation(yaw=0.0))
hero.set_transform(far)
hero.apply_control(carla.VehicleControl(throttle=1.0))
for _ in range(20):
    world.tick()
import time; time.sleep(0.2)
x_after = hero.get_location().x
result(events=events[:3], x_after=x_after, x_far=far.location.x)
sensor.destroy(); hero.destroy()
"""
    r, _ = run_on_server(embedded_server, body)
    assert r["events"], r
    assert r["events"][0][1] >= 0.0
    assert r["x_after"] < r["x_far"] - 1000.0  # held at the world's edge


def test_spawning_onto_another_vehicle_fails_like_carla(embedded_server):
    body = """
a = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[0])
b = world.try_spawn_actor(library.find("vehicle.audi.a2"), spawn_points[0])
try:
    world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[0])
    message = ""
except RuntimeError as exc:
    message = str(exc)
result(b=b is None, message=message)
a.destroy()
"""
    r, _ = run_on_server(embedded_server, body)
    assert r["b"] is True
    assert "collision at spawn position" in r["message"]


@pytest.mark.parametrize("blueprint", ["walker.pedestrian.0001", "static.prop.trafficcone01"])
def test_vehicle_hits_walkers_and_props(embedded_server, blueprint):
    body = f"""
events = []
wp = carla_map.get_waypoint(spawn_points[0].location)
hero = world.spawn_actor(library.find("vehicle.audi.a2"), wp.transform)
obstacle_tf = wp.next(10.0)[0].transform
obstacle_tf.location.z += 1.0
obstacle = world.spawn_actor(library.find("{blueprint}"), obstacle_tf)
sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
sensor.listen(lambda e: events.append(e.other_actor.id))
hero.apply_control(carla.VehicleControl(throttle=1.0))
for _ in range(80):
    world.tick()
import time; time.sleep(0.2)
result(events=sorted(set(events)), obstacle=obstacle.id)
sensor.destroy(); hero.destroy(); obstacle.destroy()
"""
    r, _ = run_on_server(embedded_server, body)
    assert r["events"] == [r["obstacle"]]
