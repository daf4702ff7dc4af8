"""Run the trained DQN agent greedily through RLlib's RLModule (no training cluster needed).

Usage: python dqn_inference_ray.py dqn_example/dqn_config.yaml <checkpoint> [--episodes 5] [--video bev.mp4]

<checkpoint> is a checkpoint folder written by dqn_train.py, or an experiment folder (its
latest checkpoint). The module is loaded with RLModule.from_checkpoint; no Ray cluster starts.
"""

from __future__ import annotations

import os
import sys

from dqn_example.checkpoints import CheckpointError, resolve_checkpoint
from dqn_example.inference_cli import base_parser, check_args, evaluate, load_env_setup
from dqn_example.training_config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    check_args(parser, args)
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        _, env_cls, env_config = load_env_setup(args)
    except (ConfigError, CheckpointError) as error:
        print(f"dqn_inference_ray: error: {error}", file=sys.stderr)
        return 2

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

    return evaluate(args, env_cls, env_config, policy)


if __name__ == "__main__":
    sys.exit(main())
