"""Bad input never takes the server down: it answers with an error and keeps serving others."""

import os
import socket
import struct
import subprocess
import sys
import time

import msgpack
import pytest

from tests.conftest import ROOT, free_port_block, run_client, start_embedded_server
from tests.embedded.helpers import run_on_server

STILL_SERVING = """
v = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[5])
for _ in range(5):
    world.tick()
result(ok=True, frame=world.get_snapshot().frame, version=client.get_server_version())
v.destroy()
"""


@pytest.fixture(scope="module")
def server():
    with start_embedded_server() as handle:
        yield handle


def _rpc(server, method, *args, msgid=1):
    with socket.create_connection((server.host, server.rpc_port), timeout=5) as s:
        s.sendall(msgpack.packb([0, msgid, method, [[False], *args]], use_bin_type=True))
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            unpacker.feed(s.recv(65536))
            for message in unpacker:
                return message


def _assert_serving(server):
    r, _ = run_on_server(server, STILL_SERVING)
    assert r["ok"] and r["version"] == "0.9.16"
    assert server.alive()


def test_unknown_rpc_gets_an_error_naming_it_and_is_logged(server):
    kind, msgid, error, result = _rpc(server, "make_coffee", 1, 2)
    assert (kind, msgid) == (1, 1) and "make_coffee" in error and result is None
    assert "unknown RPC 'make_coffee'" in server.log()
    # Through the real client: rpclib raises a RuntimeError naming the function.
    proc = run_client(
        f"""
import carla
from carla import libcarla
c = carla.Client("{server.host}", {server.rpc_port}); c.set_timeout(3)
print(c.get_server_version())
""",
        timeout=30,
    )
    assert proc.returncode == 0 and "0.9.16" in proc.stdout
    _assert_serving(server)


@pytest.mark.parametrize(
    "method,args",
    [
        ("spawn_actor", ["not a description", 3]),
        ("spawn_actor", [[0, "vehicle.nope", []], [[0, 0, 0], [0, 0, 0]]]),
        ("set_episode_settings", [{"sync": True}]),
        ("apply_control_to_vehicle", ["x", [1, 0, 0]]),
        ("get_actor_bounding_box", []),
        ("destroy_actor", [[1, 2]]),
        ("load_new_episode", [12345]),
        ("apply_batch", [[[[99, []]]], True]),
        ("apply_batch", ["nonsense", False]),
        ("set_weather_parameters", [[1.0]]),
    ],
)
def test_wrong_argument_types_get_error_replies(server, method, args):
    kind, msgid, error, result = _rpc(server, method, *args)
    assert kind == 1 and msgid == 1
    if method == "apply_batch":
        assert error is None and all(r[0][0] == 0 for r in result)
    else:
        assert error is None
        tag = result[0][0]
        assert tag in (0, True), result  # Response<T> error or Response<void> error
        assert method in result[0][1][0]
    assert server.alive()


@pytest.mark.parametrize("port_name", ["rpc_port", "stream_port"])
def test_garbage_bytes_on_both_ports(server, port_name):
    port = getattr(server, port_name)
    payloads = [
        os.urandom(4096),
        b"\xc1" * 100,  # never-used msgpack byte
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        msgpack.packb([0, 1, "version"]),  # too short
        b"\xdb\xff\xff\xff\xff",  # str32 claiming 4 GB
        struct.pack("<I", 123456) + b"more",  # unknown stream id plus trailing bytes
    ]
    for payload in payloads:
        with socket.create_connection((server.host, port), timeout=5) as s:
            s.sendall(payload)
            time.sleep(0.05)
    # a connection that only half-sends and vanishes
    with socket.create_connection((server.host, port), timeout=5) as s:
        s.sendall(b"\x94\x00")
    _assert_serving(server)


def test_client_disconnecting_mid_stream(server):
    # A real client listening to a camera and the episode stream is killed mid-run.
    body = """
cam_bp = library.find("sensor.camera.rgb")
cam_bp.set_attribute("image_size_x", "64")
cam_bp.set_attribute("image_size_y", "48")
cam = world.spawn_actor(cam_bp, carla.Transform())
cam.listen(lambda image: None)
import os, signal
for i in range(200):
    world.tick()
    if i == 100:
        os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = run_client(
        f'import carla\nclient = carla.Client("{server.host}", {server.rpc_port})\n'
        "client.set_timeout(5)\nworld = client.get_world()\n"
        "from tests.embedded.helpers import SYNC_PRELUDE\nexec(SYNC_PRELUDE)\n" + body,
        timeout=60,
    )
    assert proc.returncode == -9
    # The dead client left sync mode on: the next client takes over and ticks.
    _assert_serving(server)
    # A raw subscriber that reads nothing while the world ticks does not block the server.
    with socket.create_connection((server.host, server.stream_port), timeout=5) as s:
        s.sendall(struct.pack("<I", 1))
        _assert_serving(server)


def test_bad_map_on_the_command_line_exits_with_a_clear_message(tmp_path):
    bad = tmp_path / "broken.xodr"
    bad.write_text("<OpenDRIVE><road>")
    port = free_port_block(2)
    for map_arg, expected in ((str(bad), "broken"), ("NoSuchTown", "NoSuchTown")):
        proc = subprocess.run(
            [sys.executable, "-m", "rllib_integration.embedded", f"-carla-rpc-port={port}",
             "--map", map_arg],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode != 0
        assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_bad_map_by_load_world_keeps_serving(server, tmp_path):
    bad = tmp_path / "hostile.xodr"
    bad.write_text('<?xml version="1.0"?><OpenDRIVE><road length="nan"><planView>' * 50)
    body = f"""
messages = []
for name in ({str(bad)!r}, "NoSuchTown", ""):
    try:
        client.load_world(name)
    except RuntimeError as exc:
        messages.append(str(exc))
result(messages=messages, map=client.get_world().get_map().name)
"""
    r, _ = run_on_server(server, body, sync=False, timeout=120)
    assert len(r["messages"]) == 3 and r["map"].endswith("Loop01")
    _assert_serving(server)


def test_port_in_use_exits_with_a_clear_message():
    port = free_port_block(2)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "rllib_integration.embedded", f"-carla-rpc-port={port}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode != 0
    assert "already in use" in proc.stderr and str(port) in proc.stderr
    assert "Traceback" not in proc.stderr
