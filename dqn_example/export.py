"""The DQN example's Ray-free network in every checkpoint: `<checkpoint>/qnet/`.

`dqn_train.py` runs `export_qnet` on each checkpoint before it becomes the latest, so a
checkpoint counts as complete (`CHECKPOINT_FILES`) only once its network is exported.
Importing this module does not import Ray.
"""

from __future__ import annotations

from pathlib import Path

from dqn_example.qnet import SPEC_FILE, STATE_FILE, save_qnet
from rllib_integration.training.checkpoints import module_dir, resolve_checkpoint

EXPORT_DIR = "qnet"
CHECKPOINT_FILES = (f"{EXPORT_DIR}/{STATE_FILE}", f"{EXPORT_DIR}/{SPEC_FILE}")


def export_qnet(checkpoint: Path) -> Path:
    """Writes `<checkpoint>/qnet/` (state dict + spec) from an RLlib checkpoint."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    module = RLModule.from_checkpoint(str(module_dir(checkpoint)))
    return save_qnet(module.qnet, Path(checkpoint) / EXPORT_DIR)


def resolve_dqn_checkpoint(path: Path) -> Path:
    """A complete DQN checkpoint (with its exported network) at or under `path`."""
    return resolve_checkpoint(path, CHECKPOINT_FILES)
