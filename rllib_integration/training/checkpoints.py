"""Where checkpoints are and which one is the latest complete one (no Ray import).

Tune writes `checkpoint_NNNNNN/` folders inside each trial folder. After Tune has registered a
checkpoint, the training monitor exports the Q-network into `<checkpoint>/qnet/` and then
atomically replaces `<experiment>/latest_checkpoint.json` (write temp file, `os.replace`). A
crash at any moment therefore leaves the pointer on the previous complete checkpoint, never on
a half-written one. Scanning is the fallback when the pointer is missing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

LATEST_FILE = "latest_checkpoint.json"
EXPORT_DIR = "qnet"
# Files of the exported network (written by qnet.save_qnet).
STATE_FILE = "qnet_state.pt"
SPEC_FILE = "qnet.json"
MODULE_STATE = Path("learner_group/learner/rl_module/default_policy/module_state.pkl")
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for."""


def is_complete(checkpoint: Path) -> bool:
    """An RLlib checkpoint with its module weights and our Ray-free export."""
    checkpoint = Path(checkpoint)
    return (
        (checkpoint / "rllib_checkpoint.json").is_file()
        and (checkpoint / MODULE_STATE).is_file()
        and (checkpoint / EXPORT_DIR / STATE_FILE).is_file()
        and (checkpoint / EXPORT_DIR / SPEC_FILE).is_file()
    )


def write_latest(experiment_dir: Path, checkpoint: Path, **facts: object) -> None:
    experiment_dir = Path(experiment_dir)
    record = {"checkpoint": str(Path(checkpoint).resolve()), **facts}
    tmp = experiment_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, experiment_dir / LATEST_FILE)


def _scan(experiment_dir: Path) -> list[Path]:
    found = []
    for path in experiment_dir.glob("*/checkpoint_*"):
        if _CHECKPOINT_RE.match(path.name) and is_complete(path):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime)


def find_latest(experiment_dir: Path) -> Path | None:
    """The latest complete checkpoint of an experiment folder, or None."""
    experiment_dir = Path(experiment_dir)
    pointer = experiment_dir / LATEST_FILE
    if pointer.is_file():
        try:
            checkpoint = Path(json.loads(pointer.read_text())["checkpoint"])
        except (ValueError, KeyError, TypeError):
            checkpoint = None
        if checkpoint is not None and is_complete(checkpoint):
            return checkpoint
    found = _scan(experiment_dir)
    return found[-1] if found else None


def resolve_checkpoint(path: Path) -> Path:
    """Accepts a checkpoint folder, or an experiment/trial folder (-> its latest checkpoint)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} does not exist")
    if is_complete(path):
        return path.resolve()
    for candidate in (path, path.parent):
        latest = find_latest(candidate)
        if latest is not None and (candidate == path or latest.parent == path):
            return latest.resolve()
    raise CheckpointError(
        f"no complete checkpoint at {path} (expected a checkpoint_NNNNNN folder with "
        f"rllib_checkpoint.json and {EXPORT_DIR}/, or an experiment folder containing one)"
    )
