"""Where checkpoints are and which one is the latest complete one (no Ray import).

Tune writes `checkpoint_NNNNNN/` folders inside each trial folder. After Tune has registered a
checkpoint, the training monitor runs the trainer's exports into it (the DQN example writes its
Ray-free network, `<checkpoint>/qnet/`) and then atomically replaces
`<experiment>/latest_checkpoint.json` (write temp file, `os.replace`). A crash at any moment
therefore leaves the pointer on the previous complete checkpoint, never on a half-written one.
Scanning is the fallback when the pointer is missing. "Complete" means RLlib's files plus the
`required` files a trainer adds (relative paths inside the checkpoint).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

LATEST_FILE = "latest_checkpoint.json"
MODULE_STATE = Path("learner_group/learner/rl_module/default_policy/module_state.pkl")
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for."""


def is_complete(checkpoint: Path, required: Sequence[str] = ()) -> bool:
    """An RLlib checkpoint with its module weights and the `required` files."""
    checkpoint = Path(checkpoint)
    files = ("rllib_checkpoint.json", str(MODULE_STATE), *required)
    return all((checkpoint / name).is_file() for name in files)


def write_latest(experiment_dir: Path, checkpoint: Path, **facts: object) -> None:
    experiment_dir = Path(experiment_dir)
    record = {"checkpoint": str(Path(checkpoint).resolve()), **facts}
    tmp = experiment_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, experiment_dir / LATEST_FILE)


def _scan(experiment_dir: Path, required: Sequence[str]) -> list[Path]:
    found = []
    for path in experiment_dir.glob("*/checkpoint_*"):
        if _CHECKPOINT_RE.match(path.name) and is_complete(path, required):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime)


def find_latest(experiment_dir: Path, required: Sequence[str] = ()) -> Path | None:
    """The latest complete checkpoint of an experiment folder, or None."""
    experiment_dir = Path(experiment_dir)
    pointer = experiment_dir / LATEST_FILE
    if pointer.is_file():
        try:
            checkpoint = Path(json.loads(pointer.read_text())["checkpoint"])
        except (ValueError, KeyError, TypeError):
            checkpoint = None
        if checkpoint is not None and is_complete(checkpoint, required):
            return checkpoint
    found = _scan(experiment_dir, required)
    return found[-1] if found else None


def resolve_checkpoint(path: Path, required: Sequence[str] = ()) -> Path:
    """Accepts a checkpoint folder, or an experiment/trial folder (-> its latest checkpoint)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} does not exist")
    if is_complete(path, required):
        return path.resolve()
    for candidate in (path, path.parent):
        latest = find_latest(candidate, required)
        if latest is not None and (candidate == path or latest.parent == path):
            return latest.resolve()
    raise CheckpointError(
        f"no complete checkpoint at {path} (expected a checkpoint_NNNNNN folder with "
        f"{', '.join(['rllib_checkpoint.json', *required])}, or an experiment folder "
        "containing one)"
    )


def module_dir(checkpoint: Path) -> Path:
    """The default RLModule's folder in an RLlib checkpoint, as an absolute path (what
    `RLModule.from_checkpoint` needs, rllib.md P9)."""
    return Path(os.path.abspath(checkpoint)) / MODULE_STATE.parent
