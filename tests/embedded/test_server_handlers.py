"""The RPC and batch-command tables of the server, without a client (pure Python)."""

import pytest

from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.handlers import RpcApi
from rllib_integration.embedded.protocol.ignored import IGNORED, IGNORED_FOR_ACTOR
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.world import World

POSE = [[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]


@pytest.fixture
def api() -> RpcApi:
    streams = WorldStreams(StreamHub(), 2001)
    world = World(default_library(), None, streams)
    return RpcApi(world, streams, lambda name: None, lambda: [], world.tick)


def test_each_rpc_is_either_real_or_ignored(api):
    real = set(api.real_handlers())
    assert not real & set(IGNORED) and not real & set(IGNORED_FOR_ACTOR)
    assert not set(IGNORED) & set(IGNORED_FOR_ACTOR)
    assert set(api.handlers()) == real | set(IGNORED) | set(IGNORED_FOR_ACTOR)


def test_ignored_actor_calls_still_name_a_missing_actor(api):
    add_force = api.handlers()["add_actor_force"].fn
    car = api.world.spawn("vehicle.audi.a2", {}, (0.0, 0.0, 0.5, 0.0, 0.0, 0.0))
    assert add_force(car.id, [1.0, 0.0, 0.0]) is None
    with pytest.raises(KeyError, match="actor 999 not found"):
        add_force(999, [1.0, 0.0, 0.0])
    with pytest.raises(TypeError):  # the arguments are still those of CARLA's call
        add_force(car.id)


def test_every_command_index_has_a_handler(api):
    assert sorted(api.commands) == list(range(22))


def test_batch_commands_answer_one_response_each(api):
    spawn = [[codec.CMD_SPAWN, [[0, "vehicle.audi.a2", []], POSE, [False], 0, "", []]]]
    [spawned] = api.apply_batch([spawn])
    car_id = spawned[0][1]
    control = [[codec.CMD_VEHICLE_CONTROL, [car_id, [0.5, 0.0, 0.0, False, False, False, 0]]]]
    console = [[codec.CMD_CONSOLE, ["stat fps"]]]
    unknown = [[99, [car_id]]]
    destroy_missing = [[codec.CMD_DESTROY, [12345]]]
    results = api.apply_batch([control, console, unknown, destroy_missing])
    assert results[:2] == [[[1, car_id]], [[1, 0]]]
    assert results[2] == [[0, ["unknown command index 99"]]]
    assert results[3] == [[0, ["actor 12345 not found"]]]
    assert api.world.actor(car_id).vehicle.control.throttle == 0.5


def test_spawn_then_commands_reach_the_future_actor(api):
    autopilot_off = [[codec.CMD_AUTOPILOT, [0, False, 8000]]]
    lights = [[codec.CMD_LIGHT_STATE, [0, [3]]]]
    spawn = [
        [
            codec.CMD_SPAWN,
            [[0, "vehicle.audi.a2", []], POSE, [False], 0, "", [lights, autopilot_off]],
        ]
    ]
    [[[ok, car_id]]] = api.apply_batch([spawn])
    assert ok == 1 and api.world.actor(car_id).light_state == 3
