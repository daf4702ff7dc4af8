"""Greedy evaluation episodes, shared by both inference scripts and the benchmark (no Ray).

`run_episodes` drives any gymnasium env with a policy function, resets after every episode
(the original's loops ignored `done`), collects the experiment's per-episode metrics and can
write the newest bird's-eye frame of each step to an MP4 video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from rllib_integration.video import VideoWriter as LibraryVideoWriter

Policy = Callable[[np.ndarray], int]


@dataclass
class EpisodeReport:
    episode: int
    steps: int
    episode_return: float
    end: str  # 'time_limit' | 'collision' | 'off_road' | 'idle' | 'falling' | ...
    completed: bool  # drove until the time limit
    distance: float  # metres
    mean_speed: float  # km/h
    collisions: int
    lane_invasions: int
    off_road_time: float  # seconds
    route_completion: float  # 0..1


def report_from(index: int, steps: int, episode_return: float, info: dict) -> EpisodeReport:
    return EpisodeReport(
        episode=index,
        steps=steps,
        episode_return=float(episode_return),
        end=str(info.get("end_reason", "unknown")),
        completed=bool(info.get("completed", False)),
        distance=float(info.get("distance", 0.0)),
        mean_speed=float(info.get("mean_speed", 0.0)),
        collisions=int(info.get("collisions", 0)),
        lane_invasions=int(info.get("lane_invasions", 0)),
        off_road_time=float(info.get("off_road_time", 0.0)),
        route_completion=float(info.get("route_completion", 0.0)),
    )


class VideoWriter(LibraryVideoWriter):
    """MP4 of the newest bird's-eye frame (the last `frame_channels` channels of the stack)."""

    def __init__(self, path: Path, fps: float, frame_channels: int = 3) -> None:
        super().__init__(path, fps)
        self.frame_channels = frame_channels

    def add(self, observation: np.ndarray) -> None:
        super().add(observation[..., -self.frame_channels :])


@contextmanager
def optional_video(path: Path | None, fps: float, frame_channels: int) -> Iterator[Any]:
    writer = VideoWriter(path, fps, frame_channels) if path else None
    try:
        yield writer
    finally:
        if writer is not None:
            writer.close()


def run_episodes(
    env: Any,
    policy: Policy,
    episodes: int,
    video: Path | None = None,
    fps: float = 20.0,
    frame_channels: int = 3,
    seed: int | None = None,
    stream: TextIO | None = None,
    spread_spawn_points: bool = False,
) -> list[EpisodeReport]:
    """Run `episodes` episodes; with `spread_spawn_points`, episode i starts at spawn point
    i * N / episodes of the N the env offers (every part of the map and both directions get
    tested, no start twice when N >= episodes), else wherever the env puts the hero."""
    reports = []
    spawn_points = 0  # unknown until the first reset, whose spread position is 0 anyway
    with optional_video(video, fps, frame_channels) as writer:
        for index in range(1, episodes + 1):
            options = None
            if spread_spawn_points:
                options = {"spawn_point": (index - 1) * spawn_points // episodes}
            observation, info = env.reset(
                seed=None if seed is None else seed + index, options=options
            )
            spawn_points = int(info["env"]["spawn_points"])
            steps, episode_return, done = 0, 0.0, False
            while not done:
                if writer is not None:
                    writer.add(observation)
                observation, reward, terminated, truncated, info = env.step(policy(observation))
                steps += 1
                episode_return += float(reward)
                done = terminated or truncated
            report = report_from(index, steps, episode_return, info)
            reports.append(report)
            if stream is not None:
                print(format_row(report), file=stream, flush=True)
    return reports


HEADER = (
    f"{'ep':>3} {'steps':>6} {'return':>8} {'end':>11} {'dist m':>8} {'km/h':>6} "
    f"{'coll':>4} {'lane':>4} {'offrd s':>7} {'route':>6}"
)


def format_row(r: EpisodeReport) -> str:
    return (
        f"{r.episode:>3} {r.steps:>6} {r.episode_return:>8.1f} {r.end:>11} {r.distance:>8.1f} "
        f"{r.mean_speed:>6.1f} {r.collisions:>4} {r.lane_invasions:>4} {r.off_road_time:>7.2f} "
        f"{r.route_completion:>6.0%}"
    )


def summary(reports: list[EpisodeReport]) -> dict[str, float]:
    n = max(len(reports), 1)
    failures = sum(r.end in ("collision", "off_road") for r in reports)
    return {
        "episodes": len(reports),
        "completion_rate": sum(r.completed for r in reports) / n,
        "collision_or_off_road_rate": failures / n,
        "mean_speed_kmh": float(np.mean([r.mean_speed for r in reports])) if reports else 0.0,
        "mean_return": float(np.mean([r.episode_return for r in reports])) if reports else 0.0,
        "mean_route_completion": float(np.mean([r.route_completion for r in reports]))
        if reports
        else 0.0,
    }


def format_summary(stats: dict[str, float]) -> str:
    return (
        f"{stats['episodes']} episodes | completed {stats['completion_rate']:.0%} | "
        f"collision/off-road {stats['collision_or_off_road_rate']:.0%} | "
        f"mean speed {stats['mean_speed_kmh']:.1f} km/h | mean return {stats['mean_return']:.1f} | "
        f"route completion {stats['mean_route_completion']:.0%}"
    )
