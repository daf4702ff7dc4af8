"""The per-user state folder `<tmp>/rllib-integration-<uid>`: the port registry, its lock and
the launched servers' logs.

It lives in a world-writable place, so whoever creates the name first would decide where the
logs go and what log pruning deletes. A folder is used only when it is a real directory (not a
symlink) owned by this user and closed to others (mode 0700): one of ours with a looser mode is
tightened, anything else of ours at the name (a file, a symlink) is replaced by a fresh folder,
and something of another user's is an error that names it; it is never followed or deleted.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from rllib_integration.fatal import FatalError

# A hyphenated name: a folder "rllib_integration" in a cwd of /tmp would shadow the package.
STATE_DIR_NAME = f"rllib-integration-{os.getuid()}"


class StateDirError(FatalError, RuntimeError):
    """The state folder's name is taken by something this user cannot trust."""


def state_dir() -> Path:
    """`<tmp>/rllib-integration-<uid>`, created or checked (see the module's docstring)."""
    return private_dir(Path(tempfile.gettempdir()) / STATE_DIR_NAME)


def logs_dir() -> Path:
    """The default folder of the launched servers' logs, inside the state folder."""
    return private_dir(state_dir() / "logs")


def private_dir(path: Path) -> Path:
    """`path` as a directory of this user's that only this user can open; StateDirError if the
    name belongs to someone else."""
    for _attempt in range(3):  # another of our processes may be creating or replacing it
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if info.st_uid != os.getuid():
            kind = "folder" if stat.S_ISDIR(info.st_mode) else "file or link"
            raise StateDirError(
                f"{path} is a {kind} of another user (uid {info.st_uid}), not yours (uid "
                f"{os.getuid()}); it is not used: remove it, or set TMPDIR to a folder of yours"
            )
        if not stat.S_ISDIR(info.st_mode):  # ours, but a symlink or a file: replace it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700, follow_symlinks=False)
        return path
    raise StateDirError(f"{path}: cannot create a private folder there (it keeps changing)")
