"""SimulatorServer: launch, attach to and supervise one simulator server (CarlaUE4 or the
embedded one, `rllib_integration.embedded`, which this module starts only by command line).

Each launched server gets a block of consecutive ports (RPC, streaming, secondary, Traffic
Manager), reserved by bind-probing under a file lock so that envs on one machine never collide,
runs in its own process group with its own log file, and `stop()` kills only that group.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import filelock
import psutil

from rllib_integration.defaults import (
    HIGHEST_PORT,
    PORTS_PER_BLOCK,
    CarlaSettings,
    ConfigError,
    find_carla_root,
    server_kind,
)
from rllib_integration.supervisor.process import child_environment, die_with_parent, kill_group
from rllib_integration.supervisor.state_dir import logs_dir, state_dir


class ServerError(RuntimeError):
    """The simulator cannot be launched, reached or kept running; the message says why."""


@dataclass(frozen=True)
class PortBlock:
    """Consecutive ports of one server: RPC, streaming, secondary (CARLA >= 0.9.12), Traffic Manager."""

    rpc: int

    @property
    def streaming(self) -> int:
        return self.rpc + 1

    @property
    def secondary(self) -> int:
        return self.rpc + 2

    @property
    def traffic_manager(self) -> int:
        return self.rpc + 3


# ---------------------------------------------------------------- port blocks


def port_is_free(port: int) -> bool:
    """True if nothing listens on (or holds) `port` on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR so that a port whose old connections linger in TIME_WAIT counts as free,
        # as it does for the server (which binds with SO_REUSEADDR too).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reserve_port_block(spread_index: int = 0, base_port: int = 20000) -> PortBlock:
    """Reserve the first free block at or after base_port + PORTS_PER_BLOCK * spread_index.

    The reservation is recorded (with this process's pid) in a registry under a file lock, so
    processes that probe at the same time never get the same block even before their servers
    bind; entries of dead processes are reclaimed.
    """
    directory = state_dir()
    with filelock.FileLock(str(directory / "ports.lock"), timeout=60):
        registry = _live_registry(directory)
        start = base_port + PORTS_PER_BLOCK * max(spread_index, 0)
        span = HIGHEST_PORT - base_port
        for step in range(span // PORTS_PER_BLOCK):
            rpc = base_port + (start - base_port + step * PORTS_PER_BLOCK) % span
            if str(rpc) in registry:
                continue
            if all(port_is_free(rpc + i) for i in range(PORTS_PER_BLOCK)):
                registry[str(rpc)] = os.getpid()
                _write_registry(directory, registry)
                return PortBlock(rpc)
    raise ServerError(
        f"no free block of {PORTS_PER_BLOCK} ports between {base_port} and {HIGHEST_PORT}"
    )


def release_port_block(block: PortBlock) -> None:
    directory = state_dir()
    with filelock.FileLock(str(directory / "ports.lock"), timeout=60):
        registry = _live_registry(directory)
        registry.pop(str(block.rpc), None)
        _write_registry(directory, registry)


def _live_registry(directory: Path) -> dict[str, int]:
    try:
        registry = json.loads((directory / "ports.json").read_text())
    except (OSError, ValueError):
        return {}
    return {port: pid for port, pid in registry.items() if psutil.pid_exists(pid)}


def _write_registry(directory: Path, registry: dict[str, int]) -> None:
    tmp = directory / f"ports.json.{os.getpid()}"
    tmp.write_text(json.dumps(registry))
    os.replace(tmp, directory / "ports.json")


# ---------------------------------------------------------------- command lines


def resolve_server_kind(settings: CarlaSettings) -> str:
    """'attach', 'carla' or 'embedded'; `server: carla` without an install is a ServerError."""
    try:
        return server_kind(settings)
    except ConfigError as error:
        raise ServerError(str(error)) from None


def carla_command(carla_root: Path, ports: PortBlock, settings: CarlaSettings) -> list[str]:
    """CarlaUE4.sh command line with the flags that work headless on CARLA >= 0.9.12."""
    command = [str(carla_root / "CarlaUE4.sh")]
    if settings.show_display:
        command += ["-windowed", f"-ResX={settings.resolution_x}", f"-ResY={settings.resolution_y}"]
    else:
        command.append("-RenderOffScreen")
    command += [
        "-nosound",
        f"-carla-rpc-port={ports.rpc}",
        f"-carla-streaming-port={ports.streaming}",
        f"-quality-level={settings.quality_level}",
    ]
    if settings.gpu is not None:
        command.append(f"-graphicsadapter={settings.gpu}")
    return command


def embedded_command(
    ports: PortBlock, settings: CarlaSettings, extra: Sequence[str] = ()
) -> list[str]:
    """Command line of the embedded server, with CarlaUE4's flag spellings; `extra` arguments
    last (e.g. the `--map FILE` of an `.xodr` town, see towns.py)."""
    command = [
        sys.executable,
        "-m",
        "rllib_integration.embedded",
        f"-carla-rpc-port={ports.rpc}",
        f"-carla-streaming-port={ports.streaming}",
    ]
    if settings.map_dir:
        command += ["--map-dir", str(settings.map_dir)]
    return command + list(extra)


# ---------------------------------------------------------------- the server


class SimulatorServer:
    """One simulator for one env: launched (CarlaUE4 or embedded) or attached to."""

    def __init__(
        self, settings: CarlaSettings, spread_index: int = 0, embedded_args: Sequence[str] = ()
    ):
        self.settings = settings
        self.spread_index = spread_index
        self.embedded_args = tuple(embedded_args)  # extra arguments of an embedded server
        self.kind = resolve_server_kind(settings)
        # A launched server is local (and binds 127.0.0.1); `host` only says where to attach.
        self.host = settings.host if self.kind == "attach" else "127.0.0.1"
        self.ports: PortBlock | None = None
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._launches = 0
        self._tm_block: PortBlock | None = None  # attach mode: a local port for the TM
        if settings.port is not None:  # kind "attach"
            self.ports = PortBlock(settings.port)

    @property
    def block(self) -> PortBlock:
        """The server's ports; a ServerError before a launched server has any."""
        if self.ports is None:
            raise ServerError(f"{self!r} has no ports: it is not running")
        return self.ports

    @property
    def rpc_port(self) -> int:
        return self.block.rpc

    @property
    def tm_port(self) -> int:
        """Traffic Manager port; attached servers get a reserved free one, as TMs run client-side."""
        if self.kind == "attach":
            if self._tm_block is None:
                self._tm_block = reserve_port_block(self.spread_index, self.settings.base_port)
            return self._tm_block.traffic_manager
        return self.block.traffic_manager

    def command(self) -> list[str]:
        if self.kind != "carla":
            return embedded_command(self.block, self.settings, self.embedded_args)
        root = find_carla_root(self.settings)
        if root is None:  # resolve_server_kind has checked it; the environment changed since
            raise ServerError("the CARLA install is no longer configured ($CARLA_ROOT)")
        return carla_command(root, self.block, self.settings)

    def start(self) -> None:
        """Launch (unless attached) and wait until the RPC port accepts connections."""
        if self.kind == "attach":
            self.wait_ready()
            return
        if self.ports is None:
            self.ports = reserve_port_block(self.spread_index, self.settings.base_port)
        self._launches += 1
        if self.settings.log_dir:  # the user's own folder: created, never pruned
            log_dir = Path(self.settings.log_dir)
            log_dir.mkdir(parents=True, exist_ok=True)
        else:
            log_dir = logs_dir()
            _prune_logs(log_dir)
        self.log_path = log_dir / f"{self.kind}-{self.ports.rpc}-{os.getpid()}-{self._launches}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() kills exactly this
                # The embedded server must import this package however the caller found it.
                env=child_environment() if self.kind == "embedded" else None,
                preexec_fn=die_with_parent,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        """Poll the RPC port until it accepts a connection (a carla.Client created before that
        would never reconnect). Raises ServerError if the process exits or time runs out."""
        deadline = time.monotonic() + self.settings.startup_timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"{self.kind} server exited with code {self.process.returncode} while starting"
                    f"; last log lines ({self.log_path}):\n{self.log_tail()}"
                )
            if _accepts_connections(self.host, self.rpc_port):
                return
            if time.monotonic() > deadline:
                where = f"{self.host}:{self.rpc_port}"
                if self.kind == "attach":
                    raise ServerError(
                        f"no CARLA server answers at {where} (env_config.carla.host/port); "
                        "start it first or remove 'port' to let the env launch one"
                    )
                raise ServerError(
                    f"{self.kind} server did not open {where} within "
                    f"{self.settings.startup_timeout} s; log: {self.log_path}\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def is_alive(self) -> bool:
        if self.kind == "attach":
            return _accepts_connections(self.host, self.rpc_port)
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Kill this server's process group (only it) and release its ports."""
        process, self.process = self.process, None
        if process is not None:
            kill_group(process)
        if self.kind != "attach" and self.ports is not None:
            release_port_block(self.ports)
            self.ports = None
        if self._tm_block is not None:
            release_port_block(self._tm_block)
            self._tm_block = None

    def restart(self) -> None:
        """Stop and launch again on the same ports; attached servers can only be waited for."""
        if self.kind == "attach":
            self.wait_ready()
            return
        ports = self.ports
        process, self.process = self.process, None
        if process is not None:
            kill_group(process)
        self.ports = ports
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        port = self.ports.rpc if self.ports else None
        return f"SimulatorServer(kind={self.kind!r}, port={port}, pid={pid})"


def _prune_logs(log_dir: Path, keep: int = 200) -> None:
    """Keep the default log folder bounded: drop all but the newest `keep` server logs."""

    def age(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # removed meanwhile by another env
            return 0.0

    # Only regular files directly in the folder (never what a link points to).
    logs = sorted((p for p in log_dir.glob("*.log") if _is_regular_file(p)), key=age)
    for old in logs[:-keep]:
        with contextlib.suppress(OSError):
            old.unlink()


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _accepts_connections(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False
