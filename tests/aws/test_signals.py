"""Signal handling around the EC2 calls that create billable things."""

from __future__ import annotations

import os
import signal

import pytest

from aws.errors import Interrupted
from aws.signals import signals_deferred, signals_held


@pytest.mark.parametrize(
    ("sig", "expected"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Interrupted)]
)
def test_a_signal_during_the_launch_call_is_held_until_the_id_is_known(sig, expected):
    before = signal.getsignal(sig)
    finished = []
    with pytest.raises(expected):
        with signals_held():
            os.kill(os.getpid(), sig)
            finished.append("run_instances returned")  # the block is not cut short
    assert finished == ["run_instances returned"]
    assert signal.getsignal(sig) == before


def test_signals_during_cleanup_are_ignored():
    with signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        cleaned = True
    assert cleaned
