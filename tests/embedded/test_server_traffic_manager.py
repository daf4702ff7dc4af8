"""CARLA's client-side Traffic Manager drives NPCs on the embedded server in synchronous mode."""

import pytest

from tests.conftest import CARLA_TOWNS, free_port_block, start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, run_tm_script

TOWN01 = CARLA_TOWNS / "Town01.xodr"

TM_DRIVE = """
import random
tm_port = {tm_port}
n_vehicles, n_ticks = {n_vehicles}, {n_ticks}
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(0)
random.seed(0)
blueprints = [b for b in library.filter("vehicle.*") if b.get_attribute("number_of_wheels").as_int() == 4]
points = list(spawn_points)
random.shuffle(points)
SpawnActor, SetAutopilot, FutureActor = carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor
batch = [SpawnActor(random.choice(blueprints), p).then(SetAutopilot(FutureActor, True, tm_port))
         for p in points[:n_vehicles]]
responses = client.apply_batch_sync(batch, False)  # no tick here: it would hold the GIL
errors = [r.error for r in responses if r.error]
ids = [r.actor_id for r in responses if not r.error]
world.tick()
last = {{a.id: a.get_location() for a in world.get_actors(ids)}}
travelled = dict.fromkeys(ids, 0.0)
longest_stop = dict.fromkeys(ids, 0)
stopped = dict.fromkeys(ids, 0)
for k in range(n_ticks):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
    if k % 10 == 0:
        for a in world.get_actors(ids):
            loc = a.get_location()
            step = loc.distance(last[a.id])
            travelled[a.id] += step
            last[a.id] = loc
            stopped[a.id] = stopped[a.id] + 10 if step < 0.05 else 0
            longest_stop[a.id] = max(longest_stop[a.id], stopped[a.id])
alive = [a.id for a in world.get_actors(ids)]
result(errors=errors, spawned=len(ids), alive=len(alive),
       min_travel=min(travelled.values()), median_travel=sorted(travelled.values())[len(ids) // 2],
       longest_stop_ticks=max(longest_stop.values()))
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], False)
client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
"""


def _drive(server, n_vehicles: int, n_ticks: int, timeout: float) -> dict:
    body = TM_DRIVE.format(tm_port=free_port_block(1), n_vehicles=n_vehicles, n_ticks=n_ticks)
    r = run_tm_script(server, body, timeout)
    assert r["errors"] == [] and r["spawned"] == n_vehicles
    assert r["alive"] == n_vehicles, "the Traffic Manager deleted vehicles"
    print(f"TM drive result: {r}")
    assert_no_unknown_rpc(server)
    return r


def test_apply_batch_sync_spawn_with_autopilot_drives():
    with start_embedded_server() as server:
        r = _drive(server, n_vehicles=10, n_ticks=300, timeout=120)
    # 300 ticks = 15 s at 20 Hz: every NPC moves, none is blocked for long.
    assert r["min_travel"] > 20.0, r
    assert r["longest_stop_ticks"] < 200, r


def _town_server(town: str):
    if town == "Town01" and not TOWN01.exists():
        pytest.skip("Town01.xodr not available")
    args = ("--map-dir", str(TOWN01.parent)) if town == "Town01" else ()
    return start_embedded_server(*args, map_name=town)


@pytest.mark.parametrize(
    "town",
    [
        "Loop01",
        "Town01",
        pytest.param("Grid01", marks=pytest.mark.slow),
        pytest.param("Highway01", marks=pytest.mark.slow),
        pytest.param("Roundabout01", marks=pytest.mark.slow),
    ],
)
def test_thirty_tm_vehicles_drive_2000_ticks(town):
    with _town_server(town) as server:
        r = _drive(server, n_vehicles=30, n_ticks=2000, timeout=600)
    assert r["min_travel"] > 50.0, r
    # Nobody stuck: no vehicle stands still for 60 s of simulated time (TM removes at 90 s).
    assert r["longest_stop_ticks"] < 1200, r


def test_hybrid_mode_teleported_npcs_report_their_velocity():
    body = f"""
import random
tm_port = {free_port_block(1)}
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_hybrid_physics_mode(True)
tm.set_hybrid_physics_radius(20.0)
points = list(spawn_points)
random.seed(2)
random.shuffle(points)
hero_bp = library.find("vehicle.tesla.model3")
hero_bp.set_attribute("role_name", "hero")
hero = world.spawn_actor(hero_bp, points[0])
SpawnActor, SetAutopilot, FutureActor = carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor
batch = [SpawnActor(library.find("vehicle.audi.a2"), p).then(SetAutopilot(FutureActor, True, tm_port))
         for p in points[1:13]]
ids = [r.actor_id for r in client.apply_batch_sync(batch, False) if not r.error]
world.tick()
start = {{a.id: a.get_location() for a in world.get_actors(ids)}}
for k in range(300):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
actors = list(world.get_actors(ids))
moved = [a.get_location().distance(start[a.id]) for a in actors]
speeds = [a.get_velocity().length() for a in actors]
result(alive=len(actors), moved=sorted(moved), speeds=sorted(speeds))
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], False)
"""
    with start_embedded_server(map_name="Grid01") as server:
        r = run_tm_script(server, body, timeout=180)
        assert_no_unknown_rpc(server)
    assert r["alive"] == 12
    assert sorted(r["moved"])[6] > 30.0, r  # most NPCs travel (teleported by the TM)
    assert max(r["speeds"]) > 3.0, r  # and the episode state carries their speed
