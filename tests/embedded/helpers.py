"""Helpers for the embedded-server tests: run real-client code and read its JSON result."""

from __future__ import annotations

import json
import socket
import subprocess

import msgpack

from tests.client_watch import ClientStalled, run_watched_client
from tests.conftest import EmbeddedServerHandle, client_code, run_client

RESULT_PREFIX = "RESULT "

# Client-side prelude used by most tests: synchronous mode at 20 Hz, and a helper to emit results.
SYNC_PRELUDE = """
import json, math
def result(**values):
    print("RESULT " + json.dumps(values) + "\\n", end="", flush=True)  # one write: see client_watch
settings = world.get_settings()
settings.synchronous_mode = True
settings.fixed_delta_seconds = 0.05
world.apply_settings(settings)
library = world.get_blueprint_library()
carla_map = world.get_map()
spawn_points = carla_map.get_spawn_points()
"""


def run_on_server(
    server: EmbeddedServerHandle, body: str, timeout: float = 60.0, sync: bool = True
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run `body` with `client`, `world` (and, if sync, the SYNC_PRELUDE names); return RESULT."""
    prelude = (
        SYNC_PRELUDE
        if sync
        else "import json\ndef result(**v): print('RESULT ' + json.dumps(v), flush=True)\n"
    )
    proc = run_client(client_code(server, prelude + body), timeout=timeout)
    return parse_result(server, proc), proc


def parse_result(server: EmbeddedServerHandle, proc: subprocess.CompletedProcess) -> dict:
    """The merged RESULT lines of a client run; fails with the client's and server's output."""
    results = [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in proc.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    assert proc.returncode == 0 and results, (
        f"client failed (exit {proc.returncode})\nstdout:\n{proc.stdout[-3000:]}\n"
        f"stderr:\n{proc.stderr[-3000:]}\nserver log:\n{server.log()[-3000:]}"
    )
    merged: dict = {}
    for r in results:
        merged.update(r)
    return merged


def raw_rpc(host: str, port: int, method: str, *args, msgid: int = 1) -> list:
    """One msgpack-rpc call as the carla client frames it (Metadata first); the raw reply
    [kind, msgid, error, result]."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(msgpack.packb([0, msgid, method, [[False], *args]], use_bin_type=True))
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            unpacker.feed(s.recv(65536))
            for message in unpacker:
                return message


def assert_no_unknown_rpc(server: EmbeddedServerHandle) -> None:
    log = server.log()
    assert "unknown RPC" not in log, log[-3000:]


def run_tm_script(
    server: EmbeddedServerHandle,
    body: str,
    timeout: float,
    env: dict | None = None,
    stall_after: float = 30.0,
) -> dict:
    """Like run_on_server for a script that ticks with a Traffic Manager and counts its ticks in
    `progress[0]`: a stall fails at once, with the client's backtrace (tests/client_watch.py)."""
    code = client_code(server, SYNC_PRELUDE + body)
    try:
        proc = run_watched_client(code, timeout, stall_after, env=env)
    except ClientStalled as stall:
        raise ClientStalled(f"{stall}\nserver log:\n{server.log()[-3000:]}") from None
    return parse_result(server, proc)
