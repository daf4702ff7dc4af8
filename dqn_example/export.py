"""The DQN example's Ray-free network in every checkpoint: `<checkpoint>/qnet/`, or one per
policy of a multi-agent run, `<checkpoint>/qnet/<policy>/`.

`dqn_train.py` runs `export_qnet` on each checkpoint before it becomes the latest, so a
checkpoint counts as complete (`CHECKPOINT_FILES`) only once its network is exported.
Importing this module does not import Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from dqn_example.qnet import SPEC_FILE, STATE_FILE, QNet, save_qnet
from rllib_integration.training.checkpoints import (
    SINGLE_MODULE,
    module_dir,
    module_ids,
    module_path,
    resolve_checkpoint,
)

if TYPE_CHECKING:
    from dqn_example.dqn_module import BirdViewDQNModule

EXPORT_DIR = "qnet"
# Per module ({module}: nothing for a single-agent run, the policy id for a multi-agent one).
CHECKPOINT_FILES = (f"{EXPORT_DIR}/{{module}}/{STATE_FILE}", f"{EXPORT_DIR}/{{module}}/{SPEC_FILE}")


def export_dir(checkpoint: Path, module_id: str = SINGLE_MODULE) -> Path:
    """Where a module's network is exported: `qnet/`, or `qnet/<policy>/`."""
    return Path(checkpoint) / module_path(f"{EXPORT_DIR}/{{module}}", module_id)


def export_qnet(checkpoint: Path) -> list[Path]:
    """Writes each module's network (state dict + spec) from an RLlib checkpoint."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    exported = []
    for module_id in module_ids(checkpoint):
        loaded = RLModule.from_checkpoint(str(module_dir(checkpoint, module_id)))
        module = cast("BirdViewDQNModule", loaded)  # the module dqn_train.py trains
        exported.append(save_qnet(cast(QNet, module.qnet), export_dir(checkpoint, module_id)))
    return exported


def resolve_dqn_checkpoint(path: Path) -> Path:
    """A complete DQN checkpoint (with its exported network) at or under `path`."""
    return resolve_checkpoint(path, CHECKPOINT_FILES)
