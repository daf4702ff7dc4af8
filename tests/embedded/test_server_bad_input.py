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
from tests.embedded.helpers import raw_rpc, run_on_server

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
    return raw_rpc(server.host, server.rpc_port, method, *args, msgid=msgid)


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


def test_huge_unknown_names_are_answered_and_logged_short(server):
    """10 calls with 10 MiB names used to write 100 MiB of log (a message is now at most
    8 MiB: these names are 4 MiB)."""
    before = server.log_path.stat().st_size
    for i in range(10):
        name = chr(ord("a") + i) * (4 * 2**20)
        kind, _, error, result = _rpc(server, name)
        assert kind == 1 and len(error) < 200 and "4194304 characters" in error
    assert server.log_path.stat().st_size - before < 10_000
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


def test_coordinates_beyond_float32_are_refused_and_ticks_go_on(server):
    """A finite float64 beyond float32 (x = 1e39) used to be stored; every later tick then
    failed to pack the state."""
    huge = [[1e39, 0.0, 0.5], [0.0, 0.0, 0.0]]
    _, _, error, result = _rpc(server, "spawn_actor", [0, "vehicle.audi.a2", []], huge)
    assert error is None and result[0][0] == 0
    assert "transform.location.x = 1e+39 is out of range" in result[0][1][0]
    body = """
v = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[3])
world.tick()
result(id=v.id)
"""
    r, _ = run_on_server(server, body)
    _, _, error, result = _rpc(server, "set_actor_transform", r["id"], huge)
    assert result[0][0] is True and "location.x" in result[0][1][0]
    _, _, _, result = _rpc(server, "destroy_actor", r["id"])
    assert result == [[1, True]]
    _assert_serving(server)
    assert "OverflowError" not in server.log()


def test_nan_in_weather_control_and_physics_is_refused_through_the_real_client(server):
    """The client sends these without waiting for a reply: the refusal shows in the log, and
    what the world keeps (and streams back) is the last good value."""
    body = """
nan = float("nan")
v = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[6])
world.set_weather(carla.WeatherParameters(cloudiness=nan, fog_density=float("inf")))
pc = v.get_physics_control()
pc.mass = nan
v.apply_physics_control(pc)
v.apply_control(carla.VehicleControl(throttle=0.5))
world.tick()
v.apply_control(carla.VehicleControl(throttle=nan, steer=float("inf")))
for _ in range(3):
    world.tick()
c = v.get_control()
w = world.get_weather()
result(control=[c.throttle, c.steer], weather=[w.cloudiness, w.fog_density],
       mass=v.get_physics_control().mass, speed=v.get_velocity().length())
v.destroy()
"""
    r, _ = run_on_server(server, body)
    assert r["control"] == [0.5, 0.0]
    assert r["weather"] == [5.0, 0.0] and r["mass"] > 0 and 0.0 < r["speed"] < 10.0
    log = server.log()
    for refused in ("set_weather_parameters: cloudiness = nan is not finite",
                    "apply_physics_control: physics_control.mass = nan is not finite",
                    "apply_control_to_vehicle: throttle = nan is not finite"):  # fmt: skip
        assert refused in log
    _assert_serving(server)


def test_a_fixed_step_too_long_to_tick_is_refused_from_the_real_client(server):
    """fixed_delta_seconds = 1e9 or inf used to be accepted: the asynchronous ticker slept that
    long, and the world never ticked again."""
    body = """
errors = []
s = world.get_settings()
s.synchronous_mode, s.fixed_delta_seconds = False, None
world.apply_settings(s)
for delta in (1e9, float("inf"), 1.5):
    s.fixed_delta_seconds = delta
    try:
        world.apply_settings(s)
    except RuntimeError as exc:
        errors.append(str(exc))
start = world.get_snapshot().frame
for _ in range(3):
    world.wait_for_tick(5.0)
result(errors=errors, ticked=world.get_snapshot().frame - start,
       delta=world.get_settings().fixed_delta_seconds)
"""
    r, _ = run_on_server(server, body, sync=False)
    assert len(r["errors"]) == 3 and all("fixed_delta_seconds" in e for e in r["errors"])
    assert "out of range (0, 1] s" in r["errors"][0] and "not finite" in r["errors"][1]
    assert r["ticked"] >= 3 and r["delta"] is None


def test_asynchronous_ticks_follow_a_new_step_at_once(server):
    """The ticker is woken when the settings change: a shorter step (or the return to
    asynchronous mode) applies now, not after the step set before."""
    body = """
import time
s = world.get_settings()
s.synchronous_mode, s.fixed_delta_seconds = False, 1.0
world.apply_settings(s)
world.wait_for_tick(5.0)
world.wait_for_tick(5.0)  # the ticker is now one second away from its next tick
time.sleep(0.1)
s.fixed_delta_seconds = 0.02
world.apply_settings(s)
start = time.monotonic()
world.wait_for_tick(5.0)
result(waited=time.monotonic() - start)
s.fixed_delta_seconds = None
world.apply_settings(s)
"""
    r, _ = run_on_server(server, body, sync=False, timeout=90)
    assert r["waited"] < 0.5  # without the wake-up: ~0.9 s


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
