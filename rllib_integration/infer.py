"""Run a trained agent greedily from a checkpoint of `carla-rllib-train` (any algorithm).

Usage: carla-rllib-infer CONFIG CHECKPOINT [--episodes 5] [--video run.mp4] [--spread]
       python -m rllib_integration.infer ...

CHECKPOINT is a checkpoint folder, or an experiment folder (its latest checkpoint). The policy
is the checkpoint's RLModule (no Ray cluster starts); one line per episode with what the env
measured, then a summary; `--video` records what `env.render()` shows.
"""

from __future__ import annotations

import sys

from rllib_integration.config import ConfigError
from rllib_integration.training.checkpoints import resolve_checkpoint
from rllib_integration.training.inference_cli import base_parser, evaluate, parse_and_load


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("carla-rllib-infer", __doc__.splitlines()[0])
    setup = parse_and_load(parser, argv, resolve_checkpoint)
    if setup is None:
        return 2
    from rllib_integration.training.algorithm_config import build_algorithm_config
    from rllib_integration.training.checkpoints import module_dir
    from rllib_integration.training.policy import load_policy

    try:
        config = build_algorithm_config(setup.training_file)
    except ConfigError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"{parser.prog}: {config.algo_class.__name__} policy from {setup.checkpoint}")
    return evaluate(
        setup,
        lambda action_space, module_id: load_policy(
            module_dir(setup.checkpoint, module_id),
            action_space,
            config.normalize_actions,
            config.clip_actions,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
