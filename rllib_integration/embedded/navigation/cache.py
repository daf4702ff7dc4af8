"""On-disk cache of built navigation meshes, shared by every server process on the machine.

One file per (OpenDRIVE text, builder version). Writers hold a file lock and publish with an
atomic rename, so a reader sees a whole file or none; each file ends with the SHA-1 of its
content, and one that fails the check is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "RLLIB_INTEGRATION_CACHE_DIR"  # the same root as the bird's-eye view cache
_DIGEST = 20


def default_cache_dir() -> Path:
    """$RLLIB_INTEGRATION_CACHE_DIR/navigation, else under $XDG_CACHE_HOME or ~/.cache."""
    root = os.environ.get(CACHE_DIR_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "rllib_integration")
    return Path(root) / "navigation"


def safe_name(map_name: str) -> str:
    """A map name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", map_name.rsplit("/", 1)[-1]) or "map"


def load_or_build(
    stem: str, build: Callable[[], bytes], cache_dir: str | os.PathLike | None = None
) -> bytes:
    """The cached bytes for ``stem``, else ``build()``'s, stored for the next process."""
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    path = directory / f"{stem}.bin"
    data = _read(path)
    if data is not None:
        return data
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            data = _read(path)  # another server may have built it while we waited
            if data is None:
                data = build()
                _write(path, data)
    except OSError as error:  # read-only or full disk: serve it anyway, just uncached
        log.warning("cannot use the navigation cache in %s (%s)", directory, error)
        data = data if data is not None else build()
    return data


def _read(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    data, digest = raw[:-_DIGEST], raw[-_DIGEST:]
    if len(raw) <= _DIGEST or hashlib.sha1(data).digest() != digest:
        log.warning("navigation cache %s fails its checksum; rebuilding it", path)
        return None
    return data


def _write(path: Path, data: bytes) -> None:
    # Only the lock holder writes, so one temporary name is enough; a file cut short by a crash
    # fails its checksum on the next read.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + hashlib.sha1(data).digest())
    os.replace(tmp, path)
