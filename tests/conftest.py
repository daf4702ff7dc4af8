"""Shared fixtures: free ports, the embedded server as a subprocess, and real-client runs.

    with start_embedded_server() as server:          # or the `embedded_server` fixture
        result = run_client(client_code(server, "print(world.get_map().name)"), timeout=30)

The server runs in its own process group and is stopped by that group only; client code runs in
a subprocess (the real `carla` client can segfault on malformed data) with faulthandler on.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# CARLA town .xodr files beside the checkout (read-only); tests skip when absent, as on a fresh clone.
CARLA_TOWNS = ROOT.parent / "shared" / "maps" / "carla"
PYTHON = sys.executable
READY_MARKER = "embedded CARLA server ready"


def _bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_range(size: int) -> tuple[int, int]:
    """Where to look for free ports: below the kernel's ephemeral range when there is room, since
    a port found free there can be taken as the source port of any outgoing connection before
    the test binds it (a Traffic Manager's bind once failed so under load)."""
    try:
        ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_start = 32768  # Linux's default
    if ephemeral_start - 10000 >= 5000:
        return 10000, ephemeral_start - size
    return 20000, 60000 - size


def free_port_block(size: int = 3, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """First port of `size` consecutive free ports (bind-probed; random start to avoid races)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    low, high = _port_range(size)
    for _ in range(attempts):
        base = rng.randrange(low, high)
        if all(_bindable(base + i, host) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found on {host}")


@dataclass
class EmbeddedServerHandle:
    host: str
    rpc_port: int
    stream_port: int
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


_live_groups: set[int] = set()  # servers started here and not yet stopped


_PYTEST_PID = os.getpid()


def _raise_interrupt(signum, frame):
    if os.getpid() != _PYTEST_PID:  # a forked child: terminate as it would have by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config) -> None:
    # A `timeout`/CI SIGTERM unwinds the fixtures (which stop their servers) like Ctrl-C does.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def pytest_unconfigure(config) -> None:
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    _live_groups.clear()


def stop_group(
    process: subprocess.Popen, grace: float = 10.0, sig: signal.Signals = signal.SIGTERM
) -> None:
    """`sig` to the process group this test started, then SIGKILL after `grace` seconds."""
    _live_groups.discard(process.pid)
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextlib.contextmanager
def start_embedded_server(
    *args: str, map_name: str | None = None, startup_timeout: float = 90.0
) -> Iterator[EmbeddedServerHandle]:
    """Start `python -m rllib_integration.embedded` on free ports; stop its process group after."""
    host = "127.0.0.1"
    last_error = ""
    for _attempt in range(3):  # another process may grab the probed ports first
        port = free_port_block(3, host)
        log_file = tempfile.NamedTemporaryFile(
            prefix=f"embedded-{port}-", suffix=".log", delete=False
        )
        log_path = Path(log_file.name)
        cmd = [
            PYTHON,
            "-m",
            "rllib_integration.embedded",
            f"-carla-rpc-port={port}",
            "--host",
            host,
        ]
        if map_name:
            cmd += ["--map", map_name]
        cmd += list(args)
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "RLLIB_INTEGRATION_NO_GYM_REGISTRATION": "1"},  # no env made here
        )
        _live_groups.add(process.pid)
        log_file.close()
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if READY_MARKER in log_path.read_text(errors="replace"):
                break
            time.sleep(0.05)
        if process.poll() is None and READY_MARKER in log_path.read_text(errors="replace"):
            handle = EmbeddedServerHandle(host, port, port + 1, log_path, process)
            try:
                yield handle
            finally:
                stop_group(process)
            return
        stop_group(process)
        last_error = log_path.read_text(errors="replace")
        if "already in use" not in last_error:
            break
    raise RuntimeError(f"embedded server did not start:\n{last_error}")


@pytest.fixture
def embedded_server() -> Iterator[EmbeddedServerHandle]:
    """A fresh embedded server (default map) for one test."""
    with start_embedded_server() as server:
        yield server


@pytest.fixture(scope="module")
def module_embedded_server() -> Iterator[EmbeddedServerHandle]:
    """One embedded server shared by the tests of a module (tests must clean up their actors)."""
    with start_embedded_server() as server:
        yield server


def start_command(
    command: list[str], env: dict | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    """`command` started in `cwd` (the checkout's root) in its own process group, output piped
    as text."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_command(
    command: list[str], timeout: float, env: dict | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run `command` in `cwd` (the checkout's root) in its own process group, output captured
    as text.

    On timeout the process group is killed and the result has returncode -9 and a note in stderr.
    """
    process = start_command(command, env, cwd)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        note = f"\n[{' '.join(command[:3])} ...] timed out after {timeout} s\n"
        return subprocess.CompletedProcess(process.args, -9, out, (err or "") + note)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the child behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_client(
    code: str, timeout: float = 60.0, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run real-client Python `code` in a subprocess (own process group, faulthandler on);
    see `run_command`."""
    command, full_env = client_command(code, env)
    return run_command(command, timeout, full_env)


def client_command(code: str, env: dict | None = None) -> tuple[list[str], dict]:
    """The command and environment that run real-client Python `code` (faulthandler on,
    unbuffered output)."""
    full_env = dict(os.environ, PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1", **(env or {}))
    return [PYTHON, "-X", "faulthandler", "-c", textwrap.dedent(code)], full_env


def client_code(server: EmbeddedServerHandle, body: str, timeout: float = 5.0) -> str:
    """`body` prefixed with a connected `client` and `world` (and `import carla`)."""
    prelude = (
        "import carla\n"
        f"client = carla.Client({server.host!r}, {server.rpc_port})\n"
        f"client.set_timeout({timeout})\n"
        "world = client.get_world()\n"
    )
    return prelude + textwrap.dedent(body)


def run_module(
    module: str, *args: str, timeout: float = 120.0, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m module args...`` (see `run_command`)."""
    return run_command([PYTHON, "-m", module, *args], timeout, dict(os.environ, **(env or {})))


def pip(*args: str, timeout: float = 300) -> None:
    """`python -m pip ARGS` with the running interpreter's pip; fails the test with its output."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory) -> Path:
    """A throw-away venv with this checkout installed editable, as scripts/bootstrap.sh does
    (never the project's own .venv). Its dependencies are the running interpreter's, reached
    through a .pth file, so nothing is downloaded. Its console scripts are in `<venv>/bin`."""
    root = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip("--python", str(python), "install", "--no-deps", "--no-build-isolation", "-e", str(ROOT))
    return root


# Runs `python ARGS...` with SIGINT and SIGTERM set here rather than inherited: under nohup or as a
# background job of a non-interactive shell, pytest itself ignores SIGINT, and an ignored signal
# stays ignored across exec, so a child the tests signal would not behave as it does for a user.
_WITH_DISPOSITIONS = """\
import os, signal, sys
ignored = {int(n) for n in sys.argv[1].split(",") if n}
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def python_command(*args: str, ignored: tuple[signal.Signals, ...] = ()) -> list[str]:
    """argv for `python ARGS...` whose SIGINT/SIGTERM are at their defaults, except `ignored`."""
    signals = ",".join(str(int(sig)) for sig in ignored)
    return [sys.executable, "-S", "-c", _WITH_DISPOSITIONS, signals, *args]
