"""A planned route as plain data: dense points with headings and road options.

Picklable and free of carla objects, so a route can travel inside RLlib configs and infos; built
from a planner's trace (``Route.from_trace``) and read by the tracker and the bird's-eye view.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .options import TURNS, RoadOption


@dataclass(frozen=True, eq=False)
class Route:
    positions: np.ndarray  # (N, 3) x, y, z in CARLA's frame, metres
    yaws: np.ndarray  # (N,) heading of the lane at each point, degrees
    options: tuple[RoadOption, ...]  # (N,) what the route asks at each point
    junction_ids: np.ndarray  # (N,) int: id of the junction the point lies in, -1 outside
    town: str = ""
    route_id: str = ""

    def __post_init__(self) -> None:
        n = len(self.positions)
        if n < 2 or self.positions.shape != (n, 3):
            raise ValueError(
                f"a route needs at least 2 points of (x, y, z), got {self.positions.shape}"
            )
        if self.yaws.shape != (n,) or len(self.options) != n or self.junction_ids.shape != (n,):
            raise ValueError("route positions, yaws, options and junction flags differ in length")

    @classmethod
    def from_trace(
        cls, trace: Sequence[tuple[Any, RoadOption]], town: str = "", route_id: str = ""
    ) -> Route:
        """From ``[(carla.Waypoint or carla.Transform, RoadOption), ...]``."""
        positions, yaws, junctions = [], [], []
        for item, _ in trace:
            transform = getattr(item, "transform", item)
            loc = transform.location
            positions.append((loc.x, loc.y, loc.z))
            yaws.append(transform.rotation.yaw)
            junctions.append(item.junction_id if getattr(item, "is_junction", False) else -1)
        return cls(
            np.asarray(positions, dtype=np.float64),
            np.asarray(yaws, dtype=np.float64),
            tuple(RoadOption(option) for _, option in trace),
            np.asarray(junctions, dtype=np.int64),
            town,
            route_id,
        )

    def __len__(self) -> int:
        return len(self.positions)

    @functools.cached_property
    def cumulative(self) -> np.ndarray:
        """(N,) distance along the route from its first point to each point, metres."""
        steps = np.linalg.norm(np.diff(self.positions, axis=0), axis=1)
        return np.concatenate(([0.0], np.cumsum(steps)))

    @property
    def length(self) -> float:
        return float(self.cumulative[-1])

    @functools.cached_property
    def forward(self) -> np.ndarray:
        """(N, 2) unit heading of each point in the ground plane."""
        yaw = np.radians(self.yaws)
        return np.stack((np.cos(yaw), np.sin(yaw)), axis=1)

    def decisions(self) -> list[RoadOption]:
        """What the route does at each junction where it has a choice, and each lane change, in
        order: e.g. ``[LEFT, STRAIGHT, CHANGELANERIGHT]``."""
        result: list[RoadOption] = []
        previous = (RoadOption.VOID, -1)
        for option, junction in zip(self.options, self.junction_ids, strict=True):
            if (option, junction) != previous and (
                option in TURNS or option >= RoadOption.CHANGELANELEFT
            ):
                result.append(option)
            previous = (option, junction)
        return result

    def keypoints(self, spacing: float = 100.0) -> list[tuple[float, float, float, float]]:
        """Sparse (x, y, z, yaw) points that pin this route down: its ends, the middle of every
        stretch between junctions and a point every ``spacing`` metres on long stretches. Planning
        the shortest route through them gives this route back (route files store these)."""
        chosen = {0, len(self) - 1}
        for first, last in runs(self.junction_ids < 0):
            s = self.cumulative[first : last + 1]
            marks = np.arange(s[0] + spacing / 2.0, s[-1], spacing)
            if not len(marks):
                marks = np.array([(s[0] + s[-1]) / 2.0])
            chosen.update(first + int(np.searchsorted(s, mark)) for mark in marks)
        points = []
        for i in sorted(chosen):
            x, y, z = (float(v) for v in self.positions[i])
            points.append((x, y, z, float(self.yaws[i])))
        return points


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True in ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
