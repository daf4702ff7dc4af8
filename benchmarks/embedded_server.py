"""The embedded server for benchmarks: free loopback ports, its own process group, stopped after.

Shared by the benchmark scripts (run as `python benchmarks/<script>.py`, so this folder is on
sys.path). Tests have their own fixtures in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
READY_MARKER = "embedded CARLA server ready"


def free_port_block(size: int = 3) -> int:
    """A base port whose `size` consecutive loopback ports are free right now."""
    for _ in range(200):
        base = random.randrange(20000, 60000)
        try:
            for i in range(size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


@contextlib.contextmanager
def embedded_server(
    map_name: str = "Loop01",
    extra_args: Sequence[str] = (),
    startup_timeout: float = 120.0,
    log_path: Path | None = None,
) -> Iterator[tuple[int, subprocess.Popen]]:
    """Yield (rpc port, process) of a ready server logging to `log_path` (default: a temporary
    file); SIGINT (clean exit, writes --profile stats), then SIGKILL, to its process group on
    exit."""
    port = free_port_block(3)
    log: IO[Any]
    if log_path is None:
        log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
    else:
        log = open(log_path, "w")  # noqa: SIM115 (closed once the server has it)
    command = [sys.executable, "-m", "rllib_integration.embedded", f"-carla-rpc-port={port}"]
    command += ["--map", map_name, *extra_args]
    # A log file, not a pipe: a pipe nobody drains would block a chatty server.
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()  # the server has its own descriptor
    try:
        deadline = time.monotonic() + startup_timeout
        while READY_MARKER not in Path(log.name).read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded server did not start; log: {log.name}")
            time.sleep(0.05)
        yield port, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
