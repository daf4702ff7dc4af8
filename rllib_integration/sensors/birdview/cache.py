"""On-disk and in-process cache of rasterised static maps.

One file per (OpenDRIVE content, resolution, static layout), under a user cache directory shared
by every worker on the machine. Writers hold a file lock and publish with an atomic rename, so a
reader sees a whole file or none; a file that fails its checksum or shape check is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.static_map import StaticMap

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CACHE_DIR_ENV = "RLLIB_INTEGRATION_CACHE_DIR"
_MEMORY: OrderedDict[str, StaticMap] = OrderedDict()  # resets in one process skip the disk
_MEMORY_ENTRIES = 4


def default_cache_dir() -> Path:
    """$RLLIB_INTEGRATION_CACHE_DIR, else $XDG_CACHE_HOME/rllib_integration, else ~/.cache/...;
    the bird's-eye view keeps its files in a ``birdview`` folder under it."""
    root = os.environ.get(CACHE_DIR_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "rllib_integration")
    return Path(root) / "birdview"


@dataclass(frozen=True)
class CacheKey:
    map_name: str
    xodr_sha1: str
    pixels_per_meter: float

    @property
    def stem(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.map_name.rsplit("/", 1)[-1]) or "map"
        layout = hashlib.sha1(f"{palette.STATIC_LAYOUT}|v{FORMAT_VERSION}".encode()).hexdigest()
        return f"{name}_{self.xodr_sha1[:16]}_{self.pixels_per_meter:g}ppm_{layout[:8]}"


@dataclass
class CacheResult:
    static: StaticMap
    source: str  # 'memory' | 'disk' | 'built'
    seconds: float
    path: Path


def xodr_sha1(xodr: str) -> str:
    return hashlib.sha1(xodr.encode("utf-8")).hexdigest()


def load_or_build(
    key: CacheKey,
    build: Callable[[], StaticMap],
    cache_dir: str | os.PathLike | None = None,
) -> CacheResult:
    """The static map for ``key``: from memory, else from disk, else ``build()`` and store it."""
    start = time.perf_counter()
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    path = directory / f"{key.stem}.npz"
    memo_key = str(path)
    if memo_key in _MEMORY:
        _MEMORY.move_to_end(memo_key)
        return CacheResult(_MEMORY[memo_key], "memory", time.perf_counter() - start, path)

    static = _read(path, key)
    source = "disk"
    if static is None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with FileLock(str(path) + ".lock"):
                static = _read(path, key)  # another worker may have built it while we waited
                if static is None:
                    static = build()
                    _write(path, key, static)
                    source = "built"
        except OSError as error:  # read-only or full disk: render anyway, just uncached
            log.warning(
                "cannot use the bird's-eye view cache in %s (%s); keeping the map in memory "
                "only (set cache_dir or $%s to a writable folder)",
                directory,
                error,
                CACHE_DIR_ENV,
            )
            static = static if static is not None else build()
            source = "built"
    _MEMORY[memo_key] = static
    while len(_MEMORY) > _MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)
    return CacheResult(static, source, time.perf_counter() - start, path)


def clear_memory() -> None:
    """Forget the in-process copies (the disk files stay)."""
    _MEMORY.clear()


def _meta(key: CacheKey, static: StaticMap) -> dict:
    return {
        "format": FORMAT_VERSION,
        "layout": palette.STATIC_LAYOUT,
        "map_name": key.map_name,
        "xodr_sha1": key.xodr_sha1,
        "pixels_per_meter": key.pixels_per_meter,
        "origin": list(static.origin),
        "shape": list(static.raster.shape),
        "crc32": zlib.crc32(static.raster.data),
    }


def _write(path: Path, key: CacheKey, static: StaticMap) -> None:
    meta = np.frombuffer(json.dumps(_meta(key, static)).encode(), np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, raster=static.raster, meta=meta)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, key: CacheKey) -> StaticMap | None:
    """The cached map, or None if absent or unusable (then it will be rebuilt and replaced)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            raster = data["raster"]
        problem = _check(meta, raster, key)
    except Exception as error:  # truncated zip, bad JSON, wrong dtype: all mean "rebuild"
        problem = f"{type(error).__name__}: {error}"
    if problem:
        log.warning("bird's-eye view cache %s is unusable (%s); rebuilding it", path, problem)
        return None
    return StaticMap(raster, (meta["origin"][0], meta["origin"][1]), meta["pixels_per_meter"])


def _check(meta: dict, raster: np.ndarray, key: CacheKey) -> str | None:
    expected = {
        "format": FORMAT_VERSION,
        "layout": palette.STATIC_LAYOUT,
        "xodr_sha1": key.xodr_sha1,
        "pixels_per_meter": key.pixels_per_meter,
    }
    for name, value in expected.items():
        if meta.get(name) != value:
            return f"{name} is {meta.get(name)!r}, expected {value!r}"
    if raster.dtype != np.uint8 or raster.ndim != 2 or list(raster.shape) != meta.get("shape"):
        return f"raster is {raster.dtype} {raster.shape}, expected uint8 {meta.get('shape')}"
    if zlib.crc32(np.ascontiguousarray(raster).data) != meta.get("crc32"):
        return "checksum mismatch"
    return None
