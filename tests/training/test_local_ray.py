"""The trainer's local Ray listens on 127.0.0.1 only and takes a token; the trainer says so in
one warning line when either is not the case."""

from __future__ import annotations

import ipaddress
import json
import sys

from tests.conftest import run_command
from tests.dqn.helpers import script_env

# As the trainer's main() does: the loopback switch before ray is imported, then start_ray.
START = """\
import json, os, psutil
from rllib_integration.training.ray_start import keep_local_ray_on_loopback, start_ray
keep_local_ray_on_loopback(os.environ)
import ray
start_ray(None, 1, '')
ray.get(ray.remote(lambda: 1).remote())  # a worker is up too
me = psutil.Process()
listening = set()
for process in [me, *me.children(recursive=True)]:
    try:
        for connection in process.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                listening.add(connection.laddr.ip)
    except psutil.Error:
        pass
print("listening " + json.dumps(sorted(listening)))
ray.shutdown()
"""
TOKEN_ON = "Token authentication is enabled for this Ray cluster"


def start_local_ray(**environ: str) -> tuple[list[str], list[str], str]:
    """The addresses the local Ray listens on, the warning lines of its start, its stderr."""
    env = script_env(**environ)
    for name in ("RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        if name not in environ:
            env.pop(name, None)
    result = run_command([sys.executable, "-c", START], 180, env)
    assert result.returncode == 0, result.stderr[-3000:]
    listening = json.loads(result.stdout.split("listening ", 1)[1])
    assert listening, result.stderr[-3000:]  # GCS, raylet and the workers listen somewhere
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    return listening, warnings, result.stderr


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (
        ip.version == 6 and bool(ip.ipv4_mapped and ip.ipv4_mapped.is_loopback)
    )


def test_the_local_ray_listens_on_127_0_0_1_only_and_takes_a_token():
    listening, warnings, stderr = start_local_ray()
    assert all(is_loopback(address) for address in listening), listening
    assert TOKEN_ON in stderr, stderr[-3000:]
    assert warnings == []


def test_a_local_ray_without_a_token_is_one_warning():
    listening, warnings, stderr = start_local_ray(RAY_AUTH_MODE="disabled")
    assert TOKEN_ON not in stderr
    assert all(is_loopback(address) for address in listening), listening
    assert warnings == [
        "warning: RAY_AUTH_MODE=disabled: this run's Ray (on 127.0.0.1) takes no token, so any "
        "user of this machine can run code as you; unset it on a shared machine"
    ]


def test_a_local_ray_opened_to_the_network_is_one_warning():
    listening, warnings, _ = start_local_ray(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
    assert not all(is_loopback(address) for address in listening), listening
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: this run's Ray listens on every network interface")
    assert "(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER='1', or ray was imported" in warnings[0]
