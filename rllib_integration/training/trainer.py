"""Train any experiment with any RLlib algorithm of the current stack, from one YAML file.

    carla-rllib-train my_config.yaml --name run1 [--set training.lr=1e-4] [--auto]
    python -m rllib_integration.train my_config.yaml ...

Results go to <directory>/<name>/: Tune's trial folder with checkpoints, TensorBoard curves in
<directory>/<name>/tensorboard/, and latest_checkpoint.json pointing at the latest complete
checkpoint. Before Ray starts, the config is checked (keys, algorithm, the action space against
the algorithm, the network against the observation space) and, unless --no-check, the env runs a
reset and a few random steps in this process, so a mistake in the experiment is one message here
rather than a failing worker. `dqn_train.py` is this trainer with the DQN example's extras
(`Extras`).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllib_integration.config import ConfigError
from rllib_integration.core.carla_core import SimulatorFailure
from rllib_integration.defaults import import_path
from rllib_integration.fatal import FatalError
from rllib_integration.supervisor.simulator import ServerError
from rllib_integration.training.checkpoints import CheckpointError, find_latest, resolve_checkpoint
from rllib_integration.training.python_path import (
    add_to_sys_path,
    import_roots,
    worker_python_path,
)
from rllib_integration.training.ray_start import keep_local_ray_on_loopback, start_ray
from rllib_integration.training.training_file import (
    RunSettings,
    TrainingFile,
    add_override_argument,
    apply_overrides,
    is_multi_agent,
    load_training_file,
    policy_of_agents,
    resolved_env_config,
    run_settings,
)

DEFAULT_DIRECTORY = Path("~/ray_results/carla_rllib")
CHECK_STEPS = 3


@dataclass
class Extras:
    """What a specialised trainer (dqn_train.py) adds to the generic one."""

    program: str = "carla-rllib-train"
    default_name: str = "run"
    # Set in the file when it does not say (e.g. algorithm: DQN); a different value is an error.
    fixed: dict[str, Any] = field(default_factory=dict)
    # RLlib callback classes by import path ("package.module:Class"), imported with RLlib.
    callbacks: tuple[str, ...] = ()
    # Run on every checkpoint before it becomes the latest; their files make it complete.
    exports: tuple[Callable[[Path], Any], ...] = ()
    checkpoint_files: tuple[str, ...] = ()


def build_parser(description: str, extras: Extras) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=extras.program,
        description=description,
        epilog="Resume after a crash with --auto (or --restore); join a cluster with --address.",
    )
    parser.add_argument("config", type=Path, help="YAML training file")
    parser.add_argument("-n", "--name", default=extras.default_name, help="experiment name")
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
    parser.add_argument(
        "--no-check",
        action="store_true",
        help=f"skip the env check before Ray starts (a reset and {CHECK_STEPS} random steps)",
    )
    add_override_argument(parser, "training.lr=1e-4")
    return parser


def parse_args(argv: Sequence[str] | None, description: str, extras: Extras) -> argparse.Namespace:
    parser = build_parser(description, extras)
    args = parser.parse_args(argv)
    if args.name in ("", ".", "..") or "/" in args.name:
        parser.error(f"argument --name: {args.name!r} is not a plain folder name")
    return args


def choose_start_checkpoint(
    args: argparse.Namespace, experiment_dir: Path, required: Sequence[str] = ()
) -> Path | None:
    """The checkpoint to continue from, or None to start fresh (errors say why not)."""
    if args.restore not in (None, "latest"):
        return resolve_checkpoint(Path(args.restore), required)
    latest = find_latest(experiment_dir, required) if experiment_dir.is_dir() else None
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


def apply_fixed(tf: TrainingFile, fixed: dict[str, Any], program: str) -> None:
    for key, value in fixed.items():
        given = tf.raw.setdefault(key, value) if "." not in key else _set_nested(tf, key, value)
        if given != value:
            raise ConfigError(f"{tf.where(key)}: {program} runs only {value!r}, not {given!r}")


def _set_nested(tf: TrainingFile, dotted: str, value: Any) -> Any:
    node = tf.raw
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{tf.where(part)}: must be a mapping")
    return node.setdefault(last, value)


def cpus_needed(config) -> int:
    """The CPUs the run's trial asks Ray for: RLlib's own resource request of the algorithm
    (the main process with its local learner's CPUs, each env runner, each learner)."""
    request = config.algo_class.default_resource_request(config)
    return math.ceil(request.required_resources.get("CPU", 0))


class EnvCheckError(RuntimeError):
    """The env failed its check before Ray started; the message says what and where."""


def check_env(tf: TrainingFile, config: Any, program: str, run_steps: bool) -> None:
    """Build the env here (no Ray): spaces against the algorithm and the network; then, with
    `run_steps`, a reset and a few random actions, every observation and action checked. A
    mistake the library names (a space, the town, a sensor, the server) is an EnvCheckError."""
    try:
        _check_env(tf, config, program, run_steps)
    except ConfigError:  # names the file and line itself
        raise
    except (FatalError, ServerError, SimulatorFailure) as error:
        raise EnvCheckError(
            f"the env check failed: {error} (before Ray started; --no-check skips the check)"
        ) from error


def _check_env(tf: TrainingFile, config: Any, program: str, run_steps: bool) -> None:
    from rllib_integration.training.algorithm_config import check_spaces, env_factory

    env_config = resolved_env_config(tf)
    env = env_factory(tf)(env_config)
    try:
        policies = policy_of_agents(tf, env_config) if is_multi_agent(tf) else {}
        for owner, observation_space, action_space, agent in _spaces_of(env):
            policy = policies.get(agent) if agent is not None else None
            check_spaces(tf, config, observation_space, action_space, owner, policy)
        if not run_steps:
            return
        started = time.monotonic()
        env.reset(seed=0)
        for _ in range(CHECK_STEPS):
            if not _random_step(env):
                env.reset()
        print(
            f"{program}: env check passed (reset and {CHECK_STEPS} random steps in "
            f"{time.monotonic() - started:.1f} s)",
            flush=True,
        )
    finally:
        env.close()


def _spaces_of(env: Any) -> list[tuple[str, Any, Any, str | None]]:
    """(owner for messages, observation space, action space, agent id or None) of the env, or
    of each agent of a multi-agent env."""
    unwrapped = env.unwrapped
    agents = getattr(unwrapped, "possible_agents", None)
    if agents:
        return [
            (
                f"{type(unwrapped.experiment(a)).__name__}.get_action_space() of agent '{a}'",
                unwrapped.observation_spaces[a],
                unwrapped.action_spaces[a],
                a,
            )
            for a in agents
        ]
    source = type(getattr(unwrapped, "experiment", unwrapped)).__name__
    owner = f"{source}.get_action_space()"
    return [(owner, unwrapped.observation_space, unwrapped.action_space, None)]


def _random_step(env: Any) -> bool:
    """One step with random actions (for every live agent of a multi-agent env); False when the
    episode ended."""
    agents = getattr(env.unwrapped, "possible_agents", None)
    if not agents:
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        return not (terminated or truncated)
    spaces = env.unwrapped.action_spaces
    env.step({agent: spaces[agent].sample() for agent in env.unwrapped.agents})
    return bool(env.unwrapped.agents)


def train(args: argparse.Namespace, extras: Extras) -> int:
    program = extras.program
    training_file = load_training_file(args.config)
    apply_overrides(training_file, args.overrides)
    apply_fixed(training_file, extras.fixed, program)
    roots = import_roots(training_file)
    add_to_sys_path(roots)
    settings = run_settings(training_file)
    resolved_env_config(training_file)  # fail on a bad env_config before anything else
    experiment_dir = args.directory.expanduser().resolve() / args.name
    start = choose_start_checkpoint(args, experiment_dir, extras.checkpoint_files)

    from rllib_integration.training.algorithm_config import build_algorithm_config

    callbacks = tuple(import_path(path, "callbacks") for path in extras.callbacks)
    config = build_algorithm_config(training_file, callbacks)
    writable_folder(experiment_dir.parent, "--directory")
    check_env(training_file, config, program, run_steps=not args.no_check)
    if start is not None:
        config.callbacks(
            on_algorithm_init=functools.partial(restore_on_init, checkpoint=str(start))
        )
        print(f"{program}: continuing from {start}")

    created = not experiment_dir.exists()
    experiment_dir.mkdir(parents=True, exist_ok=True)
    try:
        start_ray(args.address, cpus_needed(config), worker_python_path(roots))
        print(f"{program}: results in {experiment_dir}")
        print(f"{program}: watch with: tensorboard --logdir {experiment_dir}")
        return fit(config, settings, args.name, experiment_dir, extras)
    finally:
        # A folder this run made and left without a checkpoint would only block a rerun.
        if created and find_latest(experiment_dir, extras.checkpoint_files) is None:
            shutil.rmtree(experiment_dir, ignore_errors=True)
            print(
                f"{program}: no checkpoint was written; removed {experiment_dir}", file=sys.stderr
            )


def fit(config: Any, settings: RunSettings, name: str, experiment_dir: Path, extras: Extras) -> int:
    """Run Tune; the exit status: 0 done, 1 failed, 130 interrupted, 143 terminated."""
    from ray import tune

    from rllib_integration.training.fatal_errors import fatal_message
    from rllib_integration.training.interrupt import (
        TUNE_SIGINT_VARIABLE,
        Interrupt,
        RunStopper,
        interrupt_requested,
    )
    from rllib_integration.training.monitor import ExperimentTensorBoard, TrainingMonitor

    program = extras.program
    monitor = TrainingMonitor(experiment_dir, extras.exports)
    interrupt = Interrupt(program)
    os.environ[TUNE_SIGINT_VARIABLE] = "1"  # Tune's handler would end fit() as if done
    tuner = tune.Tuner(
        config.algo_class,  # the class, not its name: the name imports every algorithm (P7)
        param_space=config,
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(experiment_dir.parent),
            stop=RunStopper(settings.stop),
            verbose=0,
            callbacks=[monitor, ExperimentTensorBoard(experiment_dir)],
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=settings.checkpoint_frequency,
                checkpoint_at_end=True,
                num_to_keep=settings.checkpoints_to_keep,
            ),
        ),
    )
    try:
        with interrupt.installed():
            results = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C, or SIGTERM: no checkpoint of now
        terminated = interrupt.terminated
        latest = find_latest(experiment_dir, extras.checkpoint_files)
        print(
            f"{program}: {'terminated' if terminated else 'interrupted'}; latest checkpoint "
            f"{latest or 'none'}; resume with --auto",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM if terminated else 130
    if results.errors:
        for error in results.errors:
            print(f"{program}: training failed: {fatal_message(error) or error}", file=sys.stderr)
        return 1
    if monitor.last_checkpoint is None:
        print(f"{program}: training ended without a checkpoint", file=sys.stderr)
        return 1
    if interrupt_requested():
        iteration = monitor.last_result.get("training_iteration", "?")
        print(
            f"{program}: interrupted at iteration {iteration}; checkpoint "
            f"{monitor.last_checkpoint}; resume with --auto",
            file=sys.stderr,
        )
        return 130
    print(f"{program}: final checkpoint {monitor.last_checkpoint}")
    return 0


def writable_folder(path: Path, option: str) -> None:
    """ConfigError naming `option` unless results can be written at `path` (created later):
    its nearest existing folder must take a file. Nothing is left behind."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ConfigError(
            f"{option} {path}: cannot write results there: {error.strerror or error}"
        ) from None


def main(
    argv: Sequence[str] | None = None, extras: Extras | None = None, description: str = ""
) -> int:
    extras = extras or Extras()
    args = parse_args(argv, description or __doc__.splitlines()[0], extras)
    if not args.address:
        keep_local_ray_on_loopback(os.environ)
    try:
        return train(args, extras)
    except (ConfigError, CheckpointError, EnvCheckError) as error:
        print(f"{extras.program}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{extras.program}: interrupted; resume with --auto", file=sys.stderr)
        return 130
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()
