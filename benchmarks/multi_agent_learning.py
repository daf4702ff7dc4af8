"""Does sharing one world between 4 heroes learn to drive sooner? Back to back: the single-agent
DQN example and the 4-hero shared-policy config, each trained from scratch for the same
wall-clock budget, then the time each needed to reach the greedy targets.

    .venv/bin/python benchmarks/multi_agent_learning.py [--minutes 60] [--episodes 20]
        [--every 1] [--out /tmp/multi_agent_learning] [--evaluate-only]

1. Trains `dqn_example/dqn_config.yaml`, then `dqn_example/dqn_multi_agent_config.yaml`, each
   with `dqn_train.py` for at most --minutes (one after the other, never at the same time),
   keeping every checkpoint (one every 5 iterations).
2. Evaluates the checkpoints of each run in order (every --every-th) the same way, with the
   single-agent env: --episodes greedy episodes from spawn points spread over the map, with the
   exported network (the shared policy's for the 4-hero run). The first checkpoint that meets
   the targets (>= 80 % of episodes to the time limit, <= 10 % collision or off-road, >= 15 km/h,
   those of benchmarks/dqn_learning.py)
   gives that run's time to the targets: its training wall-clock time at that checkpoint.
3. Ends with one line, e.g.
   `time to the greedy targets: 1 hero 41.2 min, 4 heroes 18.5 min (2.23x sooner)`.
   Exit 0 only if the 4-hero run reached the targets sooner.

A long benchmark: run it on a quiet machine (each training run takes --minutes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dqn_learning import train  # noqa: E402

from dqn_example.export import CHECKPOINT_FILES, export_dir  # noqa: E402
from dqn_example.learning_report import DRIVING_TARGETS as TARGETS  # noqa: E402
from dqn_example.learning_report import Stats, meets, stats_of  # noqa: E402
from rllib_integration.training.checkpoints import (  # noqa: E402
    is_complete,
    module_ids,
    read_history,
)
from rllib_integration.training.episodes import HEADER, format_summary, run_episodes  # noqa: E402

SINGLE = ROOT / "dqn_example" / "dqn_config.yaml"
MULTI = ROOT / "dqn_example" / "dqn_multi_agent_config.yaml"
RUNS = (("1 hero", SINGLE, "single"), ("4 heroes", MULTI, "four_heroes"))


@dataclass
class Checkpoint:
    path: Path
    iteration: int
    seconds: float  # the run's training wall-clock time when it was written
    env_steps: int


def checkpoints_in_time(experiment_dir: Path) -> list[Checkpoint]:
    """The run's complete checkpoints, oldest first, with the training time at each (as the
    training monitor recorded them)."""
    found = []
    for record in read_history(experiment_dir):
        path = Path(record["checkpoint"])
        if is_complete(path, CHECKPOINT_FILES):
            found.append(
                Checkpoint(
                    path,
                    int(record["training_iteration"]),
                    float(record["time_total_s"]),
                    int(record["env_steps"]),
                )
            )
    return sorted(found, key=lambda c: c.seconds)


def network_of(checkpoint: Path) -> Path:
    """The exported Q-network to evaluate: the run's only policy (`qnet/` or `qnet/shared/`)."""
    modules = module_ids(checkpoint)
    if len(modules) != 1:
        raise SystemExit(f"{checkpoint}: expected one policy, found {modules}")
    return export_dir(checkpoint, modules[0])


def greedy_evaluation(network: Path, episodes: int, overrides: list[str] | None = None) -> Stats:
    """The single-agent example's greedy evaluation of one exported network (no Ray)."""
    import numpy as np
    import torch

    from dqn_example.qnet import load_qnet
    from rllib_integration.carla_env import CarlaEnv
    from rllib_integration.training.training_file import (
        apply_overrides,
        load_training_file,
        resolved_env_config,
    )

    training_file = load_training_file(SINGLE)
    apply_overrides(training_file, list(overrides or []))
    env_config = resolved_env_config(training_file)
    net = load_qnet(network)

    @torch.no_grad()
    def policy(observation: np.ndarray) -> int:
        return int(net(torch.as_tensor(observation).unsqueeze(0)).argmax(dim=-1).item())

    env: CarlaEnv[Any, Any] = CarlaEnv(env_config)
    try:
        print(HEADER, flush=True)
        reports = run_episodes(
            env, policy, episodes, seed=1000, stream=sys.stdout, spread_spawn_points=True
        )
    finally:
        env.close()
    return stats_of(reports)


def meets_targets(stats: Stats) -> bool:
    return meets(stats, TARGETS)


def time_to_targets(
    checkpoints: list[Checkpoint], evaluate: Callable[[Path], Stats], every: int = 1
) -> Checkpoint | None:
    """The first checkpoint (of every `every`-th, the last always included) whose greedy
    evaluation meets the targets, or None."""
    chosen = checkpoints[every - 1 :: every]
    if checkpoints and checkpoints[-1] not in chosen:
        chosen.append(checkpoints[-1])
    for checkpoint in chosen:
        print(
            f"evaluating {checkpoint.path} (iteration {checkpoint.iteration}, "
            f"{checkpoint.seconds / 60:.1f} min, {checkpoint.env_steps:,} env steps)",
            flush=True,
        )
        stats = evaluate(checkpoint.path)
        print(format_summary(stats), flush=True)
        if meets_targets(stats):
            return checkpoint
    return None


def summary_line(results: dict[str, Checkpoint | None], minutes: float) -> str:
    """`time to the greedy targets: 1 hero 41.2 min, 4 heroes 18.5 min (2.23x sooner)`."""
    parts = []
    for label, reached in results.items():
        parts.append(
            f"{label} {reached.seconds / 60:.1f} min"
            if reached
            else f"{label} not reached in {minutes:g} min"
        )
    line = "time to the greedy targets: " + ", ".join(parts)
    single, multi = results.get("1 hero"), results.get("4 heroes")
    if single and multi:
        line += f" ({single.seconds / multi.seconds:.2f}x sooner)"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget per run")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (20)")
    parser.add_argument("--every", type=int, default=1, help="evaluate every N-th checkpoint")
    parser.add_argument("--out", type=Path, default=Path("/tmp/multi_agent_learning"))
    parser.add_argument(
        "--evaluate-only", action="store_true", help="evaluate the runs already in --out"
    )
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every: must be >= 1")
    results: dict[str, Checkpoint | None] = {}
    for label, config, name in RUNS:
        experiment_dir = args.out.resolve() / name
        if not args.evaluate_only:
            run = argparse.Namespace(
                config=config,
                minutes=args.minutes,
                overrides=["checkpoint.keep=1000"],
            )
            seconds = train(run, experiment_dir)
            print(f"{label}: trained for {seconds / 60:.1f} min", flush=True)
        checkpoints = checkpoints_in_time(experiment_dir)
        results[label] = time_to_targets(
            checkpoints,
            lambda path: greedy_evaluation(network_of(path), args.episodes),
            args.every,
        )
    line = summary_line(results, args.minutes)
    print(line)
    single, multi = results["1 hero"], results["4 heroes"]
    return 0 if multi is not None and (single is None or multi.seconds < single.seconds) else 1


if __name__ == "__main__":
    sys.exit(main())
