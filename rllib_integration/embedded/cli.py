"""Command line of the embedded server, with CarlaUE4's flag spellings where they apply.

python -m rllib_integration.embedded -carla-rpc-port=2000 [-carla-streaming-port=2001]
    [--host 127.0.0.1] [--map Loop01|PATH.xodr] [--map-dir DIR] [--seed 0] [--log-level INFO]
    [--recorder-dir DIR] [--recorder-root DIR ...] [--recorder-max-mb 2048] [--recorder-strict]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import resource
import sys
from pathlib import Path

from rllib_integration.embedded.app import EmbeddedServer, ServerConfig
from rllib_integration.embedded.map_source import MapError
from rllib_integration.embedded.protocol.limits import PARTIAL_MESSAGE_TIMEOUT_S
from rllib_integration.embedded.protocol.tm_gate import RELEASE_DELAY_S
from rllib_integration.embedded.protocol.tm_watchdog import POKE_AFTER_S
from rllib_integration.embedded.recorder.paths import RecorderPaths, default_folder
from rllib_integration.embedded.recorder.service import RecorderConfig

# CarlaUE4 flags that have no meaning here; accepted so launch scripts work unchanged.
IGNORED_UE_FLAGS = (
    "-RenderOffScreen",
    "-nosound",
    "-opengl",
    "-vulkan",
    "-benchmark",
    "-quality-level",
    "-fps",
    "-ini",
    "-carla-server",
    "-carla-primary-host",
    "-carla-primary-port",
    "-carla-secondary-port",
    "-ResX",
    "-ResY",
    "-windowed",
    "-prefernvidia",
    "-graphicsadapter",
    "-nullrhi",
    "-unattended",
)


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range 1..65535")
    return port


def _seconds(text: str) -> float:
    seconds = float(text)
    if not 0.0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rllib_integration.embedded",
        description="Embedded CARLA 0.9.16-compatible server.",
    )
    p.add_argument(
        "-carla-rpc-port", "-carla-world-port", "-carla-port", "--carla-rpc-port",
        "--port", dest="rpc_port", type=_port, default=2000,
        help="RPC port (default 2000)",
    )  # fmt: skip
    p.add_argument(
        "-carla-streaming-port", "--carla-streaming-port", dest="stream_port", type=_port,
        default=None, help="streaming port (default: RPC port + 1)",
    )  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--map", default="Loop01", help="map name or path to an .xodr file")
    p.add_argument("--map-dir", default=None, help="folder with CARLA town .xodr files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--profile", default=None, help="write cProfile stats of the server here on exit"
    )
    p.add_argument(
        "--tm-gate",
        action=argparse.BooleanOptionalAction,
        default=ServerConfig.tm_gate,
        help="hold a client Traffic Manager's settings request until just after the next tick, "
        "which narrows the window of its lost wake-up (protocol/tm_gate.py)",
    )
    p.add_argument(
        "--tm-poke-ms", type=float, default=POKE_AFTER_S * 1000,
        help="poke a client Traffic Manager that has not stepped this long after a synchronous "
        "tick (protocol/tm_watchdog.py); 0: never",
    )  # fmt: skip
    p.add_argument(
        "--tm-gate-delay-ms", type=float, default=RELEASE_DELAY_S * 1000,
        help="how long after a tick the TM worker's held reply is released (ms)",
    )  # fmt: skip
    p.add_argument(
        "--partial-message-timeout", type=_seconds, default=PARTIAL_MESSAGE_TIMEOUT_S,
        help="close an RPC connection whose half-sent message makes no progress for this long "
        f"(s, default {PARTIAL_MESSAGE_TIMEOUT_S:g})",
    )  # fmt: skip
    p.add_argument(
        "--event-loop", default="auto", choices=["auto", "uvloop", "asyncio"],
        help="event loop implementation (auto: uvloop if installed)",
    )  # fmt: skip
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--recorder-dir", type=Path, default=None,
        help=f"where start_recorder('name.log') writes, as CarlaUE4's Saved folder; clients' "
        f"names stay inside it (default {default_folder()})",
    )  # fmt: skip
    p.add_argument(
        "--recorder-root", type=Path, action="append", default=[],
        help="another folder where clients may name recorder files by absolute path "
        "(e.g. $SCENARIO_RUNNER_ROOT/records); repeatable",
    )  # fmt: skip
    p.add_argument(
        "--recorder-max-mb", type=_positive_mb, default=2048,
        help="a recording stops at this size (MB, default 2048)",
    )  # fmt: skip
    p.add_argument(
        "--recorder-strict", action="store_true",
        help="write CARLA 0.9.16's empty door packet in every frame (byte-level comparison)",
    )  # fmt: skip
    return p


def _positive_mb(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive size in MB")
    return value


def recorder_config(args: argparse.Namespace) -> RecorderConfig:
    folder = (args.recorder_dir or default_folder()).expanduser().absolute()
    roots = tuple(r.expanduser().absolute() for r in args.recorder_root)
    return RecorderConfig(
        RecorderPaths(folder, roots),
        max_bytes=int(args.recorder_max_mb * 1024 * 1024),
        doors=args.recorder_strict,
    )


def _split_ignored(argv: list[str]) -> list[str]:
    kept = []
    for arg in argv:
        if arg.split("=", 1)[0] in IGNORED_UE_FLAGS:
            continue
        kept.append(arg)
    return kept


def run_event_loop(coroutine, kind: str) -> None:
    """Run on uvloop when available (less per-message overhead), else on asyncio's own loop."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            uvloop.run(coroutine)
            return
    asyncio.run(coroutine)


def _raise_open_file_limit() -> None:
    """Each client connection takes a file descriptor: allow as many as the hard limit does
    (often 1,024 by default otherwise, which a thousand idle connections would use up)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_split_ignored(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _raise_open_file_limit()
    if args.stream_port is not None and args.stream_port == args.rpc_port:
        print("error: the streaming port must differ from the RPC port", file=sys.stderr)
        return 2
    config = ServerConfig(
        args.host,
        args.rpc_port,
        args.stream_port,
        args.map,
        args.map_dir,
        args.seed,
        tm_gate=args.tm_gate,
        tm_gate_delay=max(args.tm_gate_delay_ms, 0.0) / 1000.0,
        tm_poke_after=max(args.tm_poke_ms, 0.0) / 1000.0,
        recorder=recorder_config(args),
        partial_message_timeout=args.partial_message_timeout,
    )
    try:
        server = EmbeddedServer(config)
    except MapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a map that validated but still cannot be used
        print(f"error: cannot load map {args.map!r}: {exc}", file=sys.stderr)
        return 2
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        run_event_loop(server.serve(lambda line: print(line, flush=True)), args.event_loop)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: port already in use ({exc})", file=sys.stderr)
            return 3
        print(f"error: cannot start the server on {args.host}: {exc}", file=sys.stderr)
        return 3
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return 0
