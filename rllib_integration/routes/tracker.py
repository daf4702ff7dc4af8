"""Route completion, infractions and the Driving Score of a hero on its route, tick by tick.

    tracker = RouteTracker(route, world, hero, carla_map)   # or .from_view(route, view)
    ...                                   # every tick, after world.tick():
    new = tracker.update(collision_events)    # this tick's infractions
    info["route"] = tracker.result()
    if tracker.done: ...                  # completed, deviated, blocked or timed out

Reads only the ``carla`` client API (the hero's transform and velocity, the world's snapshot, its
traffic lights and stop signs), so it scores the same on the embedded server and on CarlaUE4.
Collision events come from a collision sensor the caller owns: the library's parsed events
(``sensor_data["collision"]``) or raw ``carla.CollisionEvent``s.

Rules (the CARLA leaderboard's, see ``score.py``): completion grows as the hero passes route
points, only while it is on the route's lanes (inside a driving or parking lane, not against the
route's direction outside junctions); collisions, red lights and stop signs multiply the penalty;
the route ends when completed, when the hero is more than ``deviation`` metres from it, when it
makes no progress for ``blocked_time`` seconds (the leaderboard: below 0.1 m/s for 180 s) or
after ``timeout`` seconds.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import carla
import numpy as np

from rllib_integration.defaults import ROUTE_DEFAULTS

from .collisions import CollisionCounter
from .progress import RouteProgress
from .route import Route
from .score import (
    COMPLETED,
    END_REASONS,
    INFRACTION_KINDS,
    OUTSIDE_LANES,
    Infraction,
    infraction_penalty,
)
from .signals import RedLightMonitor, StopSignMonitor

if TYPE_CHECKING:
    from rllib_integration.sim_view import SimulatorView

_ON_ROAD = carla.LaneType.Driving | carla.LaneType.Parking
SPEED_MEMORY = 1.0  # s
_WRONG_WAY = math.cos(math.radians(120.0))  # lane heading this far from the route's: wrong way


@dataclass
class TrackerSettings:
    """When a route ends; the defaults and their meaning: ``defaults.ROUTE_DEFAULTS``."""

    deviation: float = ROUTE_DEFAULTS["deviation"]
    blocked_time: float = ROUTE_DEFAULTS["blocked_time"]
    timeout: float | None = ROUTE_DEFAULTS["timeout"]
    timeout_speed: float = ROUTE_DEFAULTS["timeout_speed"]
    timeout_margin: float = ROUTE_DEFAULTS["timeout_margin"]
    lane_margin: float = ROUTE_DEFAULTS["lane_margin"]

    def route_timeout(self, length: float) -> float:
        if self.timeout is not None:
            return self.timeout
        return self.timeout_margin + length / self.timeout_speed


class RouteTracker:
    def __init__(
        self,
        route: Route,
        world: carla.World,
        hero: carla.Actor,
        carla_map: carla.Map | None = None,
        settings: TrackerSettings | None = None,
    ) -> None:
        self.route = route
        self.world = world
        self.hero = hero
        self.map = carla_map if carla_map is not None else world.get_map()
        self.settings = settings or TrackerSettings()
        self.timeout = self.settings.route_timeout(route.length)
        self.progress = RouteProgress(route)
        self.infractions: list[Infraction] = []
        self.end_reason: str | None = None
        self._collisions = CollisionCounter()
        self._red_lights = RedLightMonitor(world)
        self._stop_signs = StopSignMonitor(world, self.map)
        self._start = world.get_snapshot().timestamp.elapsed_seconds
        self._elapsed = 0.0
        self._last_progress = 0.0
        self._last_xy: np.ndarray | None = None
        self._speeds: collections.deque[tuple[float, float]] = collections.deque()

    @classmethod
    def from_view(
        cls, route: Route, view: SimulatorView, settings: TrackerSettings | None = None
    ) -> RouteTracker:
        """A tracker for the hero of a running env (an experiment's ``SimulatorView``)."""
        return cls(route, view.world, view.hero, view.map, settings)

    @property
    def done(self) -> bool:
        return self.end_reason is not None

    def update(self, collisions: Iterable[Any] = ()) -> list[Infraction]:
        """Advance by one tick (call once after each ``world.tick()``); return the infractions
        that happened in it. Does nothing once the route has ended."""
        if self.done:
            return []
        snapshot = self.world.get_snapshot()
        now = self._elapsed = snapshot.timestamp.elapsed_seconds - self._start
        transform = self.hero.get_transform()
        where = transform.location
        xy = np.array([where.x, where.y])
        yaw = math.radians(transform.rotation.yaw)
        heading = np.array([math.cos(yaw), math.sin(yaw)])
        speed = self.hero.get_velocity().length()

        if self.progress.advance(where.x, where.y, self._on_route_lanes(where)) > 0.0:
            self._last_progress = now
        new: list[Infraction] = []

        def record(kind: str, message: str) -> None:
            x, y, z = (round(where.x, 3), round(where.y, 3), round(where.z, 3))
            message = f"{message} at (x={x}, y={y}, z={z})"  # the leaderboard's wording
            new.append(Infraction(kind, snapshot.frame, now, (x, y, z), message))

        moving = self._recent_speed(now, speed)
        for kind, type_id, actor_id in self._collisions.count(collisions, now, tuple(xy), moving):
            record(kind, f"Agent collided against object with type={type_id} and id={actor_id}")
        if self._last_xy is not None:
            for light in self._red_lights.run(self._last_xy, xy):
                record("red_light", f"Agent ran a red light {light.id}")
        for sign in self._stop_signs.update(xy, heading, speed):
            record("stop_infraction", f"Agent ran a stop with id={sign.id}")

        self.end_reason = self._end_reason(where, now)
        ending = END_REASONS.get(self.end_reason or "")
        if ending is not None:
            record(*ending)
        self._last_xy = xy
        self.infractions.extend(new)
        return new

    def _recent_speed(self, now: float, speed: float) -> float:
        """The hero's top speed over the last ``SPEED_MEMORY`` s: a crash stops it within a tick,
        and a sensor may report the contact a tick late."""
        self._speeds.append((now, speed))
        while self._speeds[0][0] < now - SPEED_MEMORY:
            self._speeds.popleft()
        return max(v for _, v in self._speeds)

    def _on_route_lanes(self, where: carla.Location) -> bool:
        lane = self.map.get_waypoint(where, project_to_road=True, lane_type=_ON_ROAD)
        if lane is None:
            return False
        centre = lane.transform.location
        if math.hypot(where.x - centre.x, where.y - centre.y) > lane.lane_width / 2 + (
            self.settings.lane_margin
        ):
            return False
        if lane.is_junction:
            return True
        yaw = math.radians(lane.transform.rotation.yaw)
        along = float(np.dot((math.cos(yaw), math.sin(yaw)), self.progress.heading()))
        return along > _WRONG_WAY

    def _end_reason(self, where: carla.Location, now: float) -> str | None:
        if self.progress.finished:
            return COMPLETED
        if self.progress.distance_to_route(where.x, where.y) > self.settings.deviation:
            return "route_deviation"
        if now - self._last_progress > self.settings.blocked_time:
            return "blocked"
        if now > self.timeout:
            return "timeout"
        return None

    def counts(self) -> dict[str, int]:
        """Infractions so far by kind (every kind present, zeros included)."""
        counts = dict.fromkeys(INFRACTION_KINDS, 0)
        for infraction in self.infractions:
            counts[infraction.kind] += 1
        counts[OUTSIDE_LANES] = int(self.progress.outside > 0.0)
        return counts

    def result(self) -> dict[str, Any]:
        """The route so far as plain data, ready for ``info["route"]``: completion and driving
        score (0..1), the penalty factor, infraction counts by kind, why it ended (or None)."""
        counts = self.counts()
        completion = self.progress.completion
        penalty = infraction_penalty(counts)
        return {
            "route_id": self.route.route_id,
            "town": self.route.town,
            "completion": completion,
            "penalty": penalty,
            "driving_score": completion * penalty,
            "infractions": counts,
            "outside_lanes_m": self.progress.outside,
            "route_length": self.route.length,
            "passed_m": self.progress.passed,
            "duration": self._elapsed,
            "end_reason": self.end_reason,
        }
