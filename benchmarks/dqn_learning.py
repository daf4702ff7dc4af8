"""Does the DQN example learn to drive in 20 minutes, every time? Train seeds, evaluate, tabulate.

    .venv/bin/python benchmarks/dqn_learning.py [--seeds 0,1,2] [--minutes 20] \
        [--eval-towns Roundabout01] [--episodes 20] [--set KEY=VALUE]

For each seed in turn:
1. Trains `dqn_example/dqn_config.yaml` with `dqn_train.py` for --minutes of wall-clock time
   (stop.time_s; `debugging.seed` = the seed), keeping every checkpoint.
2. Evaluates the checkpoints in the order written, greedily with the exported network (no Ray),
   on the training town (the config's first town) from spawn points spread over it, until one
   meets the training-town targets (`dqn_example/learning_report.py`): minutes and env steps to
   targets. A checkpoint's evaluation stops as soon as the targets are out of reach.
3. Evaluates the final checkpoint fully on the training town and on each --eval-towns town
   (towns it never trained on; unseen-town targets).

Prints one table (a row per seed), saves one learning-curve PNG with every seed (route completion
and return over env steps and over minutes) and ends with exactly one line:
`seeds meeting targets: 3/3; slowest time to targets: 17.5 min; sustained env steps/s: 260`.
A seed meets the targets when its final checkpoint meets both sets. Exit 0 only if all seeds do.
Share of the machine matters: the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dqn_example import learning_report as report  # noqa: E402
from dqn_example.export import CHECKPOINT_FILES  # noqa: E402
from rllib_integration.training.checkpoints import find_latest  # noqa: E402
from rllib_integration.training.training_file import (  # noqa: E402
    apply_overrides,
    load_training_file,
    resolved_env_config,
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def train(
    args: argparse.Namespace,
    experiment_dir: Path,
    program: tuple[str, ...] | None = None,
    seed: int | None = None,
) -> float:
    """Train args.config for args.minutes (every checkpoint kept) with `program` (dqn_train.py by
    default; any trainer with the generic trainer's options); its log beside `experiment_dir`,
    progress printed. Returns the wall-clock seconds."""
    command = [
        sys.executable,
        *(program or (str(ROOT / "dqn_train.py"),)),
        str(args.config),
        "--name",
        experiment_dir.name,
        "--directory",
        str(experiment_dir.parent),
        "--overwrite",
        "--set",
        f"stop.time_s={args.minutes * 60}",
        "--set",
        "stop.timesteps=100000000",
        "--set",
        "checkpoint.keep=1000",
    ]
    if seed is not None:
        command += ["--set", f"debugging.seed={seed}"]
    for item in args.overrides:
        command += ["--set", item]
    label = experiment_dir.name if seed is None else f"seed {seed}"
    print(f"{label}: training ({load()}):", " ".join(command), flush=True)
    experiment_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = experiment_dir.parent / f"{experiment_dir.name}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            log.write(line)
            if line.startswith(("iter", "dqn_train", "carla-rllib-train")):
                print(f"{label}: {line.rstrip()}", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"{label}: training failed (exit {process.returncode}); log: {log_path}")
    return time.monotonic() - started


def env_config_for(args: argparse.Namespace, town: str) -> dict:
    training_file = load_training_file(args.config)
    overrides = [o for o in args.overrides if o.startswith("env_config.")]
    apply_overrides(training_file, [*overrides, f"env_config.experiment.town={town}"])
    return resolved_env_config(training_file)


def evaluate(
    args: argparse.Namespace, checkpoint: Path, town: str, targets=None, stream=None
) -> dict:
    from rllib_integration.carla_env import CarlaEnv

    env: CarlaEnv[Any, Any] = CarlaEnv(env_config_for(args, town))
    try:
        stats, _ = report.evaluate(
            env, report.greedy_policy(checkpoint), args.episodes, targets, stream
        )
    finally:
        env.close()
    return stats


def training_towns(args: argparse.Namespace) -> list[str]:
    """The towns the config trains on; the first is where the training-town targets apply."""
    training_file = load_training_file(args.config)
    apply_overrides(training_file, [o for o in args.overrides if o.startswith("env_config.")])
    town = resolved_env_config(training_file)["experiment"]["town"]
    return [str(t) for t in town] if isinstance(town, list) else [str(town)]


def finished_run(experiment_dir: Path, minutes: float) -> Path | None:
    """The trial folder of a run in `experiment_dir` that trained its `minutes` and left a
    complete checkpoint, else None."""
    for progress in experiment_dir.glob("*/progress.csv"):
        curve = report.learning_curve(progress.parent)
        trained = float(max(curve["minutes"], default=0.0))
        if trained >= minutes - 0.05 and find_latest(experiment_dir, CHECKPOINT_FILES):
            return progress.parent
    return None


def run_seed(args: argparse.Namespace, seed: int) -> report.SeedResult:
    experiment_dir = args.out.resolve() / f"seed{seed}"
    if args.reuse and finished_run(experiment_dir, args.minutes) is not None:
        print(f"seed {seed}: reusing the finished run in {experiment_dir}", flush=True)
        started_up = ""
    else:
        seconds = train(args, experiment_dir, seed=seed)
        started_up = f" ({seconds / 60:.1f} min with start-up)"
    trial_dir = next(p for p in experiment_dir.iterdir() if (p / "progress.csv").is_file())
    curve = report.learning_curve(trial_dir)
    env_steps = int(max(curve["env steps"], default=0))
    minutes = float(max(curve["minutes"], default=0.0))  # Tune's training time (stop.time_s)
    town = training_towns(args)[0]
    print(f"seed {seed}: trained {minutes:.1f} min{started_up}, {env_steps:,} env steps ({load()})")

    first = None
    for entry in report.checkpoint_times(experiment_dir):
        stats = evaluate(args, entry.path, town, report.TRAINING_TOWN_TARGETS)
        ok = report.meets(stats, report.TRAINING_TOWN_TARGETS)
        print(
            f"seed {seed}: {entry.path.name} at {entry.minutes:.1f} min, {entry.env_steps:,} "
            f"steps: {report.format_stats(stats)} -> {'targets met' if ok else 'not yet'}",
            flush=True,
        )
        if ok:
            first = entry
            break

    final = find_latest(experiment_dir, CHECKPOINT_FILES)
    if final is None:
        raise SystemExit(f"seed {seed}: no complete checkpoint under {experiment_dir}")
    result = report.SeedResult(seed, minutes, env_steps, first, town, {})
    for name in [town, *args.eval_towns]:
        print(f"seed {seed}: final checkpoint {final.name} on {name} ({load()})")
        stats = evaluate(args, final, name, stream=sys.stdout)
        print(report.format_stats(stats))
        targets = report.TRAINING_TOWN_TARGETS if name == town else report.UNSEEN_TOWN_TARGETS
        for (key, op, bound, label), ok in report.check(stats, targets):
            print(
                f"  {label:<28} {stats[key]:8.2f}  target {op} {bound}  {'met' if ok else 'MISSED'}"
            )
        if name == town:
            result.training_stats = stats
        else:
            result.unseen[name] = stats
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "dqn_example" / "dqn_config.yaml")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--minutes", type=float, default=20.0, help="training per seed (20)")
    parser.add_argument(
        "--eval-towns",
        default="Roundabout01",
        help="comma-separated towns the config never trains on (Roundabout01)",
    )
    parser.add_argument("--episodes", type=int, default=20, help="greedy episodes per town (20)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dqn_learning"), help="results")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="evaluate a seed's finished run already in --out instead of training it again",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds: no seed given")
    if args.minutes <= 0 or args.episodes < 1:
        parser.error("--minutes must be > 0 and --episodes >= 1")
    args.eval_towns = [t.strip() for t in args.eval_towns.split(",") if t.strip()]
    trained_on = set(training_towns(args)) & set(args.eval_towns)
    if trained_on:
        parser.error(f"--eval-towns: {', '.join(sorted(trained_on))} is a training town")

    import torch

    # One intra-op thread for the greedy policy: a batch of one gains nothing from two, and on a
    # loaded 2-core machine two threads wait on each other (5 ms vs 145 ms per action measured
    # at load 20). Training is not affected: Ray's workers run one thread each already.
    torch.set_num_threads(1)
    print(f"dqn_learning: seeds {seeds}, {args.minutes:g} min each ({load()})", flush=True)
    results, curves = [], {}
    for seed in seeds:
        results.append(run_seed(args, seed))
        trial_dir = next(
            p
            for p in (args.out.resolve() / f"seed{seed}").iterdir()
            if (p / "progress.csv").is_file()
        )
        curves[seed] = report.learning_curve(trial_dir)
    png = args.out / "dqn_learning_curves.png"
    report.plot_curves(curves, png)
    print(f"\nlearning curves: {png}")
    print(f"finished ({load()})")
    print(report.format_table(results))
    print(report.final_line(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
