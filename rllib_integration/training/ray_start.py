"""Starting Ray for a training run: a private local instance on 127.0.0.1, or a cluster's.

On Linux a local `ray.init()` gives the node the machine's network address, and Ray 2.60's GCS,
raylet, workers and agents listen on every interface (`::`). `ray.init(_node_ip_address=
"127.0.0.1")` does not change that: Ray swaps a loopback address for the network one
(`services.resolve_ip_for_localhost`). What Ray does on macOS and Windows, where local Ray is
not meant to be reached from other machines, is to use the loopback address as the node's
address, and then every one of its servers listens on 127.0.0.1 only; on Linux the same path is
taken with `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`. Ray reads it when it is imported, so the
trainer sets it before anything imports ray (`keep_local_ray_on_loopback`) and `start_ray`
checks the address the node got.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

# Ray's switch between local-only Ray (the loopback address) and a node others can join.
LOCAL_ONLY_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def keep_local_ray_on_loopback(environ: MutableMapping[str, str]) -> None:
    """Have the local Ray this process starts listen on 127.0.0.1 only (a value the user set
    is kept). Must run before `ray` is imported."""
    environ.setdefault(LOCAL_ONLY_VARIABLE, "0")


def start_ray(address: str | None, num_cpus_needed: int, python_path: str) -> None:
    """Join the cluster at `address`, or start a private local Ray (no dashboard)."""
    import ray

    # Workers import the experiment's code from where the driver found it.
    runtime_env = {"env_vars": {"PYTHONPATH": python_path}}
    if address:
        # `ray start` enables token auth in Ray 2.60; drivers must say so too (rllib.md P12).
        if (Path.home() / ".ray" / "auth_token").is_file():
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray.init(address=address, runtime_env=runtime_env)
        return
    # Each env runner and the Tune trial actor take a logical CPU (rllib.md P11).
    ray.init(
        num_cpus=max(os.cpu_count() or 1, num_cpus_needed),
        include_dashboard=False,
        runtime_env=runtime_env,
    )
    warning = local_ray_warning(ray.util.get_node_ip_address(), os.environ)
    if warning:
        print(warning, file=sys.stderr, flush=True)


def local_ray_warning(node_address: str, environ: Mapping[str, str]) -> str | None:
    """What to say about a local Ray whose node got `node_address`, if anything."""
    no_token = environ.get("RAY_AUTH_MODE", "").strip().lower() == "disabled"
    if not ipaddress.ip_address(node_address).is_loopback:
        why = f"{LOCAL_ONLY_VARIABLE}={environ.get(LOCAL_ONLY_VARIABLE, '')!r}"
        open_door = "; RAY_AUTH_MODE=disabled lets anyone who reaches it run code as you"
        return (
            f"warning: this run's Ray listens on every network interface (node {node_address}), "
            f"not 127.0.0.1 ({why}, or ray was imported before the trainer set it to '0')"
            + (open_door if no_token else "")
        )
    if no_token:
        return (
            "warning: RAY_AUTH_MODE=disabled: this run's Ray (on 127.0.0.1) takes no token, so any "
            "user of this machine can run code as you; unset it on a shared machine"
        )
    return None
