"""Longer seeded fuzz of the embedded server: N malformed frames and RPCs, then a real client.

    .venv/bin/python benchmarks/fuzz_server.py [--probes 5000] [--seed 19] [--check-every 25]

The probes are those of tests/embedded/test_server_fuzz.py (tests/embedded/fuzz.py): garbage
bytes, truncated and oversized frames, unknown methods, wrong argument types, hostile values
(NaN, inf, beyond float32, huge ints, long strings), hostile sensor attributes, notifications
and responses, junk on the streaming port. Every --check-every probes the server must answer
`version` on a new connection within 15 s. Printed: progress, how long an answer took under
fuzz against the same server idle (a ratio), the server's RSS and log size before and after, a
real client's drive with a camera at the end, and as the last line
`fuzz: N probes, C crashes, W wedged`. Exit status 1 if anything crashed, wedged or failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import client_code, run_client, start_embedded_server  # noqa: E402
from tests.embedded.fuzz import answers, run_fuzz  # noqa: E402
from tests.embedded.helpers import RESULT_PREFIX, SYNC_PRELUDE  # noqa: E402
from tests.embedded.test_server_fuzz import STILL_SERVING  # noqa: E402


def answer_times(host: str, port: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        if answers(host, port, 15.0):
            times.append(time.perf_counter() - start)
    return times


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--check-every", type=int, default=25)
    args = parser.parse_args()
    with start_embedded_server() as server:
        idle = answer_times(server.host, server.rpc_port, 20)
        rss_before, log_before = rss_mb(server.process.pid), server.log_path.stat().st_size
        under_fuzz: list[float] = []
        started = time.monotonic()

        def progress(result) -> None:
            under_fuzz.extend(answer_times(server.host, server.rpc_port, 1))
            if result.probes % 500 == 0:
                print(f"  {result.probes} probes, {time.monotonic() - started:.0f} s", flush=True)

        result = run_fuzz(
            server.host,
            server.rpc_port,
            server.stream_port,
            server.alive,
            args.probes,
            args.seed,
            check_every=args.check_every,
            progress=progress,
        )
        took = time.monotonic() - started
        print(f"probes by kind: {dict(result.kinds)}; {result.replies} RPC replies")
        print(f"{result.probes} probes in {took:.0f} s ({result.probes / took:.0f}/s)")
        if idle and under_fuzz:
            idle_ms, fuzz_ms = statistics.median(idle) * 1e3, statistics.median(under_fuzz) * 1e3
            print(
                f"version answered in {fuzz_ms:.1f} ms (median) under fuzz vs {idle_ms:.1f} ms "
                f"idle: ratio {fuzz_ms / idle_ms:.2f}; slowest under fuzz "
                f"{max(under_fuzz) * 1e3:.0f} ms"
            )
        client_ok = False
        if server.alive():
            print(
                f"server RSS {rss_before:.0f} -> {rss_mb(server.process.pid):.0f} MB, log "
                f"{log_before / 1024:.0f} -> {server.log_path.stat().st_size / 1024:.0f} KB"
            )
            body = SYNC_PRELUDE + "import time\n" + STILL_SERVING
            proc = run_client(client_code(server, body), timeout=180)
            lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
            client_ok = proc.returncode == 0 and bool(lines)
            print(f"real client afterwards: {lines[-1] if lines else proc.stderr[-500:]}")
            if "Traceback" in server.log():
                print("the server log has a traceback")
                client_ok = False
    print(result.line())
    return 0 if client_ok and not (result.crashes or result.wedged) else 1


if __name__ == "__main__":
    sys.exit(main())
