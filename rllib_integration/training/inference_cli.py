"""What both inference scripts share: arguments, the env from the YAML, the episode loop.

Ray-free: `dqn_inference.py` must run in a process that never imports Ray.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dqn_example.checkpoints import CheckpointError
from dqn_example.episodes import HEADER, format_summary, run_episodes, summary
from dqn_example.training_config import (
    ConfigError,
    add_override_argument,
    apply_overrides,
    env_class,
    load_training_file,
    resolved_env_config,
    validate_sections,
)

DEFAULT_FRAMESTACK = 4


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", type=Path, help="YAML training file (its env_config is used)")
    parser.add_argument(
        "checkpoint",
        type=Path,
        help="checkpoint folder, or an experiment folder (its latest checkpoint is used)",
    )
    parser.add_argument("-e", "--episodes", type=int, default=5, help="episodes to run (5)")
    parser.add_argument("--video", type=Path, help="write the bird's-eye view to this MP4")
    parser.add_argument("--seed", type=int, help="seed for the env resets")
    parser.add_argument(
        "--spread",
        action="store_true",
        help="start the episodes at spawn points spread evenly over the map (default: random)",
    )
    add_override_argument(parser, "env_config.experiment.town=Grid01")
    return parser


@dataclass
class InferenceSetup:
    args: argparse.Namespace
    checkpoint: Path  # what `find_checkpoint` made of the checkpoint argument
    env_cls: type
    env_config: dict


def parse_and_load(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    program: str,
    find_checkpoint: Callable[[Path], Path],
) -> InferenceSetup | None:
    """Parse and check the arguments, find the checkpoint, load the env from the YAML; on a
    bad config or checkpoint print one clear error and return None (exit status 2)."""
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"argument -e/--episodes: must be >= 1, got {args.episodes}")
    try:
        checkpoint = find_checkpoint(args.checkpoint)
        training_file = load_training_file(args.config)
        apply_overrides(training_file, args.overrides)
        validate_sections(training_file)
        env_config = resolved_env_config(training_file)
        env_cls = env_class(training_file)
    except (ConfigError, CheckpointError) as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return None
    return InferenceSetup(args, checkpoint, env_cls, env_config)


def frame_channels(observation_shape: tuple[int, ...], env_config: dict) -> int:
    experiment = env_config.get("experiment") or {}
    framestack = int(experiment.get("framestack", DEFAULT_FRAMESTACK)) or 1
    return max(observation_shape[-1] // framestack, 1)


def evaluate(setup: InferenceSetup, policy: Callable[[Any], int], fps: float = 20.0) -> int:
    """Run the greedy episodes, one line each and a summary; the exit status."""
    args, env_config = setup.args, setup.env_config
    env = setup.env_cls(env_config)
    try:
        channels = frame_channels(env.observation_space.shape, env_config)
        print(HEADER, flush=True)
        reports = run_episodes(
            env,
            policy,
            args.episodes,
            video=args.video,
            fps=fps,
            frame_channels=channels,
            seed=args.seed,
            stream=sys.stdout,
            spread_spawn_points=args.spread,
        )
    finally:
        env.close()
    print(format_summary(summary(reports)))
    if args.video:
        print(f"video: {args.video}")
    return 0
