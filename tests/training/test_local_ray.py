"""The trainer's local Ray: its ports listen on every interface (Ray 2.60 cannot bind them to
127.0.0.1), so its token authentication must stay on, and the trainer says so when it is off."""

from __future__ import annotations

import sys

from tests.conftest import run_command
from tests.dqn.helpers import script_env

START = (
    "import ray\n"
    "from rllib_integration.training.trainer import start_ray\n"
    "start_ray(None, 1, '')\n"
    "print('ray started')\n"
    "ray.shutdown()\n"
)
TOKEN_ON = "Token authentication is enabled for this Ray cluster"


def start_local_ray(**environ: str):
    env = script_env(**environ)
    if "RAY_AUTH_MODE" not in environ:
        env.pop("RAY_AUTH_MODE", None)
    result = run_command([sys.executable, "-c", START], 180, env)
    assert result.returncode == 0 and "ray started" in result.stdout, result.stderr[-3000:]
    return result


def test_the_local_ray_takes_a_token():
    result = start_local_ray()
    assert TOKEN_ON in result.stderr, result.stderr[-3000:]
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_a_local_ray_without_a_token_is_one_warning():
    result = start_local_ray(RAY_AUTH_MODE="disabled")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: RAY_AUTH_MODE=disabled: this run's Ray listens on every network interface "
        "without authentication, so anyone who can reach this machine can run code as you; "
        "unset it unless the network is yours alone"
    ], result.stderr[-3000:]
    assert TOKEN_ON not in result.stderr
