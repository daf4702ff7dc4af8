"""Where checkpoints are and which one is the latest complete one (no Ray import).

Tune writes `checkpoint_NNNNNN/` folders inside each trial folder. After Tune has registered a
checkpoint, the training monitor runs the trainer's exports into it (the DQN example writes its
Ray-free network, `<checkpoint>/qnet/`) and then atomically replaces
`<experiment>/latest_checkpoint.json` (write temp file, `os.replace`). A crash at any moment
therefore leaves the pointer on the previous complete checkpoint, never on a half-written one.
Scanning is the fallback when the pointer is missing. "Complete" means RLlib's files (the
weights of every module: `default_policy`, or each policy of a multi-agent run) plus the
`required` files a trainer adds (relative paths inside the checkpoint; `{module}` in one stands
for each module's id, and for nothing with `default_policy`). The monitor also appends each
checkpoint to `<experiment>/checkpoints.jsonl` with the run's iteration, steps and time then.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

LATEST_FILE = "latest_checkpoint.json"
# One JSON line per complete checkpoint, oldest first: what the run had done when it was written.
HISTORY_FILE = "checkpoints.jsonl"
RL_MODULES = Path("learner_group/learner/rl_module")
SINGLE_MODULE = "default_policy"  # RLlib's module id of a single-agent run
MODULE_STATE = RL_MODULES / SINGLE_MODULE / "module_state.pkl"
_CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)$")


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for."""


def module_ids(checkpoint: Path) -> list[str]:
    """The RLModules (policies) with weights in a checkpoint: `default_policy` for a
    single-agent run, the `multi_agent.policies` of a multi-agent one."""
    modules = Path(checkpoint) / RL_MODULES
    if not modules.is_dir():
        return []
    return sorted(p.name for p in modules.iterdir() if (p / MODULE_STATE.name).is_file())


def module_path(template: str, module_id: str) -> Path:
    """A required file's path for one module: `{module}` is the module id, or nothing for
    `default_policy` (so a single-agent run's files keep their place)."""
    return Path(template.replace("{module}", "" if module_id == SINGLE_MODULE else module_id))


def is_complete(checkpoint: Path, required: Sequence[str] = ()) -> bool:
    """An RLlib checkpoint with its modules' weights and the `required` files (of each)."""
    checkpoint = Path(checkpoint)
    modules = module_ids(checkpoint)
    files = [Path("rllib_checkpoint.json")]
    files += [module_path(name, m) for name in required for m in modules]
    return bool(modules) and all((checkpoint / name).is_file() for name in files)


def append_history(experiment_dir: Path, checkpoint: Path, **facts: object) -> None:
    """Record a complete checkpoint with the run's state at it (iteration, steps, time)."""
    record = {"checkpoint": str(Path(checkpoint).resolve()), **facts}
    with open(Path(experiment_dir) / HISTORY_FILE, "a") as history:
        history.write(json.dumps(record) + "\n")


def read_history(experiment_dir: Path) -> list[dict]:
    """The records of `append_history`, oldest first ([] if there are none)."""
    path = Path(experiment_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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


def module_dir(checkpoint: Path, module_id: str = SINGLE_MODULE) -> Path:
    """A RLModule's folder in an RLlib checkpoint (the default policy's, or a multi-agent run's
    policy's), as an absolute path (what `RLModule.from_checkpoint` needs, rllib.md P9)."""
    return Path(os.path.abspath(checkpoint)) / RL_MODULES / module_id
