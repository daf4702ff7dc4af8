"""What the inference commands share: arguments, the env from the YAML, the episode loop.

Ray-free: `dqn_inference.py` runs in a process that never imports Ray. The env is made as the
trainer's workers make it (observations adapted for RLlib's default network unless the file
names its own `rl_module.module_class`), so a policy sees what it was trained on.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rllib_integration.config import ConfigError
from rllib_integration.training.checkpoints import SINGLE_MODULE, CheckpointError
from rllib_integration.training.episodes import (
    HEADER,
    format_summary,
    run_agent_episodes,
    run_episodes,
    summary,
)
from rllib_integration.training.observations import make_training_env
from rllib_integration.training.python_path import add_to_sys_path, import_roots
from rllib_integration.training.training_file import (
    TrainingFile,
    add_override_argument,
    apply_overrides,
    env_class,
    is_multi_agent,
    load_training_file,
    policy_of_agents,
    resolved_env_config,
    validate_sections,
)


def base_parser(program: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program, description=description)
    parser.add_argument("config", type=Path, help="YAML training file (its env_config is used)")
    parser.add_argument(
        "checkpoint",
        type=Path,
        help="checkpoint folder, or an experiment folder (its latest checkpoint is used)",
    )
    parser.add_argument(
        "-e",
        "--episodes",
        type=int,
        default=5,
        help="episodes to run (5; with several agents, agent episodes)",
    )
    parser.add_argument(
        "--video",
        type=Path,
        help="write what env.render() shows (bird's-eye view or camera) to this MP4",
    )
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
    program: str
    args: argparse.Namespace
    checkpoint: Path  # what `find_checkpoint` made of the checkpoint argument
    training_file: TrainingFile
    env_config: dict
    make_env: Callable[..., Any]
    # Agent id -> the policy (RLModule id) that drives it; None for a single-agent file.
    agent_policies: dict[str, str] | None = None


def parse_and_load(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
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
        add_to_sys_path(import_roots(training_file))
        env_config = resolved_env_config(training_file)
        multi = is_multi_agent(training_file)
        # The file's own RLModule gets the experiment's observations as they are (and a
        # multi-agent env's always are); the multi-agent env runs without RLlib's base class.
        adapt = training_file.section("rl_module").get("module_class") is None and not multi
        make_env = functools.partial(
            make_training_env, env_class=env_class(training_file, ray_free=True), adapt=adapt
        )
        agent_policies = policy_of_agents(training_file, env_config) if multi else None
    except (ConfigError, CheckpointError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return None
    return InferenceSetup(
        parser.prog, args, checkpoint, training_file, env_config, make_env, agent_policies
    )


def evaluate(setup: InferenceSetup, make_policy: Callable[[Any, str], Callable[[Any], Any]]) -> int:
    """Run the greedy episodes, one line each and a summary; the exit status.

    `make_policy(action_space, module_id)` gives the greedy policy of a module (its actions in
    `action_space`): `default_policy`, or each policy of a multi-agent file, whose agents then
    all drive, each with its policy."""
    args = setup.args
    env = setup.make_env(setup.env_config, render_mode="rgb_array" if args.video else None)
    options: dict[str, Any] = {
        "video": args.video,
        "seed": args.seed,
        "stream": sys.stdout,
        "spread_spawn_points": args.spread,
    }
    try:
        if setup.agent_policies is None:
            policy = make_policy(env.action_space, SINGLE_MODULE)
            print(HEADER, flush=True)
            reports = run_episodes(env, policy, args.episodes, **options)
        else:
            loaded: dict[str, Callable[[Any], Any]] = {}
            policies = {}
            for agent, module_id in setup.agent_policies.items():
                if module_id not in loaded:
                    loaded[module_id] = make_policy(env.action_spaces[agent], module_id)
                policies[agent] = loaded[module_id]
            print(HEADER + " agent", flush=True)
            reports = run_agent_episodes(env, policies, args.episodes, **options)
    finally:
        env.close()
    print(format_summary(summary(reports)))
    if args.video:
        print(f"video: {args.video}")
    return 0
