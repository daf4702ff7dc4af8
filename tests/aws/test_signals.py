"""Signal handling around the EC2 calls that create billable things.

Each test sets SIGINT/SIGTERM itself: pytest may run with SIGINT ignored (under nohup, or as a
background job of a non-interactive shell), and these tests are about what a user's run does.
"""

from __future__ import annotations

import os
import signal

import pytest

from aws.aws_helper import handle_signals
from aws.errors import Interrupted
from aws.signals import signals_deferred, signals_held


@pytest.fixture
def cli_handlers():
    """SIGINT and SIGTERM handled as the CLI handles them in a user's terminal."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, signal.SIG_DFL)
    handle_signals()
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize(
    ("sig", "expected"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Interrupted)]
)
def test_a_signal_during_the_launch_call_is_held_until_the_id_is_known(cli_handlers, sig, expected):
    before = signal.getsignal(sig)
    finished = []
    with pytest.raises(expected):
        with signals_held():
            os.kill(os.getpid(), sig)
            finished.append("run_instances returned")  # the block is not cut short
    assert finished == ["run_instances returned"]
    assert signal.getsignal(sig) == before


def test_signals_during_cleanup_are_ignored(cli_handlers):
    with signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        cleaned = True
    assert cleaned


def test_an_ignored_signal_stays_ignored_while_held_or_deferred(cli_handlers):
    # A background job of a non-interactive shell starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handle_signals()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    with signals_held():
        os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    with signals_deferred():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
