"""Decide whether OpenDRIVE text is safe to hand to libcarla in this process.

libcarla parses OpenDRIVE in C++ and can segfault, hang or eat memory on malformed or hostile
files, so every map is first built in a throw-away subprocess (``_validate_worker``) with a
timeout and memory/CPU limits; the verdict is cached per process by the text's sha1. Cheap checks
that need no parser (size, DTD/entity declarations) run before that. Degenerate ``<spiral>``
records, which libcarla evaluates as NaN, are rewritten to arcs/lines by ``sanitize_xodr``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from rllib_integration.map_geometry import xodr_sha1

MAX_XODR_BYTES = 64 * 1024 * 1024  # CARLA's biggest town (Town05) is under 3 MB
DEFAULT_TIMEOUT_S = 30.0  # Town05 validates in 0.3 s; a hostile hang costs at most this


class MapError(ValueError):
    """A map cannot be used: unknown name, unreadable file, malformed or hostile OpenDRIVE."""


@dataclass(frozen=True)
class MapReport:
    """What the validation subprocess measured on a map that libcarla built successfully."""

    name: str
    sha1: str
    roads: int
    junctions: int
    waypoints: int  # driving waypoints every 2 m
    topology: int  # (start, end) pairs of driving lane segments
    dead_ends: (
        int  # driving waypoints with no successor (the Traffic Manager deletes vehicles there)
    )
    spawn_candidates: int  # topology starts outside junctions


_WORKER = Path(__file__).with_name("_validate_worker.py")  # stdlib + carla only
_cache: dict[str, MapReport | str] = {}  # sha1 -> report or reason for rejection
_cache_lock = threading.Lock()
_SPIRAL = re.compile(r"<spiral\b([^>]*?)/>|<spiral\b([^>]*?)>\s*</spiral>", re.S)
_ATTR = re.compile(r"""(\w+)\s*=\s*["']([^"']*)["']""")


def sanitize_xodr(xodr: str) -> str:
    """Replace ``<spiral>`` records of constant curvature by ``<arc>``/``<line>``.

    libcarla evaluates a spiral with curvStart == curvEnd as NaN (every waypoint on it); the
    equivalent arc is exact. Other text is left byte-for-byte alone.
    """

    def fix(match: re.Match) -> str:
        attrs = dict(_ATTR.findall(match.group(1) or match.group(2) or ""))
        try:
            start, end = float(attrs["curvStart"]), float(attrs["curvEnd"])
        except (KeyError, ValueError):
            return match.group(0)
        if abs(start) < 1e-12 and abs(end) < 1e-12:
            return "<line/>"
        if abs(end - start) <= 1e-9 * max(1.0, abs(start)):
            return f'<arc curvature="{start!r}"/>'
        return match.group(0)

    return _SPIRAL.sub(fix, xodr) if "<spiral" in xodr else xodr


def validate_xodr(
    name: str,
    xodr: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    label: str | None = None,
    trusted: bool = False,
) -> MapReport:
    """Build ``xodr`` with libcarla in a subprocess and check its driving network.

    Returns the report, or raises MapError naming the map and what is wrong. The verdict is cached
    by sha1 of the text, so each map is validated once per process. The caller never crashes:
    a segfault, hang or memory blow-up happens in the child. ``label`` (default: the name) is how
    the error message refers to the map, e.g. with its file path. ``trusted`` text (the built-in
    towns this package generates) is checked in-process, saving a subprocess start.
    """
    sha1 = xodr_sha1(xodr)
    with _cache_lock:
        verdict = _cache.get(sha1)
    if verdict is None:
        try:
            if trusted:
                verdict = _validate_in_process(name, xodr, sha1)
            else:
                verdict = _validate_uncached(name, xodr, sha1, timeout)
        except _Rejected as rejected:
            verdict = str(rejected)
        with _cache_lock:
            _cache[sha1] = verdict
    if isinstance(verdict, str):
        raise MapError(f"map {label or name!r}: {verdict}")
    return verdict if verdict.name == name else replace(verdict, name=name)


class _Rejected(Exception):
    """Why a map is unusable (the map's name is added by the caller)."""


def _validate_uncached(name: str, xodr: str, sha1: str, timeout: float) -> MapReport:
    _precheck(xodr)
    try:
        proc = subprocess.run(
            [sys.executable, str(_WORKER), name],
            input=xodr.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise _Rejected(f"libcarla did not finish loading it within {timeout:.0f} s") from None
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        raise _Rejected(f"libcarla crashed ({sig}) while loading it")
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise _Rejected(
            f"the validation process failed (exit {proc.returncode}): {tail[0]}"
        ) from None
    if "error" in verdict:
        raise _Rejected(verdict["error"])
    return MapReport(name=name, sha1=sha1, **verdict)


def _validate_in_process(name: str, xodr: str, sha1: str) -> MapReport:
    from . import _validate_worker as worker

    try:
        roads, junctions = worker.check_structure(xodr)
        counts = worker.check_with_libcarla(name, xodr)
    except worker.Invalid as error:
        raise _Rejected(str(error)) from None
    return MapReport(name=name, sha1=sha1, roads=roads, junctions=junctions, **counts)


def _precheck(xodr: str) -> None:
    size = len(xodr.encode("utf-8"))
    if size > MAX_XODR_BYTES:
        raise _Rejected(
            f"the OpenDRIVE text is {size / 2**20:.0f} MB, over the "
            f"{MAX_XODR_BYTES / 2**20:.0f} MB limit"
        )
    if not xodr.strip():
        raise _Rejected("the OpenDRIVE text is empty")
    # OpenDRIVE needs no DTD; entity declarations are how XML bombs are built.
    if re.search(r"<!(DOCTYPE|ENTITY)", xodr, re.I):
        raise _Rejected("DOCTYPE/ENTITY declarations are not allowed in OpenDRIVE")


def clear_cache() -> None:
    """Forget cached verdicts (tests)."""
    with _cache_lock:
        _cache.clear()
