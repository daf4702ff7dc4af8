"""The server process: readiness line, CarlaUE4 flag spellings, clean shutdown, bad arguments."""

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import CARLA_TOWNS, ROOT, free_port_block, python_command, start_embedded_server
from tests.embedded.helpers import run_on_server

CARLA_MAPS = CARLA_TOWNS


def _start(*args: str) -> subprocess.Popen:
    # SIGINT/SIGTERM at their defaults even when this test runs with SIGINT ignored (nohup).
    return subprocess.Popen(
        python_command("-m", "rllib_integration.embedded", *args),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_then_clean_exit_on_signal(sig):
    port = free_port_block(3)
    proc = _start(f"-carla-rpc-port={port}", f"-carla-streaming-port={port + 2}",
                  "-RenderOffScreen", "-nosound", "-quality-level=Low")  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        expected = f"rpc 127.0.0.1:{port} stream 127.0.0.1:{port + 2} map Loop01"
        assert line == f"embedded CARLA server ready: {expected}"
        time.sleep(0.2)
        proc.send_signal(sig)
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "args,expected",
    [
        (["-carla-rpc-port=70000"], "out of range"),
        (["-carla-rpc-port=abc"], "invalid"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["-carla-rpc-port=30000", "-carla-streaming-port=30000"], "must differ"),
        (["--map", "/nonexistent/x.xodr"], "does not exist"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_clear_message(args, expected):
    proc = subprocess.run(
        [sys.executable, "-m", "rllib_integration.embedded", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.skipif(not (CARLA_MAPS / "Town04.xodr").exists(), reason="Town04.xodr not available")
def test_vehicles_follow_town04_slopes():
    with start_embedded_server("--map-dir", str(CARLA_MAPS), map_name="Town04") as server:
        body = """
# Find a spawn point whose road climbs: waypoint 15 m ahead is at least 0.4 m higher.
best = None
for p in spawn_points:
    wp = carla_map.get_waypoint(p.location)
    nxt = wp.next(15.0)
    if nxt and not wp.is_junction and nxt[0].transform.location.z - wp.transform.location.z > 0.8:
        best = wp
        break
v = world.spawn_actor(library.find("vehicle.tesla.model3"), best.transform)
v.apply_control(carla.VehicleControl(throttle=1.0))
errors, pitches, zs = [], [], []
for i in range(100):
    world.tick()
    t = v.get_transform()
    road = carla_map.get_waypoint(t.location)
    errors.append(abs(t.location.z - road.transform.location.z))
    pitches.append(t.rotation.pitch)
    zs.append(t.location.z)
result(max_err=max(errors), climb=max(zs) - min(zs), max_pitch=max(abs(p) for p in pitches),
       map=carla_map.name)
v.destroy()
"""
        r, _ = run_on_server(server, body, timeout=120)
    assert r["map"].endswith("Town04")
    assert r["climb"] > 0.5
    assert r["max_err"] < 0.3
    assert 0.5 < r["max_pitch"] < 20.0


def test_the_open_file_limit_is_raised_for_many_connections():
    """At a soft limit of 256 descriptors, 300 idle connections used to shut everyone out."""
    import resource
    import socket

    from tests.embedded.fuzz import answers

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    port = free_port_block(3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rllib_integration.embedded", f"-carla-rpc-port={port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )  # fmt: skip
    held = []
    try:
        assert "ready" in proc.stdout.readline()
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
        assert answers("127.0.0.1", port, 10.0)
    finally:
        for sock in held:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
