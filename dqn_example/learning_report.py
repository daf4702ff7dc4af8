"""What `benchmarks/dqn_learning.py` measures of a training run, Ray-free: greedy evaluation of a
checkpoint's exported network on a town, the targets, when each checkpoint was written, the
table, the last line and the learning-curve PNG.

Targets (issue 20): on the training town, of the greedy episodes from spread spawn points
>= 80 % drive to the time limit, <= 10 % end in a collision or off the road, the mean speed is
>= 15 km/h, <= 10 lane invasions per episode and <= 0.5 m mean distance from the lane centre; on
a town the run never trained on, >= 60 % to the time limit and <= 20 % collision or off-road.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dqn_example.export import CHECKPOINT_FILES, EXPORT_DIR
from rllib_integration.training.checkpoints import is_complete, read_history
from rllib_integration.training.episodes import (
    HEADER,
    EpisodeReport,
    format_row,
    run_episodes,
    summary,
)

# (summary key, ">=" or "<=", bound, label)
Target = tuple[str, str, float, str]
# Driving: to the time limit, no collision or off-road, not crawling.
DRIVING_TARGETS: tuple[Target, ...] = (
    ("truncated_rate", ">=", 0.80, "to the time limit"),
    ("collision_or_off_road_rate", "<=", 0.10, "collision or off-road"),
    ("mean_speed_kmh", ">=", 15.0, "mean speed km/h"),
)
LANE_TARGETS: tuple[Target, ...] = (
    ("lane_invasions_per_episode", "<=", 10.0, "lane invasions per episode"),
    ("mean_lane_centre_distance", "<=", 0.5, "m from the lane centre"),
)
TRAINING_TOWN_TARGETS = DRIVING_TARGETS + LANE_TARGETS
UNSEEN_TOWN_TARGETS: tuple[Target, ...] = (
    ("truncated_rate", ">=", 0.60, "to the time limit"),
    ("collision_or_off_road_rate", "<=", 0.20, "collision or off-road"),
)
FAILED_ENDS = ("collision", "off_road")
# The library's summary (mean_route_completion None without routes) and the rates added here.
Stats = dict[str, float | None]
# The evaluation table: the library's columns and the metres from the lane centre.
EVAL_HEADER = f"{HEADER} {'ctr m':>5}"


def centre_distance(report: EpisodeReport) -> float:
    """The episode's mean distance from the lane centre (m), the DQN experiment's own info."""
    return report.experiment.get("lane_centre_distance", 0.0)


def stats_of(reports: list[EpisodeReport]) -> Stats:
    """The library's summary (truncated = drove to the time limit) and what the targets need
    besides: the share ending in a collision or off the road (the experiment's end_reason),
    lane invasions per episode and the mean distance from the lane centre."""
    stats = summary(reports)
    n = max(len(reports), 1)
    stats["collision_or_off_road_rate"] = sum(r.end in FAILED_ENDS for r in reports) / n
    stats["lane_invasions_per_episode"] = sum(r.lane_invasions for r in reports) / n
    stats["mean_lane_centre_distance"] = sum(centre_distance(r) for r in reports) / n
    return stats


def format_stats(stats: Stats) -> str:
    return (
        f"{stats['episodes']} episodes | to the time limit {stats['truncated_rate']:.0%} | "
        f"collision/off-road {stats['collision_or_off_road_rate']:.0%} | "
        f"mean speed {stats['mean_speed_kmh']:.1f} km/h | mean return {stats['mean_return']:.1f} | "
        f"lane invasions {stats['lane_invasions_per_episode']:.1f}/episode | "
        f"from lane centre {stats['mean_lane_centre_distance']:.2f} m"
    )


def check(stats: Stats, targets: Iterable[Target]) -> list[tuple[Target, bool]]:
    """Each target with whether `stats` meets it."""
    results = []
    for target in targets:
        key, op, bound, _ = target
        value = stats[key]
        assert value is not None, key  # the targets are rates and means every run has
        results.append((target, value >= bound if op == ">=" else value <= bound))
    return results


def meets(stats: Stats, targets: Iterable[Target]) -> bool:
    return all(ok for _, ok in check(stats, targets))


def hopeless(reports: list[EpisodeReport], episodes: int, targets: Iterable[Target]) -> bool:
    """True once the episodes run so far already rule out the completion and failure targets,
    whatever the rest do (so a checkpoint scan can stop early)."""
    for key, _, bound, _ in targets:
        if key == "truncated_rate":
            misses = sum(not r.truncated for r in reports)
            if misses > episodes * (1.0 - bound) + 1e-9:
                return True
        elif key == "collision_or_off_road_rate":
            if sum(r.end in FAILED_ENDS for r in reports) > episodes * bound + 1e-9:
                return True
    return False


def greedy_policy(checkpoint: Path) -> Callable[[np.ndarray], int]:
    """The checkpoint's exported Q-network, acting greedily on one observation (no Ray)."""
    import torch

    from dqn_example.qnet import load_qnet

    net = load_qnet(Path(checkpoint) / EXPORT_DIR)

    @torch.no_grad()
    def policy(observation: np.ndarray) -> int:
        return int(net(torch.as_tensor(observation).unsqueeze(0)).argmax(dim=-1).item())

    return policy


def evaluate(
    env: Any,
    policy: Callable[[np.ndarray], int],
    episodes: int,
    targets: Iterable[Target] | None = None,
    stream: TextIO | None = None,
) -> tuple[Stats, list[EpisodeReport]]:
    """`episodes` greedy episodes from spawn points spread over the env's town; with `targets`,
    stops as soon as they can no longer be met. Returns the summary and the episodes run."""
    reports: list[EpisodeReport] = []
    targets = tuple(targets or ())

    def on_episode(report: EpisodeReport) -> bool:
        reports.append(report)
        if stream is not None:
            print(f"{format_row(report)} {centre_distance(report):>5.2f}", file=stream, flush=True)
        return bool(targets) and hopeless(reports, episodes, targets)

    if stream is not None:
        print(EVAL_HEADER, file=stream, flush=True)
    run_episodes(env, policy, episodes, seed=1000, spread_spawn_points=True, stop=on_episode)
    return stats_of(reports), reports


@dataclass
class CheckpointTime:
    path: Path
    minutes: float  # training time (Tune's time_total_s) when it was written
    env_steps: int


def checkpoint_times(experiment_dir: Path) -> list[CheckpointTime]:
    """The run's checkpoints still on disk and complete, in the order written, each with the
    training time and env steps when it was written (the trainer's checkpoints.jsonl)."""
    found = []
    for record in read_history(experiment_dir):
        path = Path(record["checkpoint"])
        if is_complete(path, CHECKPOINT_FILES):
            minutes = float(record.get("time_total_s") or 0.0) / 60.0
            found.append(CheckpointTime(path, minutes, int(record.get("env_steps") or 0)))
    return found


@dataclass
class SeedResult:
    seed: int
    minutes: float  # wall-clock training time of the run
    env_steps: int
    first_pass: CheckpointTime | None  # first checkpoint meeting the training-town targets
    training_town: str
    training_stats: Stats
    unseen: dict[str, Stats] = field(default_factory=dict)  # town -> stats

    @property
    def steps_per_second(self) -> float:
        return self.env_steps / (self.minutes * 60.0) if self.minutes > 0 else 0.0

    @property
    def passed(self) -> bool:
        return meets(self.training_stats, TRAINING_TOWN_TARGETS) and all(
            meets(stats, UNSEEN_TOWN_TARGETS) for stats in self.unseen.values()
        )


def _greedy(stats: Stats) -> str:
    return (
        f"{stats['truncated_rate']:4.0%} {stats['collision_or_off_road_rate']:4.0%} "
        f"{stats['mean_speed_kmh']:5.1f}"
    )


def format_table(results: list[SeedResult]) -> str:
    """One row per seed: time and steps to targets, final greedy results, steps/s, lane keeping."""
    towns = sorted({town for r in results for town in r.unseen})
    head = (
        f"{'seed':>4} {'to targets':>17} {'trained':>17} {'steps/s':>7} | "
        f"{'training town':<13} {'limit':>4} {'fail':>4} {'km/h':>5} {'lane/ep':>7} "
        f"{'ctr m':>5}"
    )
    for town in towns:
        head += f" | {town:<12} {'limit':>4} {'fail':>4} {'km/h':>5}"
    lines = [head + " | targets"]
    for r in results:
        first = (
            f"{r.first_pass.minutes:5.1f} min {r.first_pass.env_steps:>7,}"
            if r.first_pass
            else f"{'not met':>17}"
        )
        stats = r.training_stats
        line = (
            f"{r.seed:>4} {first:>17} {r.minutes:5.1f} min {r.env_steps:>7,} "
            f"{r.steps_per_second:7.0f} | {r.training_town:<13} {_greedy(stats)} "
            f"{stats['lane_invasions_per_episode']:7.1f} {stats['mean_lane_centre_distance']:5.2f}"
        )
        for town in towns:
            unseen = r.unseen.get(town)
            line += f" | {town:<12} {_greedy(unseen)}" if unseen else f" | {'-':<12}"
        lines.append(line + f" | {'met' if r.passed else 'missed'}")
    return "\n".join(lines)


def final_line(results: list[SeedResult]) -> str:
    """`seeds meeting targets: 3/3; slowest time to targets: 17.5 min; sustained env steps/s:
    260` -- the slowest seed's time (any seed that never met them: its whole run) and its rate."""
    passed = sum(r.passed for r in results)
    times = [r.first_pass.minutes if r.first_pass else r.minutes for r in results]
    rates = [r.steps_per_second for r in results]
    return (
        f"seeds meeting targets: {passed}/{len(results)}; "
        f"slowest time to targets: {max(times, default=0.0):.1f} min; "
        f"sustained env steps/s: {min(rates, default=0.0):.0f}"
    )


def learning_curve(trial_dir: Path) -> dict[str, np.ndarray]:
    """Per iteration: env steps, minutes, mean return and route completion (of the last
    episodes), from the trial's progress.csv (of dqn_train.py or the generic trainer)."""
    with (Path(trial_dir) / "progress.csv").open() as handle:
        rows = list(csv.DictReader(handle))

    def column(name: str, scale: float = 1.0) -> np.ndarray:
        return np.array([float(r.get(name) or "nan") * scale for r in rows], dtype=np.float64)

    # The DQN callbacks' metric, else the generic trainer's (from info["env"]).
    route = "env_runners/route_completion"
    if not any(r.get(route) for r in rows):
        route = "env_runners/env/route_completion"
    return {
        "env steps": column("num_env_steps_sampled_lifetime"),
        "minutes": column("time_total_s", 1.0 / 60.0),
        "return": column("env_runners/episode_return_mean"),
        "route completion": column(route),
    }


COLOURS = ((200, 80, 0), (0, 140, 0), (0, 0, 200), (160, 0, 160), (0, 140, 180), (90, 90, 90))


def plot_curves(curves: dict[int, dict[str, np.ndarray]], path: Path) -> None:
    """A 2 x 2 PNG: route completion and return (rows) over env steps and minutes (columns),
    one line per seed (drawn with OpenCV: no plotting library needed)."""
    import cv2

    width, height, margin = 560, 300, 60
    image = np.full((2 * height, 2 * width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for row, metric in enumerate(("route completion", "return")):
        for col, axis in enumerate(("env steps", "minutes")):
            left, top = col * width, row * height
            x0, y0, x1, y1 = left + margin, top + 40, left + width - 20, top + height - 40
            cv2.putText(image, f"{metric} over {axis}", (x0, top + 25), font, 0.55, 0, 1)
            cv2.rectangle(image, (x0, y0), (x1, y1), (200, 200, 200), 1)
            series = [
                (seed, c[axis], c[metric])
                for seed, c in curves.items()
                if (np.isfinite(c[axis]) & np.isfinite(c[metric])).sum() >= 2
            ]
            if not series:
                continue
            xs_all = np.concatenate([x[np.isfinite(x)] for _, x, _ in series])
            ys_all = np.concatenate([y[np.isfinite(y)] for _, _, y in series])
            x_hi = max(float(xs_all.max()), 1e-9)
            y_lo, y_hi = float(ys_all.min()), float(ys_all.max())
            y_hi = y_hi if y_hi > y_lo else y_lo + 1.0
            for index, (seed, xs, ys) in enumerate(series):
                ok = np.isfinite(xs) & np.isfinite(ys)
                px = x0 + xs[ok] / x_hi * (x1 - x0)
                py = y1 - (ys[ok] - y_lo) / (y_hi - y_lo) * (y1 - y0)
                colour = COLOURS[index % len(COLOURS)]
                points = np.stack([px, py], axis=1).astype(np.int32)
                cv2.polylines(image, [points], False, colour, 2)
                cv2.putText(
                    image, f"seed {seed}", (x1 - 70, y0 + 15 + 15 * index), font, 0.4, colour, 1
                )
            for value, y in ((y_hi, y0), (y_lo, y1)):
                cv2.putText(image, f"{value:.2f}", (left + 5, y + 5), font, 0.4, 0, 1)
            label = f"{axis} 0 .. {x_hi:,.0f}" if axis == "env steps" else f"{axis} 0 .. {x_hi:.1f}"
            cv2.putText(image, label, (x0, y1 + 25), font, 0.45, 0, 1)
    cv2.imwrite(str(path), image)
