"""Does the route-following example learn to drive routes? Train from scratch, score the
held-out routes like the leaderboard.

    .venv/bin/python benchmarks/route_learning.py [--minutes 120] [--out /tmp/route_learning]
        [--evaluate-only CHECKPOINT] [--no-autopilot] [--set KEY=VALUE]

1. Trains `examples/routes/dqn_config.yaml` (DQN, bird's-eye masks with the route + state
   vector, random Grid01 routes of 150-600 m among 12 Traffic Manager vehicles) with the
   generic trainer (`python -m rllib_integration.train`) for at most --minutes of wall-clock
   time, on the embedded server.
2. Saves the learning curve (episode return and route completion over env steps) as a PNG.
3. Scores the last checkpoint on the 10 held-out routes (`grid01_heldout`, never trained on)
   with `python -m rllib_integration.evaluate` (the leaderboard's rules end a route), then the
   Traffic Manager's autopilot on the same routes and traffic as the reference.
4. Ends with one line, e.g.
   `held-out routes: route completion 72.4 %, driving score 41.3 (10 routes)`.
   Exit 0 only if the targets (completion >= 70 %, driving score >= 40) are met.

A long benchmark: each run takes --minutes plus about 10 minutes of evaluation.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dqn_learning import train  # noqa: E402

from dqn_example.learning_report import learning_curve, plot_curves  # noqa: E402
from rllib_integration.training.checkpoints import find_latest  # noqa: E402

CONFIG = ROOT / "examples" / "routes" / "dqn_config.yaml"
TRAINER = ("-m", "rllib_integration.train")  # the generic trainer
ROUTES = "grid01_heldout"
TARGETS = {"completion": 70.0, "score": 40.0}
# The evaluation CLI's last line: "10 routes: route completion 88.0 %, driving score 61.2".
MEANS = re.compile(r"^(\d+) routes: route completion ([\d.]+) %, driving score ([\d.]+)$")


def evaluate(
    args: argparse.Namespace, checkpoint: Path | None, output: Path
) -> tuple[int, float, float]:
    """Run the evaluation CLI on the held-out routes (the checkpoint's greedy policy, or the
    autopilot without one); its table goes to stdout, its means are returned."""
    command = [sys.executable, "-m", "rllib_integration.evaluate", str(args.config)]
    command += [str(checkpoint)] if checkpoint is not None else ["--agent", "autopilot"]
    command += ["--routes", ROUTES, "--output", str(output), "--seed", "0"]
    for item in args.overrides:
        if item.startswith("env_config."):
            command += ["--set", item]
    print("evaluating:", " ".join(command), flush=True)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = []
    assert process.stdout is not None  # stdout=PIPE
    for line in process.stdout:  # a row per route as it ends
        print(line, end="", flush=True)
        lines.append(line.strip())
    if process.wait() != 0:
        raise SystemExit(f"evaluation failed (exit {process.returncode})")
    match = MEANS.match(lines[-1]) if lines else None
    if match is None:
        raise SystemExit(f"evaluation printed no means line: {lines[-1:]}")
    return int(match[1]), float(match[2]), float(match[3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--minutes", type=float, default=120.0, help="training budget (120)")
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/route_learning"), help="results folder"
    )
    parser.add_argument("--evaluate-only", type=Path, metavar="CHECKPOINT", help="skip training")
    parser.add_argument("--no-autopilot", action="store_true", help="skip the autopilot reference")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    if not 0 < args.minutes <= 120:
        parser.error("--minutes must be in (0, 120]: the benchmark's budget is 2 hours")

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    out = args.out.resolve()
    experiment_dir = out / "route_learning"
    if args.evaluate_only is None:
        seconds = train(args, experiment_dir, TRAINER)
        print(f"trained for {seconds / 60:.1f} min")
        curve = learning_curve(next(experiment_dir.glob("*/progress.csv")).parent)
        png = out / "route_learning_curve.png"
        plot_curves({0: curve}, png)
        steps = int(np.nanmax(curve["env steps"])) if len(curve["env steps"]) else 0
        print(f"learning curve: {png} ({len(curve['env steps'])} iterations, {steps:,} env steps)")
        checkpoint = find_latest(experiment_dir)
    else:
        checkpoint = args.evaluate_only
    if checkpoint is None:
        raise SystemExit(f"no checkpoint under {experiment_dir}")
    print(f"load average after training: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.no_autopilot:
        count, completion, score = evaluate(args, None, out / "autopilot.json")
        print(
            f"autopilot reference: route completion {completion:.1f} %, "
            f"driving score {score:.1f} ({count} routes)"
        )
    print(f"evaluating {checkpoint}")
    count, completion, score = evaluate(args, Path(checkpoint), out / "learned.json")
    met = completion >= TARGETS["completion"] and score >= TARGETS["score"]
    print(
        f"targets: completion >= {TARGETS['completion']:.0f} %, "
        f"driving score >= {TARGETS['score']:.0f}: {'met' if met else 'missed'}"
    )
    print(
        f"held-out routes: route completion {completion:.1f} %, "
        f"driving score {score:.1f} ({count} routes)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
