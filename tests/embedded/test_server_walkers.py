"""Walkers through the real client: the navigation mesh it downloads, random navigation points,
`controller.ai.walker` walking to targets across streets at crosswalks, vehicles hitting walkers,
and generate_traffic.py-style crowds next to Traffic Manager vehicles.

The client runs in a subprocess (it segfaults on a malformed mesh) with its own download cache
(`CARLA_CACHE_DIR`), so every test fetches the mesh from the server; the test then reads the same
file back to know where the crosswalks are.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from tests.client_watch import run_watched_client
from tests.conftest import (
    CARLA_TOWNS,
    client_code,
    free_port_block,
    start_embedded_server,
)
from tests.embedded.helpers import (
    SYNC_PRELUDE,
    assert_no_unknown_rpc,
    parse_result,
    run_tm_script,
)
from tests.embedded.navigation.helpers import CROSSWALK, SIDEWALK, MeshView

ON_SIDEWALK = """
def surface(loc):
    # What the map has at loc: a sidewalk lane, a junction, no lane at all, or another lane type.
    if carla_map.get_waypoint(loc, project_to_road=False, lane_type=carla.LaneType.Sidewalk):
        return "sidewalk"
    wp = carla_map.get_waypoint(loc, project_to_road=False, lane_type=carla.LaneType.Any)
    return "none" if wp is None else "junction" if wp.is_junction else str(wp.lane_type)
def driving_lane(loc):
    wp = carla_map.get_waypoint(loc, project_to_road=False, lane_type=carla.LaneType.Driving)
    return wp is not None and not wp.is_junction
"""


def run_walkers(server, body: str, cache: Path, timeout: float = 240.0) -> dict:
    code = client_code(server, SYNC_PRELUDE + ON_SIDEWALK + body, timeout=20.0)
    proc = run_watched_client(code, timeout, env={"CARLA_CACHE_DIR": str(cache)})
    return parse_result(server, proc)


def downloaded_mesh(cache: Path) -> MeshView:
    (path,) = cache.glob("*/Carla/Maps/Nav/*.bin")
    return MeshView(path.read_bytes())


RANDOM_POINTS = """
world.tick()  # the client downloads and loads the mesh on its first tick
points = [world.get_random_location_from_navigation() for _ in range(300)]
found = [p for p in points if p is not None]
result(
    found=len(found),
    surfaces=[surface(p) for p in found],
    points=[[p.x, p.y, p.z] for p in found],
    ground=[carla_map.get_waypoint(p).transform.location.z for p in found[:20]],
)
"""


def check_random_points(r: dict, mesh: MeshView) -> None:
    assert r["found"] == 300
    # On sidewalk lanes, or on the paved corners between them that CARLA's towns model in their
    # meshes (OpenDRIVE has no lane there; some reach into the junction): never on a road lane.
    surfaces = collections.Counter(r["surfaces"])
    assert set(surfaces) <= {"sidewalk", "none", "junction"}, surfaces
    assert surfaces["sidewalk"] >= 0.85 * 300, surfaces
    assert all(mesh.area_at(x, y, tolerance=0.01) & {SIDEWALK} for x, y, _ in r["points"])
    for (_, _, z), ground in zip(r["points"], r["ground"], strict=False):
        assert z == pytest.approx(ground, abs=0.05)  # on the ground: the walker's feet


def test_random_navigation_points_lie_on_sidewalks_of_a_builtin_town(tmp_path):
    with start_embedded_server(map_name="Grid01") as server:
        r = run_walkers(server, RANDOM_POINTS, tmp_path)
        check_random_points(r, downloaded_mesh(tmp_path))
        assert_no_unknown_rpc(server)


@pytest.mark.skipif(
    not (CARLA_TOWNS / "Town01.xodr").exists(), reason=f"CARLA's towns not found at {CARLA_TOWNS}"
)
def test_random_navigation_points_lie_on_sidewalks_of_town01(tmp_path):
    with start_embedded_server("--map-dir", str(CARLA_TOWNS), map_name="Town01") as server:
        r = run_walkers(server, RANDOM_POINTS, tmp_path)
        check_random_points(r, downloaded_mesh(tmp_path))


NEXT_MAP = """
world.tick()
first = world.get_random_location_from_navigation()
world = client.load_world("Loop01")
settings = world.get_settings()
settings.synchronous_mode, settings.fixed_delta_seconds = True, 0.05
world.apply_settings(settings)
carla_map = world.get_map()
world.tick()  # a new episode: the client asks for the new map's mesh
points = [world.get_random_location_from_navigation() for _ in range(100)]
result(first=first is not None, surfaces=[surface(p) for p in points if p is not None])
"""


def test_each_map_loaded_gets_its_own_mesh(tmp_path):
    with start_embedded_server(map_name="Grid01") as server:
        r = run_walkers(server, NEXT_MAP, tmp_path)
    assert r["first"]
    assert len(r["surfaces"]) == 100 and set(r["surfaces"]) <= {"sidewalk", "none", "junction"}
    names = sorted(p.name.split("_")[0] for p in tmp_path.glob("*/Carla/Maps/Nav/*.bin"))
    assert names == ["Grid01", "Loop01"]


# Ten walkers on Grid01 (streets every 100 m, sidewalks 4.5-7.5 m off a street's centre line),
# each 15 m from a junction, sent to the point straight across its street: with the default
# crossing factor (0) no walker may step on a road, so each must use the crosswalk at the junction.
GRID_CROSSINGS = [
    ("x", -25.0, 50.0), ("x", 75.0, 50.0), ("x", 25.0, -50.0), ("x", -75.0, -50.0),
    ("x", -25.0, 150.0), ("x", 25.0, -150.0),
    ("y", -25.0, 50.0), ("y", 75.0, 50.0), ("y", 25.0, -50.0), ("y", -75.0, -50.0),
]  # fmt: skip

# The crowd counts a target reached 1 m away (its own step included) and then walks elsewhere.
REACHED_M = 1.3
REACH_TARGETS = f"""
crossings = {GRID_CROSSINGS!r}
world.tick()
starts, targets = [], []
for axis, along, street in crossings:
    pair = [(along, street + side) if axis == "x" else (street + side, along) for side in (6, -6)]
    starts.append(carla.Location(pair[0][0], pair[0][1], 1.0))
    targets.append(carla.Location(pair[1][0], pair[1][1], 0.0))
walkers = [world.spawn_actor(library.find("walker.pedestrian.%04d" % (i + 1)), carla.Transform(s))
           for i, s in enumerate(starts)]
world.tick()
controller_bp = library.find("controller.ai.walker")
controllers = [world.spawn_actor(controller_bp, carla.Transform(), w) for w in walkers]
world.tick()
for controller, target in zip(controllers, targets):
    controller.start()
    controller.go_to_location(target)
    controller.set_max_speed(1.4)
tracks = [[] for _ in walkers]
closest = [1e9] * len(walkers)
max_step = 0.0
for tick in range(3000):
    world.tick()
    progress[0], progress[1] = tick + 1, time.monotonic()
    for i, walker in enumerate(walkers):
        loc = walker.get_location()
        if tracks[i]:
            max_step = max(max_step, math.dist(tracks[i][-1][:2], (loc.x, loc.y)))
        tracks[i].append((loc.x, loc.y, loc.z))
        closest[i] = min(closest[i], math.dist((loc.x, loc.y), (targets[i].x, targets[i].y)))
    if tick == 20:  # walking along the sidewalk, what the snapshot says of their gait
        gait = [(w.get_control().speed, w.get_velocity().length()) for w in walkers]
    if max(closest) < {REACHED_M}:
        break
on_road = [[p for p in track if driving_lane(carla.Location(*p))] for track in tracks]
result(ticks=tick + 1, closest=closest, gait=gait, max_step=max_step, on_road=on_road,
       z=[t[-1][2] for t in tracks], alive=len(world.get_actors().filter("walker.*")))
"""


def test_ai_walkers_reach_targets_across_streets_by_the_crosswalks(tmp_path):
    with start_embedded_server(map_name="Grid01") as server:
        r = run_walkers(server, REACH_TARGETS, tmp_path, timeout=400.0)
        mesh = downloaded_mesh(tmp_path)
    # Each reached its target (the crowd counts it reached within 1 m, then walks on elsewhere) ...
    assert max(r["closest"]) < REACHED_M, r["closest"]
    # ... walking, never jumping: at most 1.4 m/s (plus the crowd's 5 % slack) per 50 ms tick ...
    assert r["max_step"] < 1.4 * 1.05 * 0.05 + 0.01
    # ... crossing its street, and only where the mesh has a crosswalk.
    assert all(on_road for on_road in r["on_road"])
    for track in r["on_road"]:
        for x, y, _ in track:
            assert CROSSWALK in mesh.area_at(x, y, tolerance=0.35), (x, y)
    # Speed and WalkerControl (what `walker.get_control()` reads) follow the crowd.
    for control_speed, speed in r["gait"]:
        assert control_speed == pytest.approx(1.4, abs=0.05) and speed == pytest.approx(
            1.4, abs=0.05
        )
    # The server puts the walker's centre its half height (0.91 m for adults) above the feet.
    assert all(0.5 < z < 1.0 for z in r["z"])
    assert r["alive"] == 10


HIT_WALKER = """
world.tick()
# Loop01's bottom side: the road along y = 100, its sidewalks at y = 104.5-107.5 and 92.5-95.5.
walker = world.spawn_actor(library.find("walker.pedestrian.0002"),
                           carla.Transform(carla.Location(20.0, 106.0, 1.0)))
world.tick()
controller = world.spawn_actor(library.find("controller.ai.walker"), carla.Transform(), walker)
world.tick()
controller.start()
controller.go_to_location(carla.Location(90.0, 106.0, 0.0))
hero = world.spawn_actor(library.find("vehicle.audi.a2"),
                         carla.Transform(carla.Location(60.0, 106.0, 0.5), carla.Rotation(yaw=180.0)))
events = []
sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
sensor.listen(lambda e: events.append((e.other_actor.id, e.other_actor.type_id)))
hero.apply_control(carla.VehicleControl(throttle=0.4))
walker_id, controller_id = walker.id, controller.id
for tick in range(400):
    world.tick()
    progress[0], progress[1] = tick + 1, time.monotonic()
    if events:
        break
hit_at = tick
hero.apply_control(carla.VehicleControl(brake=1.0))
for tick in range(260):  # CARLA removes a dead walker 10 s after it died
    world.tick()
    progress[0], progress[1] = tick + 1, time.monotonic()
ids = {a.id for a in world.get_actors()}
result(events=sorted(set(events)), walker=walker_id, hit_at=hit_at,
       walker_left=walker_id not in ids, controller_left=controller_id not in ids)
"""


def test_a_vehicle_hitting_an_ai_walker_reports_the_walker_and_kills_it(tmp_path):
    with start_embedded_server() as server:
        r = run_walkers(server, HIT_WALKER, tmp_path)
    assert r["events"] == [[r["walker"], "walker.pedestrian.0002"]], r
    assert r["controller_left"]  # the client's crowd saw the walker die and dropped its AI
    assert r["walker_left"]  # the server removed the body 10 s later, as CARLA does


GENERATE_TRAFFIC = """
import os, random
rng = random.Random(3)
tm_port = int(os.environ["TM_PORT"])
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(3)
cars = [b for b in library.filter("vehicle.*") if b.get_attribute("number_of_wheels").as_int() == 4]
SpawnActor, FutureActor = carla.command.SpawnActor, carla.command.FutureActor
batch = [SpawnActor(rng.choice(cars), p).then(carla.command.SetAutopilot(FutureActor, True, tm_port))
         for p in rng.sample(spawn_points, 30)]
vehicles = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
world.set_pedestrians_cross_factor(0.2)
batch = []
for _ in range(60):
    loc = world.get_random_location_from_navigation()
    loc.z += 1.0
    batch.append(SpawnActor(rng.choice(library.filter("walker.pedestrian.*")), carla.Transform(loc)))
walkers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
batch = [SpawnActor(library.find("controller.ai.walker"), carla.Transform(), w) for w in walkers]
controllers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
world.tick()
for controller in world.get_actors(controllers):
    controller.start()
    controller.go_to_location(world.get_random_location_from_navigation())
    controller.set_max_speed(1.0 + rng.random())
start = {a.id: a.get_location() for a in world.get_actors(walkers)}
for tick in range(3000):
    world.tick()
    progress[0], progress[1] = tick + 1, time.monotonic()
now = {a.id: a.get_location() for a in world.get_actors(walkers)}
moved = [start[i].distance(now[i]) for i in now]
result(vehicles=len(vehicles), walkers=len(walkers), controllers=len(controllers),
       still_walkers=len(now), moved=sorted(moved),
       vehicles_left=len(world.get_actors().filter("vehicle.*")))
"""


def test_generate_traffic_style_crowd_and_tm_vehicles_run_3000_ticks(tmp_path):
    with start_embedded_server(map_name="Grid01") as server:
        env = {"CARLA_CACHE_DIR": str(tmp_path), "TM_PORT": str(free_port_block(1))}
        r = run_tm_script(server, GENERATE_TRAFFIC, timeout=400.0, env=env)
        assert_no_unknown_rpc(server)
        assert "Traceback" not in server.log()
    assert r["vehicles"] == 30 and r["walkers"] == 60 == r["controllers"]
    assert r["still_walkers"] >= 50, json.dumps(r)  # a few may die under a car, as in CARLA
    assert sorted(r["moved"])[len(r["moved"]) // 2] > 5.0  # the crowd walks
    assert r["vehicles_left"] >= 29
