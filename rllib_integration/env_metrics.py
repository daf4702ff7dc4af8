"""EnvMetrics: what the env itself measures of an episode, reported as `info["env"]`.

These are the env's own counts, whatever the experiment computes: the experiment's `info` keys
are its own, and the env never writes over them (its keys all live under "env").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rllib_integration.sim_view import SimulatorView

COLLISION = "sensor.other.collision"
LANE_INVASION = "sensor.other.lane_invasion"


class EnvMetrics:
    """town, distance (m, planar, since the reset), time (s of simulated time since the reset),
    speed (m/s, now), mean_speed (m/s, distance / time), collisions and lane_invasions (events
    of the hero's sensors of those types, if it has any), server_restarts."""

    def __init__(self, sensors: Mapping[str, Mapping[str, Any]]):
        # Event sensors are counted by their configured type, not by the class that reads them.
        self._collision = {name for name, s in sensors.items() if s.get("type") == COLLISION}
        self._invasion = {name for name, s in sensors.items() if s.get("type") == LANE_INVASION}
        self._values: dict[str, Any] = {}
        self._previous = (0.0, 0.0)
        self._start_frame = 0  # the frame of the reset

    def start(self, view: SimulatorView, town: str, server_restarts: int) -> None:
        location = view.hero.get_location()
        self._previous = (location.x, location.y)
        self._start_frame = view.frame
        self._values = {
            "town": town,
            "distance": 0.0,
            "time": 0.0,
            "speed": 0.0,
            "mean_speed": 0.0,
            "collisions": 0,
            "lane_invasions": 0,
            "server_restarts": server_restarts,
        }

    def update(self, view: SimulatorView, sensor_data: Mapping[str, tuple[int, Any]]) -> None:
        hero = view.hero
        location = hero.get_location()
        here = (location.x, location.y)
        self._values["distance"] += math.dist(here, self._previous)
        self._previous = here
        self._values["time"] += view.timestep
        self._values["mean_speed"] = self._values["distance"] / self._values["time"]
        velocity = hero.get_velocity()
        self._values["speed"] = math.sqrt(velocity.x**2 + velocity.y**2 + velocity.z**2)
        for name, (_, events) in sensor_data.items():
            if name in self._collision:
                self._values["collisions"] += len(events)
            elif name in self._invasion:
                self._values["lane_invasions"] += len(events)

    def report(
        self,
        view: SimulatorView,
        sensor_data: Mapping[str, tuple[int, Any]],
        route_completion: float | None = None,
        stepped: bool = True,
    ) -> dict[str, Any]:
        """Update with this frame (unless it is the reset's, `stepped=False`) and return
        `info["env"]`: the metrics, and the experiment's route completion if it reports one."""
        if stepped:
            self.update(view, sensor_data)
        env_info = self.snapshot()
        if route_completion is not None:
            env_info["route_completion"] = float(route_completion)
        return env_info

    def time_up(self, view: SimulatorView, limit: float | None) -> bool:
        """True once the episode has run `limit` simulated seconds (never for None)."""
        elapsed = (view.frame - self._start_frame) * view.timestep
        return limit is not None and elapsed >= float(limit) - 1e-9

    def snapshot(self) -> dict[str, Any]:
        return dict(self._values)
