"""Helpers for the embedded-server tests: run real-client code and read its JSON result."""

from __future__ import annotations

import json
import socket
import subprocess

import msgpack

from tests.conftest import EmbeddedServerHandle, client_code, run_client

RESULT_PREFIX = "RESULT "

# Client-side prelude used by most tests: synchronous mode at 20 Hz, and a helper to emit results.
SYNC_PRELUDE = """
import json, math
def result(**values):
    print("RESULT " + json.dumps(values), flush=True)
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


# Prepended to every client script that ticks with a Traffic Manager: the script updates
# `progress` after each tick; a hang inside the carla library cannot be interrupted, so the guard
# reports it and exits.
STALL_GUARD = """
import faulthandler, os, sys, threading, time
progress = [0, time.monotonic()]
def stall_guard():
    while True:
        time.sleep(1.0)
        if time.monotonic() - progress[1] > 30.0:
            print(f"STALLED in world.tick() after {progress[0]} ticks", file=sys.stderr, flush=True)
            faulthandler.dump_traceback(all_threads=True)
            os._exit(3)
threading.Thread(target=stall_guard, daemon=True).start()
"""

STALL_MARKER = "STALLED in world.tick()"


def run_tm_script(
    server: EmbeddedServerHandle, body: str, timeout: float, env: dict | None = None
) -> dict:
    """Like run_on_server for a script that ticks with a Traffic Manager and keeps `progress`."""
    code = client_code(server, SYNC_PRELUDE + STALL_GUARD + body)
    proc = run_client(code, timeout=timeout, env=env)
    if STALL_MARKER in proc.stderr:
        # carla-simulator/carla#9172: the client-side TM's worker and world.tick() can miss each
        # other's wake-up and block forever inside libcarla (see protocol/tm_gate.py).
        raise ClientTrafficManagerStall(proc.stderr[-2000:])
    return parse_result(server, proc)


class ClientTrafficManagerStall(Exception):
    pass


def on_fresh_server(start, run) -> dict:
    """`run(server)`, retried once on a new server if the client library's TM deadlock hits
    (it is not ours)."""
    for attempt in (1, 2):
        with start() as server:
            try:
                return run(server)
            except ClientTrafficManagerStall as stall:
                if attempt == 2:
                    raise AssertionError(f"client TM stalled twice:\n{stall}") from None
                print(f"client TM stalled (carla#9172), retrying once:\n{stall}")
    raise AssertionError("unreachable")
