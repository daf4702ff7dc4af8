"""Run the trained DQN agent greedily through RLlib's RLModule (no training cluster needed).

Usage: python dqn_inference_ray.py dqn_example/dqn_config.yaml <checkpoint> [--episodes 5] [--video bev.mp4]

<checkpoint> is a checkpoint folder written by dqn_train.py, or an experiment folder (its
latest checkpoint). The module is loaded with RLModule.from_checkpoint; no Ray cluster starts.
"""

from __future__ import annotations

import os
import sys

from dqn_example.checkpoints import resolve_checkpoint
from dqn_example.inference_cli import base_parser, evaluate, parse_and_load


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    setup = parse_and_load(parser, argv, "dqn_inference_ray", resolve_checkpoint)
    if setup is None:
        return 2
    checkpoint = setup.checkpoint

    import torch
    from ray.rllib.core import (
        COMPONENT_LEARNER,
        COMPONENT_LEARNER_GROUP,
        COMPONENT_RL_MODULE,
        DEFAULT_MODULE_ID,
    )
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule

    module_dir = os.path.join(
        os.path.abspath(checkpoint),  # relative paths fail in RLModule (rllib.md P9)
        COMPONENT_LEARNER_GROUP,
        COMPONENT_LEARNER,
        COMPONENT_RL_MODULE,
        DEFAULT_MODULE_ID,
    )
    module = RLModule.from_checkpoint(module_dir)
    module.eval()
    print(f"dqn_inference_ray: RLModule from {checkpoint}")

    @torch.no_grad()
    def policy(observation) -> int:
        batch = {Columns.OBS: torch.as_tensor(observation).unsqueeze(0)}
        return int(module.forward_inference(batch)[Columns.ACTIONS][0])

    return evaluate(setup, policy)


if __name__ == "__main__":
    sys.exit(main())
