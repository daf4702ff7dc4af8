"""Ctrl-C and SIGTERM around the EC2 calls that create or remove billable things.

Two windows must not be cut short by a signal: the `run_instances` call (until its instance id is
known, nothing could clean the instance up) and the cleanup itself. A signal the process ignores
stays ignored (see `aws_helper.handle_signals`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

from aws.errors import Interrupted

log = logging.getLogger("aws_helper")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _handled_by(handler: Callable[[int, object], None]) -> Iterator[None]:
    """`handler` for SIGINT and SIGTERM inside the block (unless ignored), then the old ones."""
    previous = {
        sig: signal.signal(sig, handler)
        for sig in _SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """During cleanup, a second Ctrl-C or SIGTERM must not abandon the instance half-way."""

    def refuse(signum: int, frame: object) -> None:
        log.warning("cleanup in progress, please wait (signal %d ignored)", signum)

    with _handled_by(refuse):
        yield


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the block ends, then raise as the signal would have."""
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    with _handled_by(hold):
        yield
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(pending[0])
