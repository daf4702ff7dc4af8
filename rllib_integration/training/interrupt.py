"""Ctrl-C and SIGTERM during training: Ctrl-C stops at the end of the current iteration with a
checkpoint; SIGTERM stops at once.

Tune's own SIGINT handler ends `fit()` as if the run had finished (the trainer then exited 0
with "final checkpoint") and saves no checkpoint of the trial. The trainer turns Tune's handler
off (`TUNE_DISABLE_SIGINT_HANDLER`) and installs `Interrupt`: the first SIGINT only sets a
flag, which `RunStopper` turns into the trial's stop at the next result, so Tune's
`checkpoint_at_end` saves where the run got to and the trainer exits 130; a second SIGINT
raises KeyboardInterrupt at once. SIGTERM (`kill`, a batch system ending a job, which sends
SIGKILL soon after) stops at once too (a KeyboardInterrupt, with `Interrupt.terminated` set),
so the trainer still names the latest checkpoint and shuts Ray down. A signal that was ignored
when the trainer started (nohup, a background job) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from ray.tune.stopper import Stopper
from ray.tune.utils import flatten_dict

# Tune reads it when fit() starts; "1" keeps Tune from installing its own SIGINT handler.
TUNE_SIGINT_VARIABLE = "TUNE_DISABLE_SIGINT_HANDLER"
# Set by the first SIGINT. Module-level, not an attribute of the stopper: Tune pickles its
# run config (stopper included), and the copies must see the same flag.
_REQUESTED = threading.Event()


def interrupt_requested() -> bool:
    """True once the running trainer got its first SIGINT."""
    return _REQUESTED.is_set()


class Interrupt:
    """The first SIGINT of a run: a flag, and one line saying what happens next."""

    def __init__(self, program: str, stream: TextIO = sys.stderr) -> None:
        self.program = program
        self.stream = stream
        # A flag, not an exception type: Ray re-raises a KeyboardInterrupt that arrives while it
        # waits (ray.get) as a new plain one.
        self.terminated = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        _REQUESTED.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next one stops at once
        print(
            f"{self.program}: interrupted: stopping after the current iteration with a "
            "checkpoint (Ctrl-C again to stop at once)",
            file=self.stream,
            flush=True,
        )

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.terminated = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the next one ends the process
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupt]:
        """Handle SIGINT and SIGTERM inside the block (those not ignored), as before after it."""
        _REQUESTED.clear()
        handlers = {signal.SIGINT: self._on_sigint, signal.SIGTERM: self._on_sigterm}
        previous = {sig: signal.getsignal(sig) for sig in handlers}
        # An ignored signal stays ignored; one set outside Python (None) is left alone.
        taken = [sig for sig in handlers if previous[sig] not in (signal.SIG_IGN, None)]
        for sig in taken:
            signal.signal(sig, handlers[sig])
        try:
            yield self
        finally:
            for sig in taken:
                signal.signal(sig, previous[sig])


class RunStopper(Stopper):
    """Tune's `stop` criteria (result value >= limit, keys flattened with '/'), and a stop of
    every trial once the trainer got a SIGINT."""

    def __init__(self, criteria: dict[str, float]) -> None:
        self.criteria = dict(criteria)

    def __call__(self, trial_id: str, result: dict) -> bool:
        if interrupt_requested():
            return True
        flat = flatten_dict(result, delimiter="/")
        return any(key in flat and flat[key] >= limit for key, limit in self.criteria.items())

    def stop_all(self) -> bool:
        return False
