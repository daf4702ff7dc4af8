"""Greedy evaluation episodes of any experiment: one report per episode, a summary, a video.

`run_episodes` drives any gymnasium env with a policy function, resets after every episode and
reads what the env itself measured (`info["env"]`: distance, mean speed, collisions, lane
invasions, route completion, how the episode ended), so the figures are right whatever the
experiment puts in its own info; an experiment's `end_reason` (a string) names the end more
precisely when it gives one. With `video`, every frame of `env.render()` goes into an MP4 (the
env must be made with `render_mode="rgb_array"`). Ray-free: the Ray-free inference uses it too.
`run_agent_episodes` does the same with a multi-agent env: each agent's episode is one report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from rllib_integration.video import VideoWriter

Policy = Callable[[Any], Any]
ENV_KEY = "env"  # CarlaEnv's own metrics in info (carla_env.ENV_INFO_KEY)


@dataclass
class EpisodeReport:
    episode: int
    steps: int
    episode_return: float
    end: str  # the experiment's end_reason, else terminated | truncated | simulator_failure
    truncated: bool  # ended by a limit (e.g. time), not by the task's failure
    distance: float  # metres
    mean_speed: float  # km/h
    collisions: int
    lane_invasions: int
    route_completion: float | None  # 0..1, for experiments that report one
    agent: str = ""  # the agent, in a multi-agent env
    # The experiment's own numeric info at the episode's end (its keys, not the env's), for
    # what only that experiment measures (e.g. the DQN example's lane_centre_distance).
    experiment: dict[str, float] = field(default_factory=dict)


def report_from(
    index: int,
    steps: int,
    episode_return: float,
    info: dict,
    terminated: bool,
    truncated: bool,
    agent: str = "",
) -> EpisodeReport:
    env = info.get(ENV_KEY) or {}
    own_end = info.get("end_reason")
    end = env.get("end") or ("terminated" if terminated else "truncated")
    route = env.get("route_completion")
    return EpisodeReport(
        episode=index,
        steps=steps,
        episode_return=float(episode_return),
        end=own_end if isinstance(own_end, str) else str(end),
        truncated=bool(truncated) and not env.get("simulator_failure", False),
        distance=float(env.get("distance", 0.0)),
        mean_speed=3.6 * float(env.get("mean_speed", 0.0)),
        collisions=int(env.get("collisions", 0)),
        lane_invasions=int(env.get("lane_invasions", 0)),
        route_completion=None if route is None else float(route),
        agent=agent,
        experiment={
            key: float(value)
            for key, value in info.items()
            if key != ENV_KEY and isinstance(value, (int, float))
        },
    )


@contextmanager
def optional_video(path: Path | None, fps: float) -> Iterator[VideoWriter | None]:
    writer = VideoWriter(path, fps) if path else None
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
    seed: int | None = None,
    stream: TextIO | None = None,
    spread_spawn_points: bool = False,
    stop: Callable[[EpisodeReport], bool] | None = None,
) -> list[EpisodeReport]:
    """Run `episodes` episodes; with `spread_spawn_points`, episode i starts at spawn point
    i * N / episodes of the N the env offers (every part of the map and both directions get
    tested, no start twice when N >= episodes), else wherever the env puts the hero. `stop`
    sees each episode's report and ends the run early by returning True."""
    reports = []
    spawn_points = 0  # unknown until the first reset, whose spread position is 0 anyway
    fps = float(getattr(env, "metadata", {}).get("render_fps") or 20.0)
    with optional_video(video, fps) as writer:
        for index in range(1, episodes + 1):
            options = None
            if spread_spawn_points:
                options = {"spawn_point": (index - 1) * spawn_points // episodes}
            observation, info = env.reset(
                seed=None if seed is None else seed + index, options=options
            )
            spawn_points = int(info.get(ENV_KEY, {}).get("spawn_points", 0))
            steps, episode_return, terminated, truncated = 0, 0.0, False, False
            while not (terminated or truncated):
                if writer is not None:
                    writer.add(env.render())
                observation, reward, terminated, truncated, info = env.step(policy(observation))
                steps += 1
                episode_return += float(reward)
            report = report_from(index, steps, episode_return, info, terminated, truncated)
            reports.append(report)
            if stream is not None:
                print(format_row(report), file=stream, flush=True)
            if stop is not None and stop(report):
                break
    return reports


def run_agent_episodes(
    env: Any,
    policies: Mapping[str, Policy],
    episodes: int,
    video: Path | None = None,
    seed: int | None = None,
    stream: TextIO | None = None,
    spread_spawn_points: bool = False,
) -> list[EpisodeReport]:
    """Run a multi-agent env (`policies`: agent id -> its policy) until `episodes` agent
    episodes have ended (every agent of an env episode counts, so the last env episode may end
    more). With `spread_spawn_points` the agent episodes start at spawn points spread evenly
    over the map, as in `run_episodes`."""
    agents = list(env.possible_agents)
    rounds = -(-episodes // len(agents))  # env episodes
    reports: list[EpisodeReport] = []
    spawn_points = 0
    fps = float(getattr(env, "metadata", {}).get("render_fps") or 20.0)
    with optional_video(video, fps) as writer:
        for round_index in range(rounds):
            round_seed = None if seed is None else seed + round_index
            options = None
            if spread_spawn_points:
                if not spawn_points:  # how many there are: told by a reset
                    _, infos = env.reset(seed=round_seed)
                    spawn_points = int(infos[agents[0]][ENV_KEY]["spawn_points"])
                total = rounds * len(agents)
                spread = {
                    agent: (round_index * len(agents) + i) * spawn_points // total
                    for i, agent in enumerate(agents)
                }
                options = {"spawn_points": spread}
            observations, _ = env.reset(seed=round_seed, options=options)
            steps = dict.fromkeys(agents, 0)
            returns = dict.fromkeys(agents, 0.0)
            while env.agents:
                if writer is not None:
                    writer.add(env.render())
                actions = {agent: policies[agent](observations[agent]) for agent in env.agents}
                observations, rewards, terminateds, truncateds, infos = env.step(actions)
                for agent, reward in rewards.items():
                    steps[agent] += 1
                    returns[agent] += float(reward)
                    if not (terminateds[agent] or truncateds[agent]):
                        continue
                    report = report_from(
                        len(reports) + 1,
                        steps[agent],
                        returns[agent],
                        infos[agent],
                        terminateds[agent],
                        truncateds[agent],
                        agent,
                    )
                    reports.append(report)
                    if stream is not None:
                        print(format_row(report), file=stream, flush=True)
    return reports


HEADER = (
    f"{'ep':>3} {'steps':>6} {'return':>8} {'end':>17} {'dist m':>8} {'km/h':>6} "
    f"{'coll':>4} {'lane':>4} {'route':>6}"
)


def format_row(r: EpisodeReport) -> str:
    route = "-" if r.route_completion is None else f"{r.route_completion:.0%}"
    return (
        f"{r.episode:>3} {r.steps:>6} {r.episode_return:>8.1f} {r.end:>17} {r.distance:>8.1f} "
        f"{r.mean_speed:>6.1f} {r.collisions:>4} {r.lane_invasions:>4} {route:>6}"
        + (f" {r.agent}" if r.agent else "")
    )


def summary(reports: list[EpisodeReport]) -> dict[str, float | None]:
    """Means and rates over the episodes; `mean_route_completion` None if none reported one."""
    n = max(len(reports), 1)
    routes = [r.route_completion for r in reports if r.route_completion is not None]

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    return {
        "episodes": len(reports),
        "mean_return": mean([r.episode_return for r in reports]),
        "mean_distance": mean([r.distance for r in reports]),
        "mean_speed_kmh": mean([r.mean_speed for r in reports]),
        "truncated_rate": sum(r.truncated for r in reports) / n,
        "collision_rate": sum(r.collisions > 0 for r in reports) / n,
        "mean_route_completion": mean(routes) if routes else None,
    }


def format_summary(stats: dict[str, Any]) -> str:
    route = stats["mean_route_completion"]
    return (
        f"{stats['episodes']} episodes | mean return {stats['mean_return']:.1f} | "
        f"distance {stats['mean_distance']:.0f} m | mean speed {stats['mean_speed_kmh']:.1f} km/h"
        f" | to the limit (truncated) {stats['truncated_rate']:.0%} | "
        f"with a collision {stats['collision_rate']:.0%} | "
        f"route completion {'-' if route is None else format(route, '.0%')}"
    )
