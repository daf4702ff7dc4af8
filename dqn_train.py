"""Train the DQN example with Ray RLlib and Tune: the generic trainer plus the example's extras.

Usage: python dqn_train.py dqn_example/dqn_config.yaml --name dqn [--set training.lr=1e-4]

The same as `carla-rllib-train` (`rllib_integration.training.trainer`), and also: the algorithm is
DQN with the example's own RLModule, the example's per-episode metrics and reward terms are
logged, and every checkpoint gets the Q-network exported for Ray-free inference
(<checkpoint>/qnet/) before <directory>/<name>/latest_checkpoint.json points at it.
"""

from __future__ import annotations

import sys

from dqn_example.export import CHECKPOINT_FILES, export_qnet
from rllib_integration.training.trainer import Extras
from rllib_integration.training.trainer import main as train_main

EXTRAS = Extras(
    program="dqn_train",
    default_name="dqn_example",
    fixed={
        "algorithm": "DQN",
        "rl_module.module_class": "dqn_example.dqn_module:BirdViewDQNModule",
    },
    callbacks=("dqn_example.callbacks:DQNCallbacks",),
    exports=(export_qnet,),
    checkpoint_files=CHECKPOINT_FILES,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, EXTRAS, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
