"""The built-in towns served by the embedded server: the real client's Traffic Manager drives them."""

from __future__ import annotations

import pytest

from rllib_integration.embedded.maps import BUILTIN_TOWNS, builtin_xodr, ground_model
from tests.conftest import free_port_block, start_embedded_server
from tests.embedded.helpers import run_on_server

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
    [SpawnActor(bp, p).then(SetAutopilot(FutureActor, True, tm_port)) for p in points[:{n}]], True)
ids = [r.actor_id for r in responses if not r.error]
print("spawned", len(ids), flush=True)
start = {{a.id: a.get_location() for a in world.get_actors(ids)}}
z = []
for k in range({ticks}):
    world.tick()
    if k % 20 == 0:
        print("tick", k, flush=True)
        z += [a.get_location().z for a in world.get_actors(ids)]
actors = list(world.get_actors(ids))
moved = [a.get_location().distance(start[a.id]) for a in actors]
result(map=carla_map.name, n_spawn_points=len(spawn_points), spawned=len(ids), alive=len(actors),
       min_moved=min(moved), z_range=max(z) - min(z))
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], True)
client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
"""


@pytest.mark.parametrize("town", sorted(BUILTIN_TOWNS))
def test_traffic_manager_drives_every_builtin_town(town):
    with start_embedded_server(map_name=town) as server:
        body = TM_LAPS.format(tm_port=free_port_block(1), n=12, ticks=600)
        r, _ = run_on_server(server, body, timeout=120)
    assert r["map"].endswith(town)
    assert r["n_spawn_points"] == len(ground_model(town, builtin_xodr(town)).spawn_points())
    assert r["spawned"] == r["alive"] == 12, "the Traffic Manager deleted vehicles (a dead end?)"
    assert r["min_moved"] > 5.0, r  # 30 s of simulated time: every vehicle got somewhere
    if town == "Highway01":
        assert r["z_range"] > 0.5, r  # somebody drove over the hill
