"""The traffic process recovers its own Traffic Manager's lost wake-up (carla#9172), on any server.

The embedded server here neither gates nor pokes (as CarlaUE4 would not); gdb makes the TM lose a
wake-up on purpose (tests/tm_wakeup_gdb.py). Without a poke that is a permanent hang inside the
traffic process's `world.tick()` (tests/embedded/test_server_tm_watchdog.py shows it); the
process's own watchdog (rllib_integration/traffic/tm_watchdog.py) pokes its TM and the ticks go on.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from rllib_integration.traffic.host_client import TrafficHostError, TrafficHostProcess
from rllib_integration.traffic.tm_watchdog import POKE_AFTER_S
from tests.client_watch import GDB, LostWakeup, gdb_backtrace
from tests.conftest import free_port_block, start_embedded_server


@pytest.mark.skipif(GDB is None, reason="gdb is not installed")
def test_the_traffic_process_pokes_its_own_tm_out_of_a_lost_wake_up(tmp_path):
    with start_embedded_server("--no-tm-gate", "--tm-poke-ms", "0", map_name="Grid01") as server:
        simulator = SimpleNamespace(
            host=server.host,
            rpc_port=server.rpc_port,
            tm_port=free_port_block(1),
            log_path=tmp_path / "server.log",
        )
        # A request may wait out gdb's hold too (seconds on a loaded machine).
        settings = SimpleNamespace(timeout=30.0, startup_timeout=120.0)
        host = TrafficHostProcess(simulator, settings)
        try:
            assert len(host.request("spawn", n=5, seed=1, hybrid=False)["ids"]) == 5
            for _ in range(20):
                host.request("tick")
            time.sleep(1.0)  # nothing in flight while gdb stops the process
            lost = LostWakeup(host.process.pid)
            durations, stranded = [], 0.0
            k = 0  # until gdb has caught the worker (it may win the race for a while), 20 more
            while k < 20 or (not lost.done() and k < 5000):
                k += 1
                started = time.monotonic()
                try:
                    host.request("tick")
                except TrafficHostError as exc:
                    pytest.fail(f"tick {k} after the lost wake-up: {exc}\n{_report(host)}")
                ended = time.monotonic()
                durations.append(ended - started)
                stranded = max(stranded, lost.waited_after(started, ended))
            outcome = lost.outcome()
            host.close()
        finally:
            host.kill()
    log = (tmp_path / "server.traffic.log").read_text()
    assert outcome == "LOST", outcome
    assert "TM poke: world.tick() has waited" in log, log[-3000:]
    # The stranded tick waited for the watchdog's poke; once gdb let go it went on within a few
    # seconds, not the request's timeout (30 s + 5 s) or forever.
    assert max(durations) >= POKE_AFTER_S, durations
    assert stranded < 8.0, (stranded, durations)


def _report(host: TrafficHostProcess) -> str:
    return f"traffic process backtrace:\n{gdb_backtrace(host.process.pid)}"
