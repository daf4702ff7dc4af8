"""The recorder RPC table without a client: the arities of CARLA 0.9.16 and of newer and older
clients, and one clear error for each bad argument."""

from __future__ import annotations

import pytest

from rllib_integration.embedded import map_source
from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.protocol.handlers import RpcApi
from rllib_integration.embedded.protocol.limits import WireValueError
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.recorder.paths import RecorderPaths
from rllib_integration.embedded.recorder.service import RecorderConfig
from rllib_integration.embedded.world import EpisodeSettings, World
from tests.conftest import run_module


@pytest.fixture(scope="module")
def loop01():
    return map_source.load_map("Loop01")


@pytest.fixture
def api(tmp_path, loop01) -> RpcApi:
    streams = WorldStreams(StreamHub(), 2001)
    world = World(default_library(), loop01, streams)
    world.settings = EpisodeSettings(synchronous_mode=True, fixed_delta_seconds=0.05)
    config = RecorderConfig(RecorderPaths(tmp_path))
    return RpcApi(world, streams, map_source.load_map, map_source.available_maps, world.tick,
                  recorder_config=config)  # fmt: skip


def call(api: RpcApi, name: str, *args):
    return api.handlers()[name].fn(*args)


def test_calls_of_newer_and_older_clients_are_answered(api, tmp_path):
    # A post-0.9.16 client adds stop_replayer to start_recorder; 0.9.16 sends 2 arguments.
    assert call(api, "start_recorder", "a.log", False, True) == str(tmp_path / "a.log")
    for _ in range(3):
        api.world.tick()
    call(api, "stop_recorder")
    # Older clients send 4 or 5 arguments to replay_file, newer ones 8.
    assert call(api, "replay_file", "a.log", 0.0, 0.0, 0).startswith("Replaying File: ")
    newer = call(api, "replay_file", "a.log", 0.0, 0.0, 0, False, [[0, 0, 40], [-90, 0, 0]], 1, 2)
    assert "Total time recorded: 0.1\n" in newer
    call(api, "stop_replayer", True)
    assert (
        api.world.after_physics == api.world.before_publish == []
    )  # nothing recorded or replayed any more
    text = call(api, "show_recorder_collisions", "a.log", ord("v"), ord("a"))
    assert text.endswith("\nFrames: 3\nDuration: 0.1 seconds\n")


@pytest.mark.parametrize(
    "method,args,message",
    [
        ("start_recorder", [42], "name must be a string"),
        ("start_recorder", ["x.log", "yes"], "additional_data must be a boolean"),
        ("show_recorder_file_info", ["x.log", None], "show_all must be a boolean"),
        ("show_recorder_collisions", ["x.log", -1, 97], "type1 = -1 is out of range"),
        ("show_recorder_actors_blocked", ["x.log", float("nan"), 10.0], "min_time = nan"),
        ("replay_file", ["x.log", "0", 0.0, 0], "start must be a number"),
        ("replay_file", ["x.log", 0.0, float("inf"), 0], "duration = inf is not finite"),
        ("replay_file", ["x.log", 0.0, 0.0, -5], "follow_id = -5 is out of range"),
        ("replay_file", ["x.log", 0.0, 0.0, 0, False, [[0, 0], [0, 0, 0]]], "transform.location"),
        ("set_replayer_time_factor", [0.0], "time_factor = 0 must be positive"),
        ("stop_replayer", ["no"], "keep_actors must be a boolean"),
    ],
)
def test_bad_arguments_get_one_clear_error(api, method, args, message):
    with pytest.raises(WireValueError, match=message):
        call(api, method, *args)


def test_a_recording_of_another_map_loads_only_maps_the_server_offers(api, tmp_path):
    call(api, "start_recorder", "a.log", False)
    api.world.tick()
    call(api, "stop_recorder")
    data = (tmp_path / "a.log").read_bytes()
    forged = data.replace(b"\x06\x00Loop01", b"\x06\x00/etc/x", 1)
    (tmp_path / "forged.log").write_bytes(forged)
    reply = call(api, "replay_file", "forged.log", 0.0, 0.0, 0)
    assert reply == f"Replaying File: {tmp_path / 'forged.log'}\nCould not load mapfile /etc/x\n"
    assert api.recorder.pending is None and api.recorder.replayer is None


def test_recorder_flags_are_checked_at_start():
    proc = run_module("rllib_integration.embedded", "--recorder-max-mb", "0", timeout=60)
    assert proc.returncode == 2 and "0 is not a positive size in MB" in proc.stderr
