"""Training throughput of the DQN example: env steps/s of the shipped config against variants that
change where and how it runs, never what it learns per env step, in one run.

    .venv/bin/python benchmarks/dqn_throughput.py [--minutes 1.5] [--rounds 2] \
        [--variant NAME:KEY=VALUE,KEY=VALUE ...]

Each run trains `dqn_example/dqn_config.yaml` from scratch (seed 0) with dqn_train.py for
--minutes; the variants alternate (baseline, variant, ..., then again for --rounds) so a change in
the machine's load hits them alike. A run's rate is the env steps sampled from its first reported
iteration after learning started (training.num_steps_sampled_before_learning_starts) to its last,
over the time they took. Prints one line per run with the load average and RLlib's mean times in
ms: a training_step and its parts (sampling the fragment, replay sampling, the SGD update, the
priority update, the weight sync) and one env step in the env runner (resets included: RLlib
resets inside the step); then per variant the median rate and its ratio to the baseline.

The default variants (without --variant):
  learner_2_threads  learners.num_cpus_per_learner=2: Ray gives the learner's process 2 torch
                     intra-op threads (OMP_NUM_THREADS) instead of 1
  local_sampling     env_runners.num_env_runners=0: the env steps in the algorithm's process: no
                     remote call per 4-step fragment, the weight sync a copy in one process
  local_2_threads    both
  local_fragment_8   local_sampling with 8-step fragments and two SGD updates each: the same
                     replay ratio (32 trained per 4 sampled) and batch, half the calls and weight
                     syncs; the acting network lags the learner by up to 8 env steps, not 4
  local_fragment_8_2_threads  and the learner's 2 threads
Every run prints its replay ratio (env steps trained per env step sampled): a variant that
learns as the shipped config does shows the same (8.0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "dqn_example" / "dqn_config.yaml"
LOCAL = "env_runners.num_env_runners=0"
TWO_THREADS = "learners.num_cpus_per_learner=2"
# Two SGD updates of 32 per 8-step fragment: the replay ratio of 4 and 32. RLlib's DQN counts one
# sampling env runner more than there are (calculate_rr_weights): with one remote runner it is
# training_intensity=4, not 8.
FRAGMENT_8 = "env_runners.rollout_fragment_length=8"
DEFAULT_VARIANTS = {
    "learner_2_threads": [TWO_THREADS],
    "local_sampling": [LOCAL],
    "local_2_threads": [LOCAL, TWO_THREADS],
    "local_fragment_8": [LOCAL, FRAGMENT_8, "training.training_intensity=8"],
    "local_fragment_8_2_threads": [LOCAL, FRAGMENT_8, "training.training_intensity=8", TWO_THREADS],
}
TRAINED = ("learners", "__all_modules__", "num_env_steps_trained_lifetime")
# RLlib's timers of DQN's training_step (means, seconds) -> the column shown.
TIMERS = {
    "training_step": "step",
    "env_runner_sampling_timer": "sample",
    "replay_buffer_sampling_timer": "replay",
    "learner_update_timer": "sgd",
    "replay_buffer_update_prios_timer": "prios",
    "synch_weights": "sync",
}


@dataclass
class Measured:
    rate: float  # env steps/s after learning started
    replay_ratio: float  # env steps trained per env step sampled, after learning started
    timers_ms: dict[str, float]  # RLlib's mean of the last iteration


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def learning_starts() -> float:
    training = yaml.safe_load(CONFIG.read_text()).get("training", {})
    return float(training.get("num_steps_sampled_before_learning_starts", 0))


def measure(results: Path, after_steps: float) -> Measured:
    """The rate from the first iteration that ended at or after `after_steps` env steps (Tune's
    result.json: its progress.csv drops the learner's timers, which start after its first row)."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    learning = [r for r in rows if r["num_env_steps_sampled_lifetime"] >= after_steps]
    if len(learning) < 2:
        raise SystemExit(
            f"{results}: {len(learning)} iteration(s) after learning started; give the runs "
            "more --minutes"
        )
    first, last = learning[0], learning[-1]
    steps = last["num_env_steps_sampled_lifetime"] - first["num_env_steps_sampled_lifetime"]
    seconds = last["time_total_s"] - first["time_total_s"]
    trained = _nested(last, TRAINED) - _nested(first, TRAINED)
    timers = {name: 1000 * last["timers"][key] for key, name in TIMERS.items()}
    timers["env_step"] = 1000 * last["env_runners"]["env_step_timer"]
    return Measured(steps / seconds, trained / steps, timers)


def _nested(result: dict, keys: tuple[str, ...]) -> float:
    value: Any = result
    for key in keys:
        value = value[key]
    return float(value)


def run(name: str, overrides: list[str], minutes: float, out: Path) -> Measured:
    command = [sys.executable, str(ROOT / "dqn_train.py"), str(CONFIG)]
    command += ["--name", name, "--directory", str(out), "--overwrite", "--no-check"]
    settings = [
        "debugging.seed=0",
        f"stop.time_s={minutes * 60}",
        "stop.timesteps=100000000",
        # More points to measure between, and no checkpoint before the end of the run.
        "reporting.min_sample_timesteps_per_iteration=500",
        "checkpoint.frequency=100000",
        f"env_config.carla.log_dir={out / name}_server",
        *overrides,
    ]
    for item in settings:
        command += ["--set", item]
    log_path = out / f"{name}.log"
    with log_path.open("w") as log:
        result = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"{name}: training failed (exit {result.returncode}); see {log_path}")
    return measure(next((out / name).glob("*/result.json")), learning_starts())


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, settings = text.partition(":")
    if not sep or not name or name == "baseline":
        raise argparse.ArgumentTypeError(f"expected NAME:KEY=VALUE[,KEY=VALUE], got {text!r}")
    return name, [s for s in settings.split(",") if s]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="training per run (1.5)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant (2)")
    parser.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="the shipped config with these --set overrides (repeatable; default: "
        f"{', '.join(DEFAULT_VARIANTS)})",
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/dqn_throughput"))
    args = parser.parse_args()
    if args.minutes <= 0 or args.rounds < 1:
        parser.error("--minutes must be > 0 and --rounds >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    variants = {"baseline": [], **(dict(args.variant) or DEFAULT_VARIANTS)}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    print(f"{CONFIG.relative_to(ROOT)}, {args.minutes:g} min per run ({load()})", flush=True)
    for round_index in range(args.rounds):
        for name, settings in variants.items():
            measured = run(f"{name}_{round_index}", settings, args.minutes, args.out)
            rates[name].append(measured.rate)
            timers = " ".join(f"{k} {v:.1f}" for k, v in measured.timers_ms.items())
            print(
                f"round {round_index} {name:<26} {measured.rate:6.1f} env steps/s | "
                f"replay ratio {measured.replay_ratio:.1f} | "
                f"ms per training_step: {timers} | {load()}",
                flush=True,
            )
    baseline = statistics.median(rates["baseline"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<26} median {median:6.1f} env steps/s  {median / baseline:5.2f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
