"""Where recorder files live, and which names a client may use.

CarlaUE4 puts a bare name (`test1.log`) in its *Saved* folder and opens any name with `/`, `\\`
or `:` verbatim, which lets every client truncate and write any file the server can
(reference/carla_recorder.md §1.3, §6). The embedded server keeps CARLA's bare-name rule with a
server-controlled folder in place of *Saved*, and confines every other name to that folder too:

- a bare name is `<folder>/<name>`;
- a relative name with separators is resolved below the folder (`records/run.log` ->
  `<folder>/records/run.log`; missing sub-folders are created, inside the folder only);
- an absolute name is accepted only if it already lies under the folder or under a root the
  server's operator allowed (`--recorder-root`);
- `..` and symlinks are resolved before that check, the file itself is opened without following
  a symlink, and an existing non-empty file is overwritten only if it is a recording.

A refused name gives the answers CARLA gives for a file it cannot open (`""` from
`start_recorder`, "File ... not found on server" from the queries), so nothing reveals whether a
file outside exists; the server logs the reason.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rllib_integration.embedded.recorder.format import is_recording_start

SEPARATORS = ("/", "\\", ":")
OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
OPEN_WRITE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o644
MAX_READ_BYTES = 2 << 30  # CarlaUE4 itself fails on recordings around 2 GiB (carla#8891)


class RefusedPath(Exception):
    """A name the recorder will not open; `shown` is what replies may print."""

    def __init__(self, shown: str, reason: str) -> None:
        super().__init__(reason)
        self.shown = shown


def default_folder() -> Path:
    """$XDG_STATE_HOME/rllib_integration/recordings, else ~/.local/state/...: recordings are the
    user's data (not a cache), kept across runs like CarlaUE4's Saved folder."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(state) / "rllib_integration" / "recordings"


@dataclass(frozen=True)
class RecorderPaths:
    folder: Path = field(default_factory=default_folder)
    extra_roots: tuple[Path, ...] = ()

    def shown(self, name: str) -> str:
        """The path CARLA would print for `name` (bare names in the folder, others verbatim)."""
        if any(sep in name for sep in SEPARATORS):
            return name if os.path.isabs(name) else str(self.folder / name)
        return str(self.folder / name)

    def resolve(self, name: object, create_dirs: bool = False) -> Path:
        """The file `name` refers to, inside an allowed root; RefusedPath otherwise."""
        if not isinstance(name, str) or not name:
            raise RefusedPath(str(name), "the file name must be a non-empty string")
        shown = self.shown(name)
        if "\0" in name:
            raise RefusedPath(shown.replace("\0", ""), "the file name contains a NUL byte")
        candidate = Path(name) if os.path.isabs(name) else self.folder / name
        if candidate.name in ("", ".", ".."):
            raise RefusedPath(shown, "the name does not end in a file name")
        roots = self._roots()
        if create_dirs and _under(Path(os.path.realpath(candidate.parent)), roots):
            # Only below an allowed root: the realpath check above saw no escape (.., symlinks).
            os.makedirs(candidate.parent, mode=0o755, exist_ok=True)
        parent = Path(os.path.realpath(candidate.parent))
        if not _under(parent, roots):
            raise RefusedPath(shown, f"{parent} is outside the recorder folder {self.folder}")
        return parent / candidate.name

    def _roots(self) -> list[Path]:
        return [Path(os.path.realpath(r)) for r in (self.folder, *self.extra_roots)]


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _open(path: Path, flags: int, check: Callable[[int, os.stat_result], None]) -> int:
    """`path` opened without following a last-component symlink, if a regular file that passes
    `check(fd, stat)`; RefusedPath otherwise."""
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        raise RefusedPath(str(path), f"cannot open: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedPath(str(path), "not a regular file")
        check(fd, info)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_for_writing(path: Path) -> int:
    """A file descriptor to `path`, truncated; refuses symlinks, non-files and files that hold
    something else than a recording."""

    def only_recordings(fd: int, info: os.stat_result) -> None:
        if info.st_size > 0 and not is_recording_start(os.pread(fd, 18, 0)):
            raise RefusedPath(str(path), "the file exists and is not a recording")
        os.ftruncate(fd, 0)

    return _open(path, OPEN_WRITE, only_recordings)


def read_file(path: Path) -> bytes:
    """The bytes of a recording (not following a symlink at the last component)."""

    def bounded(fd: int, info: os.stat_result) -> None:
        if info.st_size > MAX_READ_BYTES:
            raise RefusedPath(str(path), f"larger than {MAX_READ_BYTES} bytes")

    with os.fdopen(_open(path, OPEN_READ, bounded), "rb") as f:
        return f.read(MAX_READ_BYTES)
