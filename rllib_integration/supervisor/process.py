"""Child processes an env owns (the simulator server, the traffic helper): one way to start and
one way to stop them.

Each child runs in its own process group (`start_new_session=True`), dies with the env's process
(`die_with_parent`), finds this package however the env found it (`child_environment`), and is
stopped by `kill_group`, which signals exactly its group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

# The folder that holds the `rllib_integration` package (this file is supervisor/process.py).
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# The children make no gymnasium env: they skip the package's env registration (see
# rllib_integration/__init__.py, which reads this variable).
_SKIP_REGISTRATION = "RLLIB_INTEGRATION_NO_GYM_REGISTRATION"


def child_environment() -> dict[str, str]:
    """os.environ with this package's folder first on PYTHONPATH, for `python -m` children
    (which skip the package's gymnasium registration)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    env[_SKIP_REGISTRATION] = "1"
    return env


def die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the env's process dies without stopping it.

    Otherwise a crashed env process (the carla client can abort) would orphan its children.
    """
    if _LIBC_PRCTL is not None:
        _LIBC_PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1
# Looked up in the parent: nothing that may fork or lock may run between fork and exec.
try:
    _LIBC_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
except (OSError, AttributeError):
    _LIBC_PRCTL = None


def kill_group(process: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the child's group (SIGCONT too, in case it was stopped), then SIGKILL what is left.

    The child must have been started with `start_new_session=True`, so that its pid is its
    group's id and nothing else is signalled.
    """
    pgid = process.pid
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
