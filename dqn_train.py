"""Train the DQN example with Ray RLlib and Tune.

Usage: python dqn_train.py dqn_example/dqn_config.yaml --name dqn [--set training.lr=1e-4]

Results go to <directory>/<name>/ (Tune trial folders with TensorBoard logs and checkpoints).
Every checkpoint also gets the Q-network exported for Ray-free inference (<checkpoint>/qnet/),
and <directory>/<name>/latest_checkpoint.json points at the latest complete one.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from pathlib import Path

from dqn_example.checkpoints import CheckpointError, find_latest, resolve_checkpoint
from dqn_example.training_config import (
    ConfigError,
    add_override_argument,
    apply_overrides,
    load_training_file,
    resolved_env_config,
    run_settings,
    validate_sections,
)

DEFAULT_DIRECTORY = Path("~/ray_results/carla_rllib")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Resume after a crash with --auto (or --restore); join a cluster with --address.",
    )
    parser.add_argument("config", type=Path, help="YAML training file")
    parser.add_argument("-n", "--name", default="dqn_example", help="experiment name")
    parser.add_argument(
        "-d", "--directory", type=Path, default=DEFAULT_DIRECTORY, help="results root folder"
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--restore",
        nargs="?",
        const="latest",
        metavar="CHECKPOINT",
        help="continue from CHECKPOINT, or from the experiment's latest checkpoint if none "
        "is given (an error if there is none)",
    )
    resume.add_argument(
        "--auto",
        action="store_true",
        help="continue from the experiment's latest checkpoint if there is one, else start "
        "fresh (for automatic restarts, e.g. on AWS)",
    )
    resume.add_argument(
        "--overwrite", action="store_true", help="delete <directory>/<name> and start fresh"
    )
    parser.add_argument(
        "--address", help="Ray cluster to join (host:port or 'auto'); default: a local Ray"
    )
    add_override_argument(parser, "training.lr=1e-4")
    args = parser.parse_args(argv)
    if args.name in ("", ".", "..") or "/" in args.name:
        parser.error(f"argument --name: {args.name!r} is not a plain folder name")
    return args


def choose_start_checkpoint(args: argparse.Namespace, experiment_dir: Path) -> Path | None:
    """The checkpoint to continue from, or None to start fresh (errors say why not)."""
    if args.restore not in (None, "latest"):
        return resolve_checkpoint(Path(args.restore))
    latest = find_latest(experiment_dir) if experiment_dir.is_dir() else None
    if args.restore == "latest":
        if latest is None:
            raise CheckpointError(f"--restore: no complete checkpoint under {experiment_dir}")
        return latest
    if args.auto:
        return latest
    if args.overwrite:
        shutil.rmtree(experiment_dir, ignore_errors=True)
        return None
    if experiment_dir.is_dir() and any(experiment_dir.iterdir()):
        raise CheckpointError(
            f"{experiment_dir} already holds results: use --auto or --restore to continue "
            "them, --overwrite to start over, or another --name"
        )
    return None


def restore_on_init(algorithm, checkpoint: str, **kwargs) -> None:
    """`on_algorithm_init` hook: load weights, optimizer and counters from a checkpoint."""
    algorithm.restore_from_path(checkpoint)


def start_ray(address: str | None, num_cpus_needed: int) -> None:
    import ray

    if address:
        # `ray start` enables token auth in Ray 2.60; drivers must say so too (rllib.md P12).
        if (Path.home() / ".ray" / "auth_token").is_file():
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray.init(address=address)
    else:
        # Each env runner and the Tune trial actor take a logical CPU (rllib.md P11).
        ray.init(num_cpus=max(os.cpu_count() or 1, num_cpus_needed), include_dashboard=False)


def cpus_needed(config) -> int:
    runners = max(config.num_env_runners, 0)
    per_runner = config.num_cpus_per_env_runner
    learners = config.num_learners * config.num_cpus_per_learner if config.num_learners else 0
    return int(1 + runners * per_runner + learners + 0.999)


def train(args: argparse.Namespace) -> int:
    training_file = load_training_file(args.config)
    apply_overrides(training_file, args.overrides)
    validate_sections(training_file)
    settings = run_settings(training_file)
    resolved_env_config(training_file)  # fail on a bad env_config before Ray starts
    experiment_dir = args.directory.expanduser().resolve() / args.name
    start = choose_start_checkpoint(args, experiment_dir)

    from ray import tune

    from dqn_example.callbacks import DQNCallbacks
    from dqn_example.training_config import build_algorithm_config
    from dqn_example.training_monitor import TrainingMonitor

    config = build_algorithm_config(training_file)
    if start is not None:
        config.callbacks(
            DQNCallbacks,
            on_algorithm_init=functools.partial(restore_on_init, checkpoint=str(start)),
        )
        print(f"dqn_train: continuing from {start}")
    else:
        config.callbacks(DQNCallbacks)

    experiment_dir.mkdir(parents=True, exist_ok=True)
    monitor = TrainingMonitor(experiment_dir)
    start_ray(args.address, cpus_needed(config))
    print(f"dqn_train: results and TensorBoard logs in {experiment_dir}")
    print(f"dqn_train: watch with: tensorboard --logdir {experiment_dir}")
    tuner = tune.Tuner(
        config.algo_class,  # the class, not "DQN": the string imports every algorithm (P7)
        param_space=config,
        run_config=tune.RunConfig(
            name=args.name,
            storage_path=str(experiment_dir.parent),
            stop=settings.stop,
            verbose=0,
            callbacks=[monitor],
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=settings.checkpoint_frequency,
                checkpoint_at_end=True,
                num_to_keep=settings.checkpoints_to_keep,
            ),
        ),
    )
    results = tuner.fit()
    if results.errors:
        for error in results.errors:
            print(f"dqn_train: training failed: {error}", file=sys.stderr)
        return 1
    if monitor.last_checkpoint is None:
        print("dqn_train: training ended without a checkpoint", file=sys.stderr)
        return 1
    print(f"dqn_train: final checkpoint {monitor.last_checkpoint}")
    print(f"dqn_train: Ray-free network {monitor.last_checkpoint / 'qnet'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args)
    except (ConfigError, CheckpointError) as error:
        print(f"dqn_train: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dqn_train: interrupted; resume with --auto", file=sys.stderr)
        return 130
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
