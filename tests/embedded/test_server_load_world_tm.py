"""`client.load_world` while the client holds a Traffic Manager (the 0.9.16 client segfaulted).

The client drops its Episode during `load_world` while the TM worker thread keeps reading it; the
server's episode change (protocol/episode_switch.py) keeps the worker out of that window and lets
the TM rebuild itself on the new map. Each run is a fresh client process, since the failure was a
segfault of that process (60-95 % of runs before the fix).
"""

import pytest

from tests.client_watch import run_watched_client
from tests.conftest import client_code, free_port_block, run_client, start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, parse_result

TM_MAP_BUILT = "No InMemoryMap cache found"

LOAD_TWICE_THEN_DRIVE = """
import json, random, time
def result(**values):
    print("RESULT " + json.dumps(values) + "\\n", end="", flush=True)  # one write: see client_watch
tm_port = {tm_port}
tm = client.get_trafficmanager(tm_port)
library = world.get_blueprint_library()
car = library.find("vehicle.audi.a2")
# Asynchronous, with autopilot vehicles: the TM worker polls the server all the time.
old = [world.try_spawn_actor(car, p) for p in world.get_map().get_spawn_points()[:4]]
for v in old:
    if v is not None:
        v.set_autopilot(True, tm_port)
time.sleep(0.5)
# load_world returns once the new episode id is visible, which the 0.9.16 client stores before it
# marks its cached map stale (Episode::Listen: the light callbacks, an RPC, run in between), so
# get_map() right away may give the old map. The next state comes after that marking.
world = client.load_world("Grid01", reset_settings=False)
world.wait_for_tick()
first = world.get_map().name
world = client.load_world("Roundabout01")
world.wait_for_tick()
carla_map = world.get_map()
settings = world.get_settings()
settings.synchronous_mode = True
settings.fixed_delta_seconds = 0.05
world.apply_settings(settings)
tm.set_synchronous_mode(True)
points = carla_map.get_spawn_points()
random.seed(1)
random.shuffle(points)
SpawnActor, SetAutopilot, FutureActor = (
    carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor)
batch = [SpawnActor(car, p).then(SetAutopilot(FutureActor, True, tm_port)) for p in points[:8]]
ids = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
start = {{a.id: a.get_location() for a in world.get_actors(ids)}}
off_road = 0
for k in range({ticks}):
    world.tick()
    progress[:] = [k + 1, time.monotonic()]
    if k % 20 == 19:
        for a in world.get_actors(ids):
            wp = carla_map.get_waypoint(a.get_location(), project_to_road=False)
            off_road += wp is None
moved = sorted(a.get_location().distance(start[a.id]) for a in world.get_actors(ids))
result(first=first, map=carla_map.name, spawned=len(ids), moved=moved, off_road=off_road,
       old_alive=[v.id for v in world.get_actors() if v.type_id.startswith("vehicle.")
                  and v.id not in ids])
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], True)
"""


def _load_twice_then_drive(server, ticks: int) -> tuple[dict, str]:
    body = LOAD_TWICE_THEN_DRIVE.format(tm_port=free_port_block(1), ticks=ticks)
    proc = run_watched_client(client_code(server, body, timeout=30.0), timeout=240)
    assert proc.returncode == 0, (
        f"client died (exit {proc.returncode}) around load_world with a Traffic Manager\n"
        f"stderr:\n{proc.stderr[-4000:]}\nserver log:\n{server.log()[-3000:]}"
    )
    return parse_result(server, proc), proc.stderr


@pytest.mark.parametrize("run", [1, 2])
def test_traffic_manager_survives_two_load_worlds_and_drives_the_new_map(run):
    with start_embedded_server() as server:
        r, stderr = _load_twice_then_drive(server, ticks=300)
        assert_no_unknown_rpc(server)
    assert r["first"].endswith("Grid01") and r["map"].endswith("Roundabout01")
    assert r["spawned"] == 8 and r["old_alive"] == []
    # The TM rebuilt its map for each new world (once at start, then after each load) ...
    assert stderr.count(TM_MAP_BUILT) == 3, stderr[-3000:]
    # ... and drives on the new one: 300 ticks = 15 s, every vehicle moves, on the road.
    assert r["moved"][0] > 10.0 and r["moved"][4] > 30.0, r
    assert r["off_road"] == 0, r


QUICK_RELOADS = """
import time
tm = client.get_trafficmanager({tm_port})
car = world.get_blueprint_library().find("vehicle.audi.a2")
for name in ("Grid01", "Loop01", "Roundabout01"):
    for p in world.get_map().get_spawn_points()[:3]:
        v = world.try_spawn_actor(car, p)
        if v is not None:
            v.set_autopilot(True, {tm_port})
    time.sleep(0.2)
    world = client.load_world(name, reset_settings=False)
print("RESULT {{}}", flush=True)
"""


@pytest.mark.slow
def test_ten_client_processes_reload_worlds_under_a_polling_traffic_manager():
    # Asynchronous TM with autopilot vehicles: the variant that crashed 19 of 20 runs before.
    with start_embedded_server() as server:
        for _ in range(10):
            body = QUICK_RELOADS.format(tm_port=free_port_block(1))
            proc = run_client(client_code(server, body, timeout=30.0), timeout=240)
            assert proc.returncode == 0, proc.stderr[-4000:]
            assert proc.stderr.count(TM_MAP_BUILT) == 4, proc.stderr[-3000:]
