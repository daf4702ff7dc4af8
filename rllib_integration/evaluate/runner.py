"""Run every route of a route file once with one policy, and score each like the leaderboard."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.core.carla_core import SetupError
from rllib_integration.routes.files import RouteSpec
from rllib_integration.routes.planner import RoutePlanner
from rllib_integration.routes.results import route_record
from rllib_integration.video import VideoWriter

from .agents import Policy


class VideoError(ValueError):
    """--video without anything to film."""


@dataclass
class RouteRunner:
    env: CarlaEnv
    policy: Policy
    autopilot: bool = False
    video_dir: Path | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        self._planners: dict[str, RoutePlanner] = {}
        self._started = False

    def run(
        self, specs: Sequence[RouteSpec], report: Callable[[dict], None] | None = None
    ) -> list[dict[str, Any]]:
        """A leaderboard record per route, in order; ``report`` sees each as it is done."""
        records = []
        for index, spec in enumerate(specs):
            record = self.run_route(index, spec)
            records.append(record)
            if report is not None:
                report(record)
        return records

    def run_route(self, index: int, spec: RouteSpec) -> dict[str, Any]:
        started = time.monotonic()
        try:
            route = self._planner(spec.town).plan(spec)
            observation, info = self._reset(
                {"route": route, "autopilot": self.autopilot, "until_route_ends": True}
            )
        except (ValueError, SetupError) as error:  # no route there, or its start is taken
            return _not_run(index, spec, f"Route could not be set up: {error}")
        writer = self._video(spec)
        failure = None
        try:
            while True:
                if writer is not None:
                    writer.add(self._frame())
                observation, _, terminated, truncated, info = self.env.step(
                    self.policy(observation)
                )
                if info["env"].get("simulator_failure"):
                    failure = "Simulation crashed"
                    break
                if terminated or truncated:  # only the route ends it (until_route_ends)
                    break
        finally:
            if writer is not None:
                writer.close()
        tracker = self.env.route_tracker
        assert tracker is not None  # the episode was reset with a route
        return route_record(
            index,
            spec.route_id,
            tracker.result(),
            tracker.infractions,
            time.monotonic() - started,
            failure,
        )

    def _reset(self, options: dict) -> tuple[Any, dict]:
        seed = self.seed if not self._started else None
        self._started = True
        return self.env.reset(seed=seed, options=options)

    def _planner(self, town: str) -> RoutePlanner:
        if not self._started or self.env.core.map_name != town:
            self._reset({"town": town})  # the route is planned on its town's map
        if town not in self._planners:
            self._planners[town] = RoutePlanner(self.env.core.map)
        return self._planners[town]

    def _video(self, spec: RouteSpec) -> VideoWriter | None:
        if self.video_dir is None:
            return None
        fps = 1.0 / self.env.core.config.timestep
        return VideoWriter(self.video_dir / f"RouteScenario_{spec.route_id}.mp4", fps)

    def _frame(self) -> Any:
        frame = self.env.render()
        if frame is None:
            raise VideoError(
                "--video films the hero's bird's-eye view or RGB camera: give it a "
                "sensor.birdview or sensor.camera.rgb (env_config.experiment.hero.sensors)"
            )
        return frame


def _not_run(index: int, spec: RouteSpec, failure: str) -> dict[str, Any]:
    nothing = {
        "completion": 0.0,
        "penalty": 1.0,
        "outside_lanes_m": 0.0,
        "passed_m": 0.0,
        "route_length": 0.0,
        "duration": 0.0,
        "end_reason": None,
    }
    return route_record(index, spec.route_id, nothing, [], 0.0, failure)
