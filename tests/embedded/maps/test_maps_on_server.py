"""The built-in towns served by the embedded server: the real client's Traffic Manager drives them.

A stall of the client's Traffic Manager inside ``world.tick()`` (carla#9172) fails the test with
the client's backtrace: the server recovers its lost wake-ups (protocol/tm_watchdog.py).
"""

from __future__ import annotations

import pytest

from rllib_integration.embedded.maps import BUILTIN_TOWNS, builtin_xodr, ground_model
from tests.conftest import free_port_block, start_embedded_server
from tests.embedded.helpers import run_tm_script


def drive(town: str, vehicles: int, ticks: int, timeout: float) -> dict:
    body = TM_LAPS.format(tm_port=free_port_block(1), n=vehicles, ticks=ticks)
    with start_embedded_server(map_name=town) as server:
        r = run_tm_script(server, body, timeout)
        # The server's Traffic Manager notes (pokes, lag), for a failure's message.
        r["tm_log"] = [line for line in server.log().splitlines() if "TM " in line][-10:]
        return r


TM_LAPS = """
import random
tm_port = {tm_port}
print("start", flush=True)
tm = client.get_trafficmanager(tm_port)
print("tm", flush=True)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(1)
random.seed(1)
bp = library.find("vehicle.tesla.model3")
points = list(spawn_points)
random.shuffle(points)
SpawnActor, SetAutopilot, FutureActor = carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor
responses = client.apply_batch_sync(
    [SpawnActor(bp, p).then(SetAutopilot(FutureActor, True, tm_port)) for p in points[:{n}]], False)
ids = [r.actor_id for r in responses if not r.error]
world.tick()
print("spawned", len(ids), flush=True)
last = {{a.id: a.get_location() for a in world.get_actors(ids)}}
travelled = dict.fromkeys(ids, 0.0)
start = {{i: (l.x, l.y) for i, l in last.items()}}
stopped = dict.fromkeys(ids, 0)
longest_stop = dict.fromkeys(ids, 0)
held = set()  # vehicles seen waiting at a red or yellow light
z = []
for k in range({ticks}):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
    if k % 20 == 0:
        print("tick", k, flush=True)
        for a in world.get_actors(ids):
            loc = a.get_location()
            step = loc.distance(last[a.id])
            travelled[a.id] += step
            last[a.id] = loc
            stopped[a.id] = stopped[a.id] + 20 if step < 0.05 else 0
            longest_stop[a.id] = max(longest_stop[a.id], stopped[a.id])
            z.append(loc.z)
            if a.is_at_traffic_light() and a.get_traffic_light_state().name in ("Red", "Yellow"):
                held.add(a.id)
actors = list(world.get_actors(ids))
result(map=carla_map.name, n_spawn_points=len(spawn_points), spawned=len(ids), alive=len(actors),
       min_travel=min(travelled.values()), longest_stop_ticks=max(longest_stop.values()),
       min_travel_not_held=min([d for i, d in travelled.items() if i not in held] or [1e9]),
       stuck_at=[start[i] for i, d in travelled.items() if d < 20.0 and i not in held],
       held=len(held),
       z_range=max(z) - min(z),
       spawn_z_range=max(p.location.z for p in spawn_points) - min(p.location.z for p in spawn_points))
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], False)
client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
"""


@pytest.mark.parametrize("town", sorted(BUILTIN_TOWNS))
def test_traffic_manager_drives_every_builtin_town(town):
    r = drive(town, vehicles=12, ticks=300, timeout=120)
    assert r["map"].endswith(town)
    assert r["n_spawn_points"] == len(ground_model(town, builtin_xodr(town)).spawn_points())
    assert r["spawned"] == r["alive"] == 12, "the Traffic Manager deleted vehicles (a dead end?)"
    # every vehicle drives (300 ticks = 15 s), unless a red light held it: Grid01's reds last 17 s
    assert r["min_travel_not_held"] > 20.0, (
        f"vehicles under 20 m from {r['stuck_at']} (min {r['min_travel_not_held']:.1f} m); "
        f"held at lights {r['held']}; server TM log: {r['tm_log']}"
    )
    assert r["held"] <= 6, r
    if town == "Highway01":  # the client sees the hill
        assert r["spawn_z_range"] == pytest.approx(8.0, abs=0.5), r


@pytest.mark.slow
@pytest.mark.parametrize("town", ["Highway01", "Roundabout01"])
def test_thirty_vehicles_for_2000_ticks(town):
    r = drive(town, vehicles=30, ticks=2000, timeout=400)
    assert r["spawned"] == r["alive"] == 30, r
    if town == "Highway01":
        assert r["z_range"] > 1.0, r  # vehicles drove over the hill
    assert r["min_travel"] > 100.0, r
    # Nobody stuck: no vehicle stands for 60 s of simulated time (the TM removes at 90 s).
    assert r["longest_stop_ticks"] < 1200, r
