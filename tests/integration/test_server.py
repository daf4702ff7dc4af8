"""Port blocks, command lines and process ownership of supervisor/simulator.py (no simulator needed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from rllib_integration.config import carla_settings
from rllib_integration.supervisor.simulator import (
    PORTS_PER_BLOCK,
    PortBlock,
    ServerError,
    SimulatorServer,
    carla_command,
    embedded_command,
    release_port_block,
    reserve_port_block,
    resolve_server_kind,
)


def free_base_port() -> int:
    """A base port with a few free blocks above it, away from other tests' ranges."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return 40000 + (s.getsockname()[1] % 200) * 100


def test_blocks_are_distinct_and_spread_by_index():
    base = free_base_port()
    a = reserve_port_block(0, base)
    b = reserve_port_block(0, base)  # same index: next free block, not the same one
    c = reserve_port_block(5, base)
    try:
        # (Other processes on this machine may hold some ports: then the next free block.)
        assert a.rpc >= base and b.rpc > a.rpc and c.rpc >= base + 5 * PORTS_PER_BLOCK
        assert len({a.rpc, b.rpc, c.rpc}) == 3
        assert all((block.rpc - base) % PORTS_PER_BLOCK == 0 for block in (a, b, c))
        assert (a.streaming, a.secondary, a.traffic_manager) == (a.rpc + 1, a.rpc + 2, a.rpc + 3)
    finally:
        for block in (a, b, c):
            release_port_block(block)
    again = reserve_port_block(0, base)  # released blocks are reused
    release_port_block(again)
    assert again == a


def test_a_block_with_any_port_in_use_is_skipped():
    for _ in range(50):  # a base whose first block's secondary port we can hold ourselves
        base = free_base_port()
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.1", base + 2))
            break
        except OSError:  # another process holds it (the range overlaps the ephemeral ports)
            busy.close()
    with busy:
        busy.listen()
        block = reserve_port_block(0, base)
        release_port_block(block)
    # The next block, or a later one if some other process holds one of its ports (the range
    # overlaps the machine's ephemeral ports, which other tests' connections use).
    assert block.rpc >= base + PORTS_PER_BLOCK and (block.rpc - base) % PORTS_PER_BLOCK == 0


def test_concurrent_processes_get_distinct_blocks():
    base = free_base_port()
    code = textwrap.dedent(
        f"""
        import time
        from rllib_integration.supervisor.simulator import reserve_port_block
        print(reserve_port_block(0, {base}).rpc, flush=True)
        time.sleep(3)  # hold the reservation while the others reserve
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    ports = [int(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait(timeout=30)
    assert len(set(ports)) == 4, ports
    assert all((port - base) % PORTS_PER_BLOCK == 0 for port in ports)
    # The holders have exited: their reservations are reclaimed.
    block = reserve_port_block(0, base)
    release_port_block(block)
    assert block.rpc == min(ports)


def test_carla_command_line_is_exact(tmp_path):
    settings = carla_settings({"quality_level": "Epic", "gpu": 1})
    assert carla_command(tmp_path, PortBlock(3000), settings) == [
        f"{tmp_path}/CarlaUE4.sh",
        "-RenderOffScreen",
        "-nosound",
        "-carla-rpc-port=3000",
        "-carla-streaming-port=3001",
        "-quality-level=Epic",
        "-graphicsadapter=1",
    ]
    windowed = carla_settings({"show_display": True, "resolution_x": 800, "resolution_y": 450})
    assert carla_command(tmp_path, PortBlock(3000), windowed) == [
        f"{tmp_path}/CarlaUE4.sh",
        "-windowed",
        "-ResX=800",
        "-ResY=450",
        "-nosound",
        "-carla-rpc-port=3000",
        "-carla-streaming-port=3001",
        "-quality-level=Low",
    ]


def test_embedded_command_line():
    command = embedded_command(PortBlock(3000), carla_settings({"map_dir": "/maps"}))
    assert command == [
        sys.executable,
        "-m",
        "rllib_integration.embedded",
        "-carla-rpc-port=3000",
        "-carla-streaming-port=3001",
        "--map-dir",
        "/maps",
    ]


def test_server_kind_selection(tmp_path, monkeypatch):
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    assert resolve_server_kind(carla_settings({})) == "embedded"
    assert resolve_server_kind(carla_settings({"port": 2000})) == "attach"
    with pytest.raises(ServerError, match="no CARLA install is configured.*CARLA_ROOT"):
        resolve_server_kind(carla_settings({"server": "carla"}))
    monkeypatch.setenv("CARLA_ROOT", str(tmp_path))
    with pytest.raises(ServerError, match=f"{tmp_path}/CarlaUE4.sh does not exist"):
        resolve_server_kind(carla_settings({"server": "carla"}))
    assert resolve_server_kind(carla_settings({})) == "embedded"  # auto: no CarlaUE4.sh there
    (tmp_path / "CarlaUE4.sh").write_text("")
    assert resolve_server_kind(carla_settings({})) == "carla"
    assert resolve_server_kind(carla_settings({"server": "embedded"})) == "embedded"


FAKE_CARLA = """#!/bin/sh
# Stands in for CarlaUE4.sh: records its command line, then (like the real script) runs the
# simulator as a child process, which listens on the RPC port.
printf '%s\\n' "$@" > "$(dirname "$0")/argv.txt"
port=$(printf '%s\\n' "$@" | sed -n 's/^-carla-rpc-port=//p')
"{python}" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
time.sleep(0.3); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(600)
"
"""


def test_launch_waits_for_the_port_logs_and_stop_kills_only_its_group(tmp_path):
    script = tmp_path / "CarlaUE4.sh"
    script.write_text(FAKE_CARLA.format(python=sys.executable))
    script.chmod(0o755)
    settings = carla_settings(
        {
            "server": "carla",
            "carla_root": str(tmp_path),
            "log_dir": str(tmp_path / "logs"),
            "base_port": free_base_port(),
            "startup_timeout": 30,
        }
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server = SimulatorServer(settings)
    try:
        server.start()
        assert server.is_alive()
        argv = (tmp_path / "argv.txt").read_text().split()
        assert argv == carla_command(tmp_path, server.ports, settings)[1:]
        assert server.log_path.parent == tmp_path / "logs" and server.log_path.exists()
        group = [p for p in psutil.process_iter() if _pgid(p) == server.process.pid]
        assert len(group) >= 2  # the script and the simulator it started
    finally:
        server.stop()
    time.sleep(0.2)
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in group)
    assert bystander.poll() is None  # nothing else was touched
    bystander.kill()
    bystander.wait()


def test_a_server_that_exits_while_starting_is_a_clear_error_with_its_log(tmp_path):
    script = tmp_path / "CarlaUE4.sh"
    script.write_text("#!/bin/sh\necho 'Failed to find a GPU' >&2\nexit 3\n")
    script.chmod(0o755)
    settings = carla_settings(
        {"server": "carla", "carla_root": str(tmp_path), "log_dir": str(tmp_path)}
    )
    server = SimulatorServer(settings)
    with pytest.raises(
        ServerError, match=r"(?s)exited with code 3 while starting.*Failed to find a GPU"
    ):
        server.start()
    assert server.process is None and server.ports is None  # cleaned up, ports released


def test_attach_mode_launches_nothing_and_reports_a_missing_server(tmp_path):
    port = free_base_port()
    settings = carla_settings({"port": port, "startup_timeout": 0.5})
    server = SimulatorServer(settings)
    with pytest.raises(ServerError, match=f"no CARLA server answers at 127.0.0.1:{port}"):
        server.start()
    assert server.process is None


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


def test_a_server_does_not_outlive_an_env_process_that_crashes():
    """The carla client can abort the env's process (e.g. on malformed data); the server and
    the traffic process it launched must not be orphaned."""
    command = [sys.executable, "-m", "tests.integration.scenarios", "npc_env_then_abort"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    for label in ("SERVER PID ", "TRAFFIC PID "):  # the server and the traffic process
        pid = int(result.stdout.split(label)[1].split()[0])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.1)
        assert not _running(pid), label


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_traffic_process_reports_a_missing_server_on_its_protocol_line():
    port = free_base_port()
    command = [sys.executable, "-m", "rllib_integration.traffic.host", "127.0.0.1", str(port)]
    result = subprocess.run(
        [*command, str(port + 3), "1.0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply["ok"] is False and "traffic host cannot start" in reply["error"]
