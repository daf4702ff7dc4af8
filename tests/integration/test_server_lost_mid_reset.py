"""A server that dies in the middle of a reset is found lost at the first client call that
fails, not after every spawn point or every actor has waited out the client's timeout.

The client reports a failed spawn (`try_spawn_actor`) or destroy only by returning nothing, after
its timeout; on a lost server every such call fails. A reset that tried each of a map's spawn
points in turn therefore went silent for spawn points x timeout (96 x 10 s on Loop01) and then
stopped training with a SetupError (tests/dqn/test_fault_tolerance.py hung this way once in 15
loaded runs: the server was killed while the env runner reset the episode). Each scenario kills
the server at that exact moment, in its own process (the client can abort on a lost server).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_scenario(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tests.integration.scenarios", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("start", ["spawn_point", "route"])
def test_a_server_lost_at_the_spawn_is_restarted_after_one_spawn(start):
    result = run_scenario("server_lost_at_the_spawn", start)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK spawns on the lost server: 1" in result.stdout


def test_a_server_lost_before_the_destroys_is_restarted_after_one_destroy():
    result = run_scenario("server_lost_before_the_heroes_are_destroyed")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK destroys on the lost server: 1" in result.stdout
