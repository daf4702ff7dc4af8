"""Every sensor type through the real `carla` client: types, shapes, frames, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

# Client code shared by the checks: a hero on the road, a parked car 15 m ahead, one sensor of
# every type on the hero, all with sensor_tick 0, collected per frame in synchronous mode.
ACTORS = """
import gc, numpy as np, queue
# The client aborts if the garbage collector runs in one of its streaming threads and finalises
# a carla object there; collect only explicitly, in the main thread.
gc.disable()
wp = carla_map.get_waypoint(spawn_points[0].location)
hero = world.spawn_actor(library.find("vehicle.tesla.model3"), wp.transform)
ahead_tf = wp.next(15.0)[0].transform
parked = world.spawn_actor(library.find("vehicle.audi.a2"), ahead_tf)
parked.apply_control(carla.VehicleControl(hand_brake=True))

def bp(name, **attrs):
    b = library.find(name)
    for k, v in attrs.items():
        b.set_attribute(k, str(v))
    return b

"""

ALL_SENSORS = """
SENSORS = {
    "rgb": (bp("sensor.camera.rgb", image_size_x=84, image_size_y=84, fov=90),
            carla.Transform(carla.Location(x=1.5, z=1.6))),
    "depth": (bp("sensor.camera.depth", image_size_x=96, image_size_y=64, fov=90),
              carla.Transform(carla.Location(x=3.0, z=2.0), carla.Rotation(pitch=-35))),
    "semantic": (bp("sensor.camera.semantic_segmentation", image_size_x=64, image_size_y=48),
                 carla.Transform(carla.Location(x=2.5, z=1.0))),
    "instance": (bp("sensor.camera.instance_segmentation", image_size_x=64, image_size_y=48),
                 carla.Transform(carla.Location(x=2.5, z=1.0))),
    "lidar": (bp("sensor.lidar.ray_cast", channels=32, range=50, points_per_second=100000,
                 rotation_frequency=10, upper_fov=5, lower_fov=-25, dropoff_general_rate=0,
                 dropoff_zero_intensity=0),
              carla.Transform(carla.Location(z=2.0))),
    "semantic_lidar": (bp("sensor.lidar.ray_cast_semantic", channels=16, range=40,
                          points_per_second=40000, upper_fov=2, lower_fov=-20),
                       carla.Transform(carla.Location(z=1.0))),
    "radar": (bp("sensor.other.radar", horizontal_fov=20, vertical_fov=10, range=60,
                 points_per_second=4000),
              carla.Transform(carla.Location(x=2.5, z=1.0))),
    "gnss": (bp("sensor.other.gnss"), carla.Transform()),
    "imu": (bp("sensor.other.imu"), carla.Transform()),
    "obstacle": (bp("sensor.other.obstacle", distance=30, only_dynamics=True),
                 carla.Transform(carla.Location(x=2.5, z=0.8))),
    "dvs": (bp("sensor.camera.dvs", image_size_x=64, image_size_y=48),
            carla.Transform(carla.Location(x=1.5, z=1.6))),
}
"""

LISTEN = """
queues, sensors = {}, {}
for name, (blueprint, tf) in SENSORS.items():
    q = queue.Queue()
    s = world.spawn_actor(blueprint, tf, attach_to=hero)
    s.listen(q.put)
    queues[name], sensors[name] = q, s

def collect(frame, name, timeout=5.0):
    while True:
        try:
            data = queues[name].get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no {name} data for frame {frame}") from None
        if data.frame >= frame:
            return data

def tick():
    frame = world.tick()
    out = {name: collect(frame, name) for name in queues}
    return frame, out

def warm_up(also=lambda: True):
    # a sensor's stream subscription completes asynchronously after listen(): tick until every
    # sensor has delivered, then start counting from a clean slate
    for _ in range(20):
        world.tick()
        if all(not q.empty() for n, q in queues.items()) and also():
            break
    for q in queues.values():
        while not q.empty():
            q.get()

def cleanup():
    # drop every sensor-data object before the actors go (the client can abort at exit otherwise)
    for name in list(globals()):
        if type(globals()[name]).__module__ == "carla.libcarla" and name not in (
                "hero", "parked", "world", "client", "carla_map", "library"):
            del globals()[name]
    out.clear()
    for q in queues.values():
        while not q.empty():
            q.get()
    gc.collect()
    for s in sensors.values():
        s.stop(); s.destroy()
    hero.destroy(); parked.destroy()
    gc.collect()
    # let the client finish closing its stream connections: exiting while a dozen of them are
    # still shutting down aborts the client ("terminate called without an active exception")
    import time; time.sleep(0.5)
"""


def setup(sensors: str = ALL_SENSORS) -> str:
    """Client code: the actors, the given SENSORS dict spawned on the hero and listened to."""
    return ACTORS + sensors + LISTEN


SETUP = setup()


TYPES_AND_GEOMETRY = (
    SETUP
    + """
warm_up()
frames, extra, kinds = [], [], {}
lidar_points, semantic_points = [], []
for i in range(4):
    frame, out = tick()
    frames.append([frame] + [d.frame for d in out.values()])
    kinds = {n: type(d).__name__ for n, d in out.items()}
    lidar_points.append(np.frombuffer(out["lidar"].raw_data, np.float32).reshape(-1, 4).copy())
    semantic_points.append(np.frombuffer(out["semantic_lidar"].raw_data, dtype=np.dtype([
        ("x", "f4"), ("y", "f4"), ("z", "f4"), ("cos", "f4"), ("idx", "u4"), ("tag", "u4")])).copy())
# no second measurement of a frame arrives later
import time; time.sleep(0.2)
extra = {n: q.qsize() for n, q in queues.items()}

rgb, depth_img, sem, inst = out["rgb"], out["depth"], out["semantic"], out["instance"]
shapes = {n: [d.width, d.height, len(d.raw_data), d.fov] for n, d in
          [("rgb", rgb), ("depth", depth_img), ("semantic", sem), ("instance", inst)]}

# depth camera over the road: decode as CARLA users do and compare with the geometry
bgra = np.frombuffer(depth_img.raw_data, np.uint8).reshape(depth_img.height, depth_img.width, 4)
depth = (bgra[..., 2] + bgra[..., 1] * 256.0 + bgra[..., 0] * 65536.0) / (256**3 - 1) * 1000
m = np.array(depth_img.transform.get_matrix())[:3, :3]
f = depth_img.width / (2 * np.tan(np.radians(depth_img.fov) / 2))
u = np.arange(depth_img.width) + 0.5 - depth_img.width / 2
v = np.arange(depth_img.height) + 0.5 - depth_img.height / 2
rays = np.stack(np.broadcast_arrays(1.0, u[None, :] / f, -v[:, None] / f), -1)
down = -(rays @ m.T)[..., 2]
cam_height = depth_img.transform.location.z - hero.get_location().z
expected = cam_height / down
rows = slice(depth_img.height // 2, None)  # lower half: the road in front of the car
rel_err = np.abs(depth[rows] - expected[rows]) / expected[rows]

sem_labels = np.frombuffer(sem.raw_data, np.uint8).reshape(48, 64, 4)[..., 2].copy()
inst_px = np.frombuffer(inst.raw_data, np.uint8).reshape(48, 64, 4)
inst_ids = inst_px[..., 1].astype(int) + 256 * inst_px[..., 0].astype(int)
# converted with CARLA's own palettes (exercises the client's decoding of our pixels)
sem.convert(carla.ColorConverter.CityScapesPalette)
depth_img.convert(carla.ColorConverter.LogarithmicDepth)

hero_tf = hero.get_transform()
gap = parked.get_location().distance(hero.get_location())
rear_face = gap - parked.bounding_box.extent.x
pts = np.concatenate(lidar_points)
# beyond the hero's own bonnet (the lidar sees its parent's box, as in CARLA)
ahead = pts[(np.abs(pts[:, 1]) < 0.6) & (pts[:, 0] > 3) & (pts[:, 2] > -1.9)]
spts = np.concatenate(semantic_points)
car_pts = spts[spts["idx"] == parked.id]

radar = out["radar"]
det = np.frombuffer(radar.raw_data, np.float32).reshape(-1, 4)
obstacle = out["obstacle"]
gnss, imu = out["gnss"], out["imu"]
dvs = out["dvs"]
result(
    dvs=[dvs.width, dvs.height, len(dvs)],
    frames=frames, extra=extra, kinds=kinds, shapes=shapes,
    depth_err_median=float(np.median(rel_err)), depth_err_p95=float(np.percentile(rel_err, 95)),
    sem_has_car=int((sem_labels == 14).sum()), sem_labels=sorted(set(sem_labels.ravel().tolist())),
    inst_has_parked=int((inst_ids == parked.id).sum()), parked_id=parked.id,
    rear_face=rear_face, lidar_ahead_min=float(ahead[:, 0].min()) if len(ahead) else None,
    lidar_channels=out["lidar"].channels, lidar_counts=[out["lidar"].get_point_count(c) for c in range(32)],
    lidar_n=len(out["lidar"]), lidar_horizontal_angle=out["lidar"].horizontal_angle,
    car_pts=len(car_pts), car_tags=sorted(set(car_pts["tag"].tolist())),
    radar_n=len(radar), radar_depth_min=float(det[:, 3].min()) if len(det) else None,
    obstacle=[obstacle.other_actor.id, obstacle.distance, obstacle.actor.id, obstacle.other_actor.type_id],
    sensor_ids={n: s.id for n, s in sensors.items()},
    gnss=[gnss.latitude, gnss.longitude, gnss.altitude],
    imu=[imu.accelerometer.x, imu.accelerometer.y, imu.accelerometer.z,
         imu.gyroscope.z, imu.compass],
    yaw=hero_tf.rotation.yaw,
)
cleanup()
"""
)


@pytest.fixture(scope="module")
def types_and_geometry(module_embedded_server):
    r, _ = run_on_server(module_embedded_server, TYPES_AND_GEOMETRY, timeout=90)
    assert_no_unknown_rpc(module_embedded_server)
    return r


def test_every_sensor_delivers_its_carla_type_once_per_tick_at_the_tick_frame(
    types_and_geometry,
):
    r = types_and_geometry
    assert r["kinds"] == {
        "rgb": "Image",
        "depth": "Image",
        "semantic": "Image",
        "instance": "Image",
        "lidar": "LidarMeasurement",
        "semantic_lidar": "SemanticLidarMeasurement",
        "radar": "RadarMeasurement",
        "gnss": "GnssMeasurement",
        "imu": "IMUMeasurement",
        "obstacle": "ObstacleDetectionEvent",
        "dvs": "DVSEventArray",
    }
    for frames in r["frames"]:
        assert len(set(frames)) == 1, frames  # every sensor stamped with the tick's frame
    assert [f[0] for f in r["frames"]] == list(range(r["frames"][0][0], r["frames"][0][0] + 4))
    assert all(n == 0 for n in r["extra"].values()), r["extra"]  # exactly one per tick
    assert r["shapes"]["rgb"] == [84, 84, 84 * 84 * 4, 90.0]
    assert r["shapes"]["depth"][:3] == [96, 64, 96 * 64 * 4]
    assert r["shapes"]["semantic"][:3] == [64, 48, 64 * 48 * 4]
    assert r["dvs"] == [64, 48, 0]  # nothing moves in front of the parked hero: no events


def test_depth_camera_over_the_road_matches_geometry(types_and_geometry):
    r = types_and_geometry
    assert r["depth_err_median"] < 0.01, r
    assert r["depth_err_p95"] < 0.02, r


def test_car_ahead_appears_in_semantic_instance_lidar_and_obstacle(types_and_geometry):
    r = types_and_geometry
    assert r["sem_has_car"] > 20 and {1, 14} <= set(r["sem_labels"]), r
    assert r["inst_has_parked"] > 20, r
    assert r["lidar_ahead_min"] == pytest.approx(r["rear_face"], abs=0.25), r
    assert r["lidar_channels"] == 32 and sum(r["lidar_counts"]) == r["lidar_n"] > 0
    assert r["car_pts"] > 0 and r["car_tags"] == [14], r
    assert r["radar_n"] > 0 and r["radar_depth_min"] > 0
    other, distance, own_id, other_type = r["obstacle"]
    assert other == r["parked_id"], r
    # The event names the sensor itself and describes the other actor in full.
    assert own_id == r["sensor_ids"]["obstacle"] and other_type.startswith("vehicle."), r
    assert distance == pytest.approx(r["rear_face"] - 2.5 - 0.5, abs=0.6), r


def test_imu_at_rest_reads_gravity_and_compass_follows_heading(types_and_geometry):
    r = types_and_geometry
    ax, ay, az, gz, heading = r["imu"]
    assert (ax, ay, az) == pytest.approx((0.0, 0.0, 9.81), abs=0.05)
    assert gz == pytest.approx(0.0, abs=1e-3)
    import math

    forward_x = math.cos(math.radians(r["yaw"]))
    forward_y = math.sin(math.radians(r["yaw"]))
    assert math.cos(heading) == pytest.approx(-forward_y, abs=1e-3)  # north is world -y
    assert math.sin(heading) == pytest.approx(forward_x, abs=1e-3)


DRIVE_AND_BRAKE = (
    SETUP
    + """
for name in list(queues):
    if name not in ("gnss", "imu"):
        sensors[name].stop()
        del queues[name]
slow_frames = []
slow = world.spawn_actor(bp("sensor.other.gnss", sensor_tick=0.1), carla.Transform(),
                         attach_to=hero)
slow.listen(lambda m: slow_frames.append(m.frame))
sensors["slow"] = slow
warm_up(also=lambda: len(slow_frames) > 0)
frame, out = tick()
start = [out["gnss"].latitude, out["gnss"].longitude]
first_frame = frame
hero.apply_control(carla.VehicleControl(throttle=1.0))
for _ in range(40):
    frame, out = tick()
moved = [out["gnss"].latitude, out["gnss"].longitude]
loc = hero.get_location()
expected = carla_map.transform_to_geolocation(loc)
speed_before = hero.get_velocity().length()
hero.apply_control(carla.VehicleControl(brake=1.0))
braking = []
for _ in range(6):
    frame, out = tick()
    acc = hero.get_acceleration()
    fwd = hero.get_transform().get_forward_vector()
    braking.append([out["imu"].accelerometer.x, acc.x * fwd.x + acc.y * fwd.y + acc.z * fwd.z])
import time; time.sleep(0.1)
slow_seen = [f for f in slow_frames if first_frame <= f <= frame]
result(start=start, moved=moved, expected=[expected.latitude, expected.longitude],
       speed_before=speed_before, braking=braking, slow=slow_seen, ticks=frame - first_frame + 1)
cleanup()
"""
)


def test_gnss_follows_the_vehicle_and_imu_feels_the_braking(module_embedded_server):
    r, _ = run_on_server(module_embedded_server, DRIVE_AND_BRAKE, timeout=90)
    assert r["speed_before"] > 3.0, r
    assert r["moved"] != pytest.approx(r["start"], abs=1e-6)
    assert r["moved"] == pytest.approx(r["expected"], abs=1e-7)  # the client's own projection
    decelerations = [imu_x for imu_x, _ in r["braking"][1:]]
    assert max(decelerations) < -2.0, r["braking"]  # pushed back in the seat: negative x
    for imu_x, along in r["braking"][1:]:
        assert imu_x == pytest.approx(along, abs=0.05)
    # sensor_tick 0.1 at 0.05 s per tick: every other frame
    assert abs(len(r["slow"]) - r["ticks"] / 2) <= 1, (r["ticks"], r["slow"])
    assert set(np.diff(r["slow"]).tolist()) == {2}, r["slow"]
    assert_no_unknown_rpc(module_embedded_server)


EMPTY_MEASUREMENTS = (
    setup(
        """
SENSORS = {
    "radar_up": (bp("sensor.other.radar", range=20), carla.Transform(
        carla.Location(z=3.0), carla.Rotation(pitch=60))),
    "lidar_up": (bp("sensor.lidar.ray_cast", upper_fov=80, lower_fov=60, range=5,
                    channels=4, points_per_second=10000), carla.Transform(carla.Location(z=3.0))),
    "semantic_lidar_up": (bp("sensor.lidar.ray_cast_semantic", upper_fov=80, lower_fov=60,
                             range=5, channels=4), carla.Transform(carla.Location(z=3.0))),
}
"""
    )
    + """
warm_up()
frame, out = tick()
result(radar=len(out["radar_up"]), lidar=len(out["lidar_up"]),
       lidar_counts=[out["lidar_up"].get_point_count(c) for c in range(4)],
       semantic=len(out["semantic_lidar_up"]), frames=[d.frame for d in out.values()], frame=frame)
out.clear()
cleanup()
"""
)


def test_empty_measurements_decode_in_the_client(module_embedded_server):
    r, _ = run_on_server(module_embedded_server, EMPTY_MEASUREMENTS, timeout=60)
    assert r["radar"] == 0 and r["lidar"] == 0 and r["semantic"] == 0, r
    assert r["lidar_counts"] == [0, 0, 0, 0]
    assert set(r["frames"]) == {r["frame"]}


BAD_ATTRIBUTE = """
hero = world.spawn_actor(library.find("vehicle.tesla.model3"), spawn_points[0])
b = library.find("sensor.lidar.ray_cast")
b.set_attribute("channels", "0")
try:
    world.spawn_actor(b, carla.Transform(), attach_to=hero)
    error = None
except RuntimeError as exc:
    error = str(exc)
world.tick()
names = [a.type_id for a in world.get_actors()]
result(error=error, sensors=[n for n in names if n.startswith("sensor.")])
hero.destroy()
"""


def test_a_bad_sensor_attribute_is_one_clear_spawn_error(module_embedded_server):
    r, _ = run_on_server(module_embedded_server, BAD_ATTRIBUTE, timeout=60)
    assert "channels" in r["error"] and "sensor.lidar.ray_cast" in r["error"], r
    assert r["sensors"] == []  # nothing half-spawned is left behind
    assert module_embedded_server.alive()


FIRST_TICK = """
import time
hero = world.spawn_actor(library.find("vehicle.tesla.model3"), spawn_points[0])
names = ["sensor.camera.rgb", "sensor.lidar.ray_cast", "sensor.other.radar",
         "sensor.other.gnss", "sensor.other.imu"]
first_frames = []
for round_ in range(5):
    got = {n: [] for n in names}
    sensors = []
    for name in names:
        b = library.find(name)
        if b.has_attribute("image_size_x"):
            b.set_attribute("image_size_x", "32"); b.set_attribute("image_size_y", "24")
        s = world.spawn_actor(b, carla.Transform(carla.Location(z=2.0)), attach_to=hero)
        s.listen(lambda data, n=name: got[n].append(data.frame))
        sensors.append(s)
    frame = world.tick()  # at once: the sensors' stream connections may still be on their way
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not all(got.values()):
        time.sleep(0.01)
    first_frames.append({n: (got[n][0] - frame if got[n] else None) for n in names})
    for s in sensors:
        s.stop(); s.destroy()
result(first_frames=first_frames)
hero.destroy()
"""


def test_every_sensor_reports_the_first_tick_after_listen(module_embedded_server):
    # As from CarlaUE4: GNSS, IMU, cameras, lidar and radar all read the tick right after listen().
    r, _ = run_on_server(module_embedded_server, FIRST_TICK, timeout=90)
    for first in r["first_frames"]:
        assert set(first.values()) == {0}, r["first_frames"]
