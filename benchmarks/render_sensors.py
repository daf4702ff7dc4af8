"""Rendering cost of the embedded server's ray-cast sensors.

Prints ms per frame for 84x84 and 320x240 RGB cameras (and the other camera kinds) looking at
20 vehicles on the built-in Loop01 map, and ms per sweep (one full rotation) for a 32-channel
lidar at 100k points/s. A fixed numpy workload is timed first as a baseline for the machine's
load in this run (the machine is shared), so figures from different runs can be compared.
With --server it also measures, through the real carla client against the embedded server, the
wall time of a synchronous tick with each sensor attached to a hero among 20 parked vehicles
(rendering + serialising + streaming + the client's decoding), against a tick with no sensor.

    .venv/bin/python benchmarks/render_sensors.py [--repeats 50] [--server] [--ticks 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import queue
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from embedded_server import embedded_server  # noqa: E402

from rllib_integration.embedded.maps.ground import GroundModel  # noqa: E402
from rllib_integration.embedded.maps.towns import builtin_xodr  # noqa: E402
from rllib_integration.embedded.scene import Scene, SensorPose  # noqa: E402
from rllib_integration.embedded.sensors.camera import CameraSensor  # noqa: E402
from rllib_integration.embedded.sensors.lidar import LidarSensor, LidarSettings  # noqa: E402


def scene_with_vehicles(
    ground: GroundModel, n: int = 20, seed: int = 0
) -> tuple[Scene, SensorPose]:
    """n cars spread 10-70 m ahead of a camera raised 3 m over the first spawn point: all inside
    its 90 degree view, most of them unoccluded."""
    spawn = ground.spawn_points()[0]
    x0, y0, _ = spawn.location
    yaw = spawn.rotation[1]
    forward = np.array([np.cos(np.radians(yaw)), np.sin(np.radians(yaw))])
    right = np.array([-forward[1], forward[0]])
    rng = np.random.default_rng(seed)
    along = np.sort(rng.uniform(10.0, 70.0, n))
    across = rng.uniform(-0.4, 0.4, n) * along  # inside a 90 degree field of view
    xy = np.array([x0, y0]) + along[:, None] * forward + across[:, None] * right
    z = ground.height(xy[:, 0], xy[:, 1])
    scene = Scene(
        frame=1,
        timestamp=0.05,
        delta_seconds=0.05,
        ids=np.arange(100, 100 + n, dtype=np.uint32),
        tags=np.full(n, 14, np.uint8),
        centers=np.c_[xy, z + 0.75],
        extents=np.tile([2.3, 1.0, 0.75], (n, 1)),
        rotations=np.c_[np.zeros(n), yaw + rng.uniform(-20, 20, n), np.zeros(n)],
        velocities=np.zeros((n, 3)),
        ground=ground,
    )
    pose = SensorPose(
        location=np.array([x0, y0, float(ground.height(np.array([x0]), np.array([y0]))[0]) + 3.0]),
        rotation=np.array([-10.0, yaw, 0.0]),
        parent_id=0,
        velocity=np.zeros(3),
        acceleration=np.zeros(3),
        angular_velocity=np.zeros(3),
    )
    return scene, pose


def with_traffic_around(scene: Scene, ground: GroundModel, n: int = 80, seed: int = 1) -> Scene:
    """`scene` plus n more cars on random spawn points all over the map (beside, behind, far)."""
    points = ground.spawn_points()
    pick = np.random.default_rng(seed).choice(len(points), min(n, len(points)), replace=False)
    total = len(scene.ids) + len(pick)
    return dataclasses.replace(
        scene,
        ids=np.arange(100, 100 + total, dtype=np.uint32),
        tags=np.full(total, 14, np.uint8),
        centers=np.r_[scene.centers, [points[i].location for i in pick]],
        extents=np.tile([2.3, 1.0, 0.75], (total, 1)),
        rotations=np.r_[scene.rotations, [points[i].rotation for i in pick]],
        velocities=np.zeros((total, 3)),
    )


def ms_per_call(fn, repeats: int) -> float:
    """Median wall time of one call in ms (the median resists the shared machine's spikes)."""
    fn()  # warm caches (the height grid is sampled on first use)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def baseline(repeats: int) -> float:
    data = np.random.default_rng(0).random(1_000_000)
    return ms_per_call(lambda: np.exp(-data).sum(), repeats)


SERVER_SENSORS = {
    "no sensor": None,
    "rgb 84x84": ("sensor.camera.rgb", {"image_size_x": "84", "image_size_y": "84"}),
    "rgb 320x240": ("sensor.camera.rgb", {"image_size_x": "320", "image_size_y": "240"}),
    "lidar 32 ch 100k pts/s": (
        "sensor.lidar.ray_cast",
        {"channels": "32", "points_per_second": "100000", "range": "100"},
    ),
}


def server_ticks(ticks: int) -> None:
    """ms per synchronous tick through the real client, per sensor, 20 parked vehicles around."""
    import carla

    with embedded_server(extra_args=["--host", "127.0.0.1"]) as (port, _):
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(20.0)
        world = client.get_world()
        settings = world.get_settings()
        settings.synchronous_mode, settings.fixed_delta_seconds = True, 0.05
        world.apply_settings(settings)
        library = world.get_blueprint_library()
        carla_map = world.get_map()
        start = carla_map.get_waypoint(carla_map.get_spawn_points()[0].location)
        hero = world.spawn_actor(library.find("vehicle.tesla.model3"), start.transform)
        parked = []
        for i in range(20):  # alternating lanes, every 6 m ahead
            wp = start.next(10.0 + 6.0 * i)[0]
            lane = wp.get_left_lane() if i % 2 and wp.get_left_lane() else wp
            tf = lane.transform
            tf.location.z += 0.2
            parked.append(world.spawn_actor(library.find("vehicle.audi.a2"), tf))
        mount = carla.Transform(carla.Location(x=1.5, z=2.4), carla.Rotation(pitch=-10))
        results = {}
        for name, spec in SERVER_SENSORS.items():
            sensor = None
            data: queue.Queue[Any] = queue.Queue()
            if spec is not None:
                bp = library.find(spec[0])
                for key, value in spec[1].items():
                    bp.set_attribute(key, value)
                sensor = world.spawn_actor(bp, mount, attach_to=hero)
                sensor.listen(data.put)
            for _ in range(20):  # warm up (and let the stream subscribe)
                world.tick()
            times = []
            for _ in range(ticks):
                t0 = time.perf_counter()
                frame = world.tick()
                while sensor is not None:
                    if data.get(timeout=10.0).frame >= frame:
                        break
                times.append(time.perf_counter() - t0)
            if sensor is not None:
                sensor.stop()
                sensor.destroy()
            results[name] = float(np.median(times) * 1000.0)
            extra = "" if spec is None else f" (+{results[name] - results['no sensor']:.2f})"
            print(f"server tick with {name:24s}: {results[name]:6.2f} ms{extra}", flush=True)
        for actor in [*parked, hero]:
            actor.destroy()
        time.sleep(0.5)  # let the client close its streams before it is torn down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--server", action="store_true", help="also time ticks via the client")
    parser.add_argument("--ticks", type=int, default=200)
    args = parser.parse_args()

    ground = GroundModel.from_xodr("Loop01", builtin_xodr("Loop01"))
    scene, pose = scene_with_vehicles(ground)
    print(f"baseline (numpy exp+sum over 1M floats): {baseline(args.repeats):.2f} ms")

    instance = CameraSensor("instance_segmentation", 320, 240, 90.0).image(scene, pose)
    ids = instance[..., 1].astype(int) + 256 * instance[..., 0].astype(int)
    visible_ids = len(set(np.unique(ids).tolist()) & set(scene.ids.tolist()))
    print(f"scene: {len(scene.ids)} vehicles, {visible_ids} visible in a 320x240 instance image")

    for width, height in [(84, 84), (320, 240)]:
        for kind in ("rgb", "depth", "semantic_segmentation"):
            camera = CameraSensor(kind, width, height, 90.0)
            visible = int((camera.image(scene, pose)[..., 2] == 14).sum()) if kind != "rgb" else 0
            ms = ms_per_call(lambda c=camera: c.measure(scene, pose), args.repeats)
            note = f" ({visible} vehicle pixels)" if kind == "semantic_segmentation" else ""
            print(f"camera {kind:22s} {width}x{height}: {ms:6.2f} ms/frame{note}")

    crowded = with_traffic_around(scene, ground)
    for width, height in [(84, 84), (320, 240)]:
        camera = CameraSensor("rgb", width, height, 90.0)
        ms = ms_per_call(lambda c=camera: c.measure(crowded, pose), args.repeats)
        print(
            f"camera rgb {width}x{height}, {len(crowded.ids)} vehicles on the map: {ms:6.2f} ms/frame"
        )

    settings = LidarSettings(
        channels=32,
        range=100.0,
        points_per_second=100_000,
        rotation_frequency=10.0,
        dropoff_general_rate=0.0,
    )
    lidar = LidarSensor(settings)
    ticks_per_sweep = round(1.0 / settings.rotation_frequency / scene.delta_seconds)
    t = [scene.timestamp]

    def sweep() -> None:
        for _ in range(ticks_per_sweep):
            t[0] += scene.delta_seconds
            lidar.measure(Scene(**{**scene.__dict__, "timestamp": t[0]}), pose)

    ms = ms_per_call(sweep, max(args.repeats // 2, 1))
    points, counts, _ = lidar.scan(Scene(**{**scene.__dict__, "timestamp": t[0] + 0.05}), pose)
    print(
        f"lidar 32 ch, 100k pts/s, 10 Hz: {ms:6.2f} ms/sweep ({ticks_per_sweep} ticks of "
        f"{scene.delta_seconds * 1000:.0f} ms; {len(points)} hits of {5000} rays in the last tick)"
    )
    if args.server:
        server_ticks(args.ticks)


if __name__ == "__main__":
    main()
