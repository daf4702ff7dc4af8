"""Bird's-eye view: milliseconds per frame, ours against carla-birdeye-view and a pygame render.

All three renderers draw the same map and the same moving actors (a hero driving along its lane
and N vehicles driving along theirs, all within ~40 m), in one process, one after another:

- ours: rllib_integration.sensors.birdview (cached static raster, one warpAffine, box fills),
  192x192, in `rgb` mode (the original's picture) and in `masks` mode (9 layers);
- deepsense-ai `carla-birdeye-view` 1.1.1: BirdViewProducer.produce() (9 masks) fed with a real
  offline carla.Map and duck-typed world/actors, as its README's API expects;
- a straightforward pygame render like the original rllib-integration BirdView: blit the cached
  map surface around the hero, draw the actors' polygons, rotozoom, crop, surfarray copy.

It also prints the first-use cost of the static layers (ours and carla-birdeye-view's), and
then, on the embedded server through the real `carla` client with the same map and N parked
vehicles around a hero that drives along its lane, the whole cost of our sensor's tick (world
snapshot read included) against carla-birdeye-view's produce() on the same live world
(`--no-live` skips that part).

Benchmark-only dependencies (not in requirements*.txt):
    .venv/bin/pip install --no-deps carla-birdeye-view==1.1.1   # its numpy/opencv pins don't build
    .venv/bin/pip install pygame                                # optional: the pygame baseline
Run from the repository root:
    .venv/bin/python benchmarks/bird_view.py [--map Town03] [--vehicles 20] [--frames 300]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import carla  # noqa: E402
from embedded_server import embedded_server  # noqa: E402

from rllib_integration.sensors.birdview import cache, palette  # noqa: E402
from rllib_integration.sensors.birdview.maps import static_map_for_xodr  # noqa: E402
from rllib_integration.sensors.birdview.renderer import BirdViewRenderer, Boxes  # noqa: E402
from rllib_integration.sensors.birdview.settings import BirdViewSettings  # noqa: E402

TOWNS = ROOT.parent / "shared" / "maps" / "carla"
SIZE = 192
PPM = 5  # carla-birdeye-view takes an integer
STEP_M = 0.5  # how far every actor drives per frame
HERO_EXTENT = (2.4, 1.05)
CAR_EXTENT = (2.3, 1.0)


# ---------------------------------------------------------------- the scene


def load_map(name: str) -> tuple[str, str]:
    path = TOWNS / f"{name}.xodr"
    if path.is_file():
        return name, path.read_text()
    from rllib_integration.embedded.maps.catalog import builtin_xodr

    print(f"{path} not found: using the built-in town Loop01")
    return "Loop01", builtin_xodr("Loop01")


def trajectories(carla_map, vehicles: int, frames: int, seed: int = 0) -> np.ndarray:
    """(frames, 1 + vehicles, 3) x, y, yaw: the hero first, each actor driving its own lane."""
    rng = np.random.default_rng(seed)
    waypoints = [w for w in carla_map.generate_waypoints(2.0) if not w.is_junction]
    locations = np.array([[w.transform.location.x, w.transform.location.y] for w in waypoints])
    centre = locations.mean(axis=0)
    hero = waypoints[int(np.argmin(np.linalg.norm(locations - centre, axis=1)))]
    close = np.flatnonzero(
        np.linalg.norm(locations - locations[waypoints.index(hero)], axis=1) < 40
    )
    near = [i for i in close if waypoints[i].id != hero.id]
    chosen = rng.choice(near, size=vehicles, replace=len(near) < vehicles)
    current = [hero] + [waypoints[i] for i in chosen]
    out = np.zeros((frames, len(current), 3))
    for frame in range(frames):
        for k, wp in enumerate(current):
            t = wp.transform
            out[frame, k] = (t.location.x, t.location.y, t.rotation.yaw)
            following = wp.next(STEP_M)
            current[k] = following[int(rng.integers(len(following)))] if following else wp
    return out


def timed_round_robin(renderers: dict, frames: int, rounds: int = 10) -> dict[str, list[float]]:
    """ms per call of each renderer, taking turns in short rounds so that the load of a shared
    machine falls on all of them alike."""
    for render in renderers.values():
        for i in range(10):  # warm-up
            render(i)
    times: dict[str, list[float]] = {name: [] for name in renderers}
    per_round = max(1, frames // rounds)
    for r in range(rounds):
        for name, render in renderers.items():
            for i in range(r * per_round, (r + 1) * per_round):
                start = time.perf_counter()
                render(i)
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


# ---------------------------------------------------------------- ours


def ours(static, poses: np.ndarray, mode: str):
    layers = palette.DEFAULT_MASK_LAYERS if mode == "masks" else ()
    renderer = BirdViewRenderer(static, BirdViewSettings(SIZE, PPM, mode=mode, layers=layers))
    n = poses.shape[1] - 1
    extents = np.tile(CAR_EXTENT, (n, 1))
    kinds = np.zeros(n, np.uint8)
    hero_extent = np.array([HERO_EXTENT])

    def render(i: int) -> np.ndarray:
        pose = poses[i % len(poses)]
        x, y, yaw = pose[0]
        hero = Boxes(pose[:1, :2], pose[:1, 2], hero_extent)
        actors = Boxes(pose[1:, :2], pose[1:, 2], extents, kinds)
        return renderer.render((x, y), yaw, hero, actors)

    return render


# ---------------------------------------------------------------- carla-birdeye-view


def alias_cv2_cv2() -> None:
    """carla-birdeye-view imports cv2.cv2 (OpenCV < 4.5.4): make that name the cv2 module."""
    import cv2

    sys.modules.setdefault("cv2.cv2", cv2)
    vars(cv2)["cv2"] = cv2


def birdeye(carla_map, poses: np.ndarray, crop: str, workdir: Path):
    alias_cv2_cv2()
    from carla_birdeye_view import BirdViewCropType, BirdViewProducer, PixelDimensions

    class Snap:
        def __init__(self, actor_id):
            self.id = actor_id

    class Actor:
        def __init__(self, actor_id, extent, role):
            self.id, self.type_id = actor_id, "vehicle.audi.a2"
            self.attributes = {"role_name": role}
            self.bounding_box = carla.BoundingBox(
                carla.Location(0, 0, 0.8), carla.Vector3D(extent[0], extent[1], 0.8)
            )
            self.transform = carla.Transform()

        def get_transform(self):
            return self.transform

        def get_location(self):
            return self.transform.location

    class World:
        def __init__(self, actors):
            self.actors = {a.id: a for a in actors}

        def get_map(self):
            return carla_map

        def get_snapshot(self):
            return [Snap(i) for i in self.actors]

        def get_actor(self, actor_id):
            return self.actors.get(actor_id)

    class Client:
        def __init__(self, world):
            self.world = world

        def get_world(self):
            return self.world

    actors = [Actor(1, HERO_EXTENT, "hero")]
    actors += [Actor(i + 2, CAR_EXTENT, "autopilot") for i in range(poses.shape[1] - 1)]
    crop_type = getattr(BirdViewCropType, crop)
    with chdir(workdir):  # it caches under ./birdview_v2_cache
        start = time.perf_counter()
        producer = BirdViewProducer(
            Client(World(actors)), PixelDimensions(width=SIZE, height=SIZE), PPM, crop_type
        )
        init_seconds = time.perf_counter() - start
    # transforms are built outside the timed call: a live world would hand them over
    transforms = [
        [carla.Transform(carla.Location(x, y, 0), carla.Rotation(yaw=yaw)) for x, y, yaw in pose]
        for pose in poses
    ]

    def render(i: int) -> np.ndarray:
        for actor, transform in zip(actors, transforms[i % len(poses)], strict=True):
            actor.transform = transform
        return producer.produce(agent_vehicle=actors[0])

    return render, init_seconds, producer


@contextlib.contextmanager
def chdir(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# ---------------------------------------------------------------- pygame, like the original


def pygame_like_original(static, poses: np.ndarray):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame  # surfaces, drawing and rotozoom need no display and no pygame.init()

    full = palette.static_rgb_lut()[static.raster][:, :, 0]  # (H, W, 3) the whole map
    map_surface = pygame.surfarray.make_surface(np.ascontiguousarray(full.swapaxes(0, 1)))
    side = int(math.ceil(SIZE * math.sqrt(2)))  # room to rotate without black corners
    work = pygame.Surface((side, side))
    ox, oy = static.origin
    radius = SIZE / (2 * PPM)

    def to_px(x, y):
        return ((x - ox) * PPM, (y - oy) * PPM)

    def render(i: int) -> np.ndarray:
        pose = poses[i % len(poses)]
        hx, hy, hyaw = pose[0]
        rad = math.radians(hyaw)
        cx, cy = to_px(hx + radius / 2 * math.cos(rad), hy + radius / 2 * math.sin(rad))
        left, top = int(cx - side / 2), int(cy - side / 2)
        work.fill(palette.BACKGROUND)
        work.blit(map_surface, (0, 0), pygame.Rect(left, top, side, side))
        for k, (x, y, yaw) in enumerate(pose):
            ex, ey = HERO_EXTENT if k == 0 else CAR_EXTENT
            c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
            corners = []
            for fx, fy in ((ex, ey), (ex, -ey), (-ex, -ey), (-ex, ey)):
                px, py = to_px(x + fx * c - fy * s, y + fx * s + fy * c)
                corners.append((px - left, py - top))
            pygame.draw.polygon(work, palette.HERO if k == 0 else palette.VEHICLE, corners)
        rotated = pygame.transform.rotozoom(work, hyaw + 90.0, 1.0)
        w, h = rotated.get_size()
        view = rotated.subsurface(pygame.Rect((w - SIZE) // 2, (h - SIZE) // 2, SIZE, SIZE))
        return pygame.surfarray.array3d(view).swapaxes(0, 1)

    return render


# ---------------------------------------------------------------- live: the real client


def live(map_name: str, vehicles: int, frames: int, cache_dir: Path, birdeye_dir: Path) -> dict:
    """Per-frame cost on the embedded server through the real carla client: our sensor's whole
    tick (snapshot read + render) against carla-birdeye-view's produce() on the same world."""
    import types

    from rllib_integration.sensors.birdview.sensor import BirdViewSensor
    from rllib_integration.sim_view import SimulatorView

    map_dir = ["--map-dir", str(TOWNS)] if TOWNS.is_dir() else []
    with embedded_server(map_name, map_dir) as (port, _):
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(30.0)
        world = client.get_world()
        settings = world.get_settings()
        settings.synchronous_mode, settings.fixed_delta_seconds = True, 0.05
        world.apply_settings(settings)
        carla_map = world.get_map()
        points = carla_map.get_spawn_points()
        where = np.array([[p.location.x, p.location.y] for p in points])
        start = points[int(np.argmin(np.linalg.norm(where - where.mean(axis=0), axis=1)))]
        library = world.get_blueprint_library()
        hero_bp = library.find("vehicle.tesla.model3")
        hero_bp.set_attribute("role_name", "hero")
        hero = world.spawn_actor(hero_bp, start)
        order = np.argsort(np.linalg.norm(where - [start.location.x, start.location.y], axis=1))
        npcs: list[Any] = []  # carla.Actor
        for index in order[1:]:
            if len(npcs) == vehicles:
                break
            npc = world.try_spawn_actor(library.find("vehicle.audi.a2"), points[index])
            if npc is not None:
                npcs.append(npc)
        world.tick()
        view = SimulatorView(
            types.SimpleNamespace(
                client=client, world=world, map=carla_map, hero=hero, frame=0, timestep=0.05
            )
        )
        sensors = {
            mode: BirdViewSensor(
                mode, {"mode": mode, "pixels_per_meter": PPM, "cache_dir": str(cache_dir)}, view
            )
            for mode in ("rgb", "masks")
        }
        route = [carla_map.get_waypoint(start.location)]
        for _ in range(60):  # 30 m of lane, driven back and forth amid the parked cars
            route.append(route[-1].next(STEP_M)[0])
        producer = None
        try:
            alias_cv2_cv2()
            from carla_birdeye_view import BirdViewCropType, BirdViewProducer, PixelDimensions

            # its cache file name embeds map.name ('Carla/Maps/Town03'): make those folders
            folder = birdeye_dir / "birdview_v2_cache" / Path(carla_map.name).parent
            folder.mkdir(parents=True, exist_ok=True)
            for built in (birdeye_dir / "birdview_v2_cache").glob(f"{map_name}__*.npy"):
                with contextlib.suppress(FileExistsError):  # same OpenDRIVE: reuse its cache
                    (folder / built.name).symlink_to(built)
            with chdir(birdeye_dir):
                producer = BirdViewProducer(
                    client,
                    PixelDimensions(width=SIZE, height=SIZE),
                    PPM,
                    BirdViewCropType.FRONT_AND_REAR_AREA,
                )
        except ImportError:
            pass
        names = ["ours: sensor tick, rgb", "ours: sensor tick, masks"]
        names += ["carla-birdeye-view produce()"] if producer else []
        times: dict[str, list[float]] = {name: [] for name in names}
        seen = []
        # one pass per renderer along the same drive, as in an env process that has only one:
        # interleaving them would let carla-birdeye-view's 77 MB of masks evict our raster
        for name in names:
            for i in range(frames + 10):
                hero.set_transform(route[abs((i % 118) - 59)].transform)
                frame = world.tick()
                started = time.perf_counter()
                if name.startswith("ours"):
                    # the snapshot read is counted: CarlaCore reads one per tick for all sensors
                    sensor = sensors[name.rsplit(" ", 1)[-1]]
                    image = sensor.tick(frame, world.get_snapshot())
                else:  # listed only with a producer
                    assert producer is not None
                    producer.produce(agent_vehicle=hero)
                if i >= 10:
                    times[name].append((time.perf_counter() - started) * 1e3)
                    if name.startswith("ours") and sensor.settings.mode == "masks":
                        seen.append(image[..., sensor.layers.index("vehicles")].any())
        for actor in npcs + [hero]:
            actor.destroy()
        print(
            f"  ({len(npcs)} vehicles spawned; some in view in {100 * np.mean(seen):.0f} % of frames)"
        )
        return times


# ---------------------------------------------------------------- main


def summary(name: str, times: list[float]) -> tuple[str, float]:
    median = statistics.median(times)
    p90 = float(np.percentile(times, 90))
    print(
        f"  {name:<44} median {median:7.3f} ms   mean {statistics.fmean(times):7.3f}   p90 {p90:7.3f}"
    )
    return name, median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="Town03")
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--no-live", action="store_true", help="skip the embedded-server part")
    args = parser.parse_args()

    name, xodr = load_map(args.map)
    carla_map = carla.Map(name, xodr)
    poses = trajectories(carla_map, args.vehicles, args.frames)
    print(
        f"map {name}, hero + {args.vehicles} vehicles within ~40 m, {args.frames} frames, "
        f"{SIZE}x{SIZE} px at {PPM} px/m; cv2 threads {__import__('cv2').getNumThreads()}"
    )

    with tempfile.TemporaryDirectory(prefix="bev-bench-") as tmp_name:
        tmp = Path(tmp_name)
        print("\nfirst use (static layers of the whole map):")
        cold = static_map_for_xodr(name, xodr, PPM, tmp / "ours")
        cache.clear_memory()
        warm = static_map_for_xodr(name, xodr, PPM, tmp / "ours")
        size_mb = cold.path.stat().st_size / 1e6
        raster = cold.static.raster
        print(
            f"  ours: build {cold.seconds:.2f} s (geometry + raster + write, {raster.shape[1]}x"
            f"{raster.shape[0]} px, {size_mb:.1f} MB); from disk {warm.seconds * 1e3:.0f} ms; "
            f"a reset in the same process ~0 ms (memory)"
        )
        static = warm.static

        renderers = {
            "ours, rgb (original palette)": ours(static, poses, "rgb"),
            "ours, masks (9 layers)": ours(static, poses, "masks"),
        }
        print("\ncarla-birdeye-view, first use:")
        try:
            render, cold_init, producer = birdeye(carla_map, poses, "FRONT_AND_REAR_AREA", tmp)
            _, warm_init, _ = birdeye(carla_map, poses, "FRONT_AND_REAR_AREA", tmp)
            front, _, _ = birdeye(carla_map, poses, "FRONT_AREA_ONLY", tmp)
            npy = next((tmp / "birdview_v2_cache").glob("*.npy"))
            print(
                f"  init {cold_init:.2f} s cold (whole-map cache build), {warm_init:.2f} s "
                f"with its cache of {npy.stat().st_size / 1e6:.1f} MB"
            )
            renderers["carla-birdeye-view produce(), FRONT_AND_REAR"] = render
            renderers["carla-birdeye-view produce(), FRONT_AREA_ONLY"] = front
            renderers["carla-birdeye-view produce() + as_rgb()"] = lambda i: producer.as_rgb(
                render(i)
            )
        except ImportError as error:
            print(
                f"  carla-birdeye-view not installed ({error}); see the header for how to install"
            )
        try:
            renderers["pygame render like the original"] = pygame_like_original(static, poses)
        except ImportError as error:
            print(f"  pygame not installed ({error}); see the header for how to install")

        print("\nper frame (renderers take turns in 10 rounds):")
        times = timed_round_robin(renderers, args.frames)
        rows = [summary(name, values) for name, values in times.items()]

        if not args.no_live:
            print(f"\nlive, on the embedded server ({name}) through the real carla client:")
            try:
                live_times = live(name, args.vehicles, args.frames, tmp / "ours", tmp)
            except (RuntimeError, OSError) as error:
                print(f"  skipped: {error}")
            else:
                live_rows = dict(summary(n, values) for n, values in live_times.items())
                theirs = live_rows.get("carla-birdeye-view produce()")
                if theirs:
                    for n in ("ours: sensor tick, rgb", "ours: sensor tick, masks"):
                        print(f"  speed-up of {n}: {theirs / live_rows[n]:.1f}x")

    medians = dict(rows)
    ours_rgb, ours_masks = (
        medians["ours, rgb (original palette)"],
        medians["ours, masks (9 layers)"],
    )
    print("\nspeed-up of ours (median against median):")
    for other, value in medians.items():
        if not other.startswith("ours"):
            print(
                f"  vs {other:<44} rgb {value / ours_rgb:5.1f}x   masks {value / ours_masks:5.1f}x"
            )
    worst = max(ours_rgb, ours_masks)
    print(
        f"\naim <= 0.5 ms per 192x192 frame with {args.vehicles} vehicles: "
        f"{'met' if worst <= 0.5 else 'NOT met'} (worst of ours: {worst:.3f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
