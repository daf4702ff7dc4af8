"""Run the trained DQN agent greedily through RLlib's RLModule (no training cluster needed).

Usage: python dqn_inference_ray.py dqn_example/dqn_config.yaml <checkpoint> [--episodes 5] [--video bev.mp4]

<checkpoint> is a checkpoint folder written by dqn_train.py, or an experiment folder (its
latest checkpoint). The module is loaded with RLModule.from_checkpoint; no Ray cluster starts.
A multi-agent training file runs every agent, each with its policy's module.
"""

from __future__ import annotations

import sys

from dqn_example.export import resolve_dqn_checkpoint
from rllib_integration.training.inference_cli import base_parser, evaluate, parse_and_load


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("dqn_inference_ray", __doc__.splitlines()[0])
    setup = parse_and_load(parser, argv, resolve_dqn_checkpoint)
    if setup is None:
        return 2
    from rllib_integration.training.checkpoints import module_dir
    from rllib_integration.training.policy import load_policy

    def make_policy(action_space, module_id: str):
        print(f"dqn_inference_ray: RLModule {module_id} from {setup.checkpoint}")
        return load_policy(module_dir(setup.checkpoint, module_id), action_space)

    return evaluate(setup, make_policy)


if __name__ == "__main__":
    sys.exit(main())
