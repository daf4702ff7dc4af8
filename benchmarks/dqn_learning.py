"""Does the DQN example learn to drive? Train from scratch, then evaluate the greedy policy.

    .venv/bin/python benchmarks/dqn_learning.py [--minutes 60] [--episodes 20] [--set KEY=VALUE]

1. Trains `dqn_example/dqn_config.yaml` with `dqn_train.py` for at most --minutes of wall-clock
   time (stop.time_s), on the embedded server's default town.
2. Saves the learning curve (episode return and route completion over env steps) as a PNG.
3. Runs --episodes greedy episodes with the exported network (no Ray), from spawn points spread
   evenly over the map (both directions, no start twice), and prints the table and
   the targets: completion (drove until the time limit) >= 80 %, collision or off-road <= 10 %,
   mean speed >= 15 km/h. Exit code 0 only if all three are met.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dqn_example.export import CHECKPOINT_FILES, EXPORT_DIR  # noqa: E402
from rllib_integration.training.checkpoints import find_latest  # noqa: E402
from rllib_integration.training.episodes import (  # noqa: E402
    HEADER,
    EpisodeReport,
    format_summary,
    run_episodes,
    summary,
)

TARGETS = (
    ("truncated_rate", ">=", 0.80, "completed episodes"),
    ("collision_or_off_road_rate", "<=", 0.10, "collision or off-road"),
    ("mean_speed_kmh", ">=", 15.0, "mean speed km/h"),
)


def train(
    args: argparse.Namespace, experiment_dir: Path, program: tuple[str, ...] | None = None
) -> float:
    """Train args.config for args.minutes with `program` (dqn_train.py by default; any trainer
    with the generic trainer's options); its log beside `experiment_dir`, progress printed."""
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
    ]
    for item in args.overrides:
        command += ["--set", item]
    print("training:", " ".join(command), flush=True)
    experiment_dir.parent.mkdir(parents=True, exist_ok=True)
    log = (experiment_dir.parent / f"{experiment_dir.name}.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in process.stdout:
        log.write(line)
        if line.startswith(("iter", "dqn_train", "carla-rllib-train", "checkpoint")):
            print(line.rstrip(), flush=True)
    log.close()
    if process.wait() != 0:
        raise SystemExit(f"training failed (exit {process.returncode}); log: {log.name}")
    return time.monotonic() - started


def learning_curve(experiment_dir: Path) -> dict[str, np.ndarray]:
    rows = []
    for progress in sorted(experiment_dir.glob("*/progress.csv")):
        with progress.open() as handle:
            rows += list(csv.DictReader(handle))

    def column(name: str) -> np.ndarray:
        return np.array([float(r.get(name) or "nan") for r in rows], dtype=np.float64)

    return {
        "steps": column("num_env_steps_sampled_lifetime"),
        "return": column("env_runners/episode_return_mean"),
        "route": column("env_runners/env/route_completion"),
        "speed": column("env_runners/env/mean_speed"),
    }


def plot(curve: dict[str, np.ndarray], path: Path) -> None:
    """A small two-panel line chart drawn with OpenCV (no plotting library needed)."""
    import cv2

    width, height, margin = 900, 300, 60
    panels = [
        ("episode return (mean of 20)", curve["return"]),
        ("route completion", curve["route"]),
    ]
    image = np.full((height * len(panels), width, 3), 255, np.uint8)
    steps = curve["steps"]
    for index, (title, values) in enumerate(panels):
        top = index * height
        ok = np.isfinite(values) & np.isfinite(steps)
        cv2.putText(image, title, (margin, top + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1)
        x0, y0, x1, y1 = margin, top + 40, width - 20, top + height - 40
        cv2.rectangle(image, (x0, y0), (x1, y1), (200, 200, 200), 1)
        if ok.sum() < 2:
            continue
        xs, ys = steps[ok], values[ok]
        lo, hi = float(ys.min()), float(ys.max())
        hi = hi if hi > lo else lo + 1.0
        px = x0 + (xs - xs.min()) / max(xs.max() - xs.min(), 1.0) * (x1 - x0)
        py = y1 - (ys - lo) / (hi - lo) * (y1 - y0)
        points = np.stack([px, py], axis=1).astype(np.int32)
        cv2.polylines(image, [points], False, (200, 80, 0), 2)
        for value, y in ((hi, y0), (lo, y1)):
            cv2.putText(image, f"{value:.2f}", (5, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
        label = f"env steps 0 .. {int(xs.max()):,}"
        cv2.putText(image, label, (x0, y1 + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    cv2.imwrite(str(path), image)


def stats_of(reports: list[EpisodeReport]) -> dict:
    """The library's summary (completed = truncated by the time limit), plus the example's own
    failure rate: episodes that ended in a collision or off the road (its end_reason)."""
    stats = summary(reports)
    failures = sum(r.end in ("collision", "off_road") for r in reports)
    stats["collision_or_off_road_rate"] = failures / max(len(reports), 1)
    return stats


def evaluate(args: argparse.Namespace, checkpoint: Path) -> dict:
    import torch

    from dqn_example.qnet import load_qnet
    from rllib_integration.carla_env import CarlaEnv
    from rllib_integration.training.training_file import (
        apply_overrides,
        load_training_file,
        resolved_env_config,
    )

    training_file = load_training_file(args.config)
    apply_overrides(training_file, [o for o in args.overrides if o.startswith("env_config.")])
    env_config = resolved_env_config(training_file)
    net = load_qnet(checkpoint / EXPORT_DIR)

    @torch.no_grad()
    def policy(observation: np.ndarray) -> int:
        return int(net(torch.as_tensor(observation).unsqueeze(0)).argmax(dim=-1).item())

    env = CarlaEnv(env_config, render_mode="rgb_array" if args.video else None)
    try:
        print(HEADER)
        reports = run_episodes(
            env,
            policy,
            args.episodes,
            video=args.video,
            seed=1000,
            stream=sys.stdout,
            spread_spawn_points=True,
        )
    finally:
        env.close()
    return stats_of(reports)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "dqn_example" / "dqn_config.yaml")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget (60)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (20)")
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/dqn_learning"), help="results folder"
    )
    parser.add_argument("--video", type=Path, help="MP4 of the evaluation episodes")
    parser.add_argument("--evaluate-only", type=Path, metavar="CHECKPOINT", help="skip training")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    experiment_dir = args.out.resolve() / "dqn_learning"
    if args.evaluate_only is None:
        seconds = train(args, experiment_dir)
        print(f"trained for {seconds / 60:.1f} min")
        checkpoint = find_latest(experiment_dir, CHECKPOINT_FILES)
        curve = learning_curve(experiment_dir)
        png = args.out / "dqn_learning_curve.png"
        plot(curve, png)
        print(
            f"learning curve: {png} ({len(curve['steps'])} iterations, "
            f"{int(np.nanmax(curve['steps'])):,} env steps)"
        )
    else:
        checkpoint = args.evaluate_only
    if checkpoint is None:
        raise SystemExit(f"no checkpoint under {experiment_dir}")
    print(f"evaluating {checkpoint}")
    stats = evaluate(args, Path(checkpoint))
    print(format_summary(stats))
    passed = True
    for key, op, target, label in TARGETS:
        value = stats[key]
        ok = value >= target if op == ">=" else value <= target
        passed &= ok
        print(f"  {label:<24} {value:8.3f}  target {op} {target}  {'PASS' if ok else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
