"""Run a client process under a parent-side watchdog; a stall fails with the client's backtrace.

The client prints `PROGRESS <n>` from a heartbeat thread (HEARTBEAT below). A hang inside the
carla library cannot be interrupted from within, and one that holds the GIL stops every Python
thread, so the parent watches: when the count stops moving (or the client overruns its timeout)
it takes every thread's backtrace with gdb, kills the client's process group, and reports both.
Also: `LostWakeup(pid)`, which makes a Traffic Manager lose its next wake-up on purpose.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tests.conftest import client_command, start_command

GDB = shutil.which("gdb")
LOSE_WAKEUP_SCRIPT = Path(__file__).with_name("tm_wakeup_gdb.py")
PROGRESS_PREFIX = "PROGRESS "

# Client-side: `progress[0]` is the number of ticks done, watched once above 0; None pauses the
# watch (the script is busy elsewhere). A thread reports it twice a second.
# PR_SET_PTRACER_ANY lets gdb attach where Yama restricts ptrace to ancestors.
HEARTBEAT = """
import ctypes, sys, threading, time
ctypes.CDLL(None).prctl(0x59616D61, ctypes.c_ulong(-1), 0, 0, 0)
progress = [0, time.monotonic()]
def _heartbeat():
    while True:
        # One write per line, newline included (print writes the text and the newline
        # separately, and this thread's line could land between another print's two halves).
        sys.stdout.write(f"PROGRESS {'-' if progress[0] is None else progress[0]}\\n")
        sys.stdout.flush()
        time.sleep(0.5)
threading.Thread(target=_heartbeat, daemon=True).start()
"""


class ClientStalled(AssertionError):
    """The watched client stopped making progress (or overran its timeout)."""


def gdb_backtrace(pid: int, frames: int = 14) -> str:
    """Every thread's innermost `frames` frames, or why they could not be taken."""
    if GDB is None:
        return "(no backtrace: gdb is not installed)"
    try:
        out = subprocess.run(
            [GDB, "-q", "-batch", "-nx", "-p", str(pid), "-ex", f"thread apply all bt {frames}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "(no backtrace: gdb timed out)"
    lines = [line for line in out.stdout.splitlines() if line.startswith(("Thread", "#"))]
    return "\n".join(lines) or out.stderr[-2000:]


def run_watched_client(
    code: str, timeout: float, stall_after: float = 30.0, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run Python `code` (prefixed with HEARTBEAT) like conftest.run_client, but watched.

    Raises ClientStalled, with the backtrace and output, when no tick is reported for
    `stall_after` seconds once ticking has begun, or when the run overruns `timeout`.
    """
    process = start_command(*client_command(HEARTBEAT + textwrap.dedent(code), env))
    out: list[str] = []
    err: list[str] = []
    progress: dict = {"ticks": 0, "changed": time.monotonic()}  # ticks None: paused

    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None  # start_command's pipes

    def read_out() -> None:
        for line in stdout:
            if line.startswith(PROGRESS_PREFIX):
                value = line[len(PROGRESS_PREFIX) :].strip()
                ticks = None if value == "-" else int(value)
                if ticks != progress["ticks"]:
                    progress.update(ticks=ticks, changed=time.monotonic())
            else:
                out.append(line)

    def read_err() -> None:
        err.extend(stderr)

    readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            now = time.monotonic()
            ticks = progress["ticks"]
            stalled = bool(ticks) and now - progress["changed"] > stall_after
            if stalled or now > deadline:
                backtrace = gdb_backtrace(process.pid)
                _kill(process)
                for reader in readers:
                    reader.join(10)
                what = (
                    f"no tick for {stall_after:.0f} s after {progress['ticks']} ticks"
                    if stalled
                    else f"overran its {timeout:.0f} s timeout after {progress['ticks']} ticks"
                )
                raise ClientStalled(
                    f"client stalled: {what}\nbacktrace:\n{backtrace}\n"
                    f"stdout:\n{''.join(out)[-3000:]}\nstderr:\n{''.join(err)[-3000:]}"
                )
            time.sleep(0.2)
    except BaseException:
        _kill(process)
        raise
    for reader in readers:
        reader.join(10)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(out), "".join(err))


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class LostWakeup:
    """gdb (tm_wakeup_gdb.py) making process `pid`'s Traffic Manager lose its next wake-up.

    Start it while the process has no request in flight: gdb stops it for seconds while it
    attaches, and a request pending that long times out on resuming. Returns once armed; gdb's
    output goes on to this process's stderr (a stall report then shows how far gdb got).
    """

    def __init__(self, pid: int, timeout: float = 120.0) -> None:
        if GDB is None:
            raise RuntimeError("gdb is not installed")
        self.lines: list[str] = []
        self.finished_at: float | None = None  # time.monotonic() when gdb let the process go
        self._armed = threading.Event()
        self.gdb = subprocess.Popen(
            [GDB, "-q", "-batch", "-nx", "-p", str(pid), "-x", str(LOSE_WAKEUP_SCRIPT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._armed.wait(timeout):
            self.gdb.kill()
            self.gdb.wait()
            raise RuntimeError("gdb could not arm the lost wake-up:\n" + "".join(self.lines))

    def _read(self) -> None:
        assert self.gdb.stdout is not None  # a pipe
        for line in self.gdb.stdout:
            self.lines.append(line)
            print(f"[gdb] {line}", end="", file=sys.stderr, flush=True)
            if line.strip() == "ARMED":
                self._armed.set()
        self.gdb.wait()
        self.finished_at = time.monotonic()

    def done(self) -> bool:
        """gdb has finished (the worker was held and let go, or it gave up)."""
        return self.finished_at is not None

    def waited_after(self, started: float, ended: float) -> float:
        """How long a call from `started` to `ended` went on once gdb had let the process go:
        what recovering the lost wake-up took, without gdb's own time (seconds when loaded)."""
        if self.finished_at is None or ended <= self.finished_at:
            return 0.0
        return ended - max(started, self.finished_at)

    def outcome(self, timeout: float = 120.0) -> str:
        """LOST (the worker waits with its flag set), MISSED (no tick came) or gdb's output."""
        self.gdb.wait(timeout)
        self._reader.join(10)
        words = "".join(self.lines).split()
        for outcome in ("LOST", "MISSED"):
            if outcome in words:
                return outcome
        return "".join(self.lines)[-2000:]
