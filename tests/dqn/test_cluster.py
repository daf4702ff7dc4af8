"""Training on a two-node Ray cluster on this machine: env runners (each with its own embedded
server) run on both nodes. The nodes are started here and stopped by process group, never with
`ray stop` (which would stop every Ray on the machine)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port_block, python_command
from tests.dqn.helpers import (
    CONFIG,
    ROOT,
    assert_no_servers_left,
    script_env,
    servers_logging_to,
    stop_group,
    tiny_overrides,
)

RAY = str(Path(sys.executable).parent / "ray")


def node_ports() -> list[str]:
    """Explicit free ports for one node (defaults like 52365 or 10001 collide between nodes)."""
    base = free_port_block(6)
    names = [
        "node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port",
    ]  # fmt: skip
    return [f"--{name}={base + i}" for i, name in enumerate(names)]


def start_node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args, *node_ports()],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.5)
    raise AssertionError(f"Ray head did not open port {port} within {timeout} s")


def stop_node(process: subprocess.Popen) -> None:
    """The node's whole process group (raylet, GCS, workers), TERM then KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def node_of(process: psutil.Process, nodes: dict[int, str]) -> str | None:
    with contextlib.suppress(psutil.Error):
        for parent in process.parents():
            if parent.pid in nodes:
                return nodes[parent.pid]
    return None


# ~100 s on the loaded 2-core machine: kept out of the default run to hold its time budget.
@pytest.mark.slow
def test_training_spreads_env_runners_over_two_nodes(tmp_path):
    port = free_port_block(1)
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: unix socket paths
    # `ray start` turns token auth on (Ray 2.60); every ray process must agree (rllib.md P12).
    env = script_env(RAY_AUTH_MODE="token")
    logs = tmp_path / "server_logs"
    head = worker = training = None
    try:
        head = start_node(
            ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
             "--include-dashboard=false", f"--temp-dir={temp_dir}",
             f"--ray-client-server-port={free_port_block(1)}"],
            tmp_path / "head.log", env,
        )  # fmt: skip
        wait_for_port(port, 120)
        worker = start_node(
            [f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1"],
            tmp_path / "worker.log", env,
        )  # fmt: skip
        # 3 CPUs in all: the Tune trial (1) and two env runners (1 each) -> both nodes used.
        training = subprocess.Popen(
            python_command(
                str(ROOT / "dqn_train.py"), str(CONFIG), "--name", "cluster",
                "--directory", str(tmp_path / "results"), "--address", f"127.0.0.1:{port}",
                "--set", "env_runners.num_env_runners=2", *tiny_overrides(logs, iterations=2),
            ),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(training.stdout), daemon=True)
        reader.start()
        nodes = {head.pid: "head", worker.pid: "worker"}
        seen: set[str] = set()
        deadline = time.monotonic() + 400
        while training.poll() is None and time.monotonic() < deadline:
            for server in servers_logging_to(logs):
                node = node_of(server, nodes)
                if node:
                    seen.add(node)
            time.sleep(0.5)
        assert training.wait(30) == 0, "".join(lines)[-5000:]
        reader.join(10)
        out = "".join(lines)
        assert re.findall(r"^iter +(\d+) \|", out, re.MULTILINE) == ["1", "2"], out[-5000:]
        assert "final checkpoint" in out
        assert seen == {"head", "worker"}, (seen, out[-3000:])
        assert_no_servers_left(logs)
    finally:
        if training is not None:
            stop_group(training)
        for node in (worker, head):
            if node is not None:
                stop_node(node)
        shutil.rmtree(temp_dir, ignore_errors=True)
