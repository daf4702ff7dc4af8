"""The map's lanes as a directed graph, built from ``carla.Map.get_topology()``.

Each node is a *lane segment*: one lane of one lane section of one road (CARLA's topology pairs
link the start of a segment to the start of each segment that follows it). Edges lead to the
segments one can drive into next: the successors, and on roads that allow it the neighbouring lane
of the same direction (a lane change). Edge weights are the length of road that taking the edge
adds, so the shortest path is the shortest drive.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import carla
import networkx as nx
import numpy as np

LaneKey = tuple[int, int, int]  # (road_id, section_id, lane_id)

FOLLOW, CHANGE_LEFT, CHANGE_RIGHT = "follow", "change_left", "change_right"
# Extra cost of a lane change, in metres of road, so routes do not change lanes for nothing.
LANE_CHANGE_COST = 5.0
# Shortest lane section on which a lane change is planned, metres.
MIN_LANE_CHANGE_LENGTH = 20.0


_AT_END = 0.05  # metres


def lane_key(waypoint: carla.Waypoint) -> LaneKey:
    return (waypoint.road_id, waypoint.section_id, waypoint.lane_id)


@dataclass
class LaneSegment:
    """One lane section, sampled every ``resolution`` metres in the driving direction."""

    key: LaneKey
    waypoints: list[carla.Waypoint]
    offsets: np.ndarray  # (M,) distance of each waypoint from the segment's start
    length: float  # to the start of the next segment
    junction: bool
    end: tuple[float, float] | None  # (x, y) where the next segment starts, if any
    xy: np.ndarray = field(init=False, repr=False)  # (M, 2) for nearest-point queries

    def __post_init__(self) -> None:
        self.xy = np.array(
            [(w.transform.location.x, w.transform.location.y) for w in self.waypoints]
        )

    def nearest_index(self, x: float, y: float) -> int:
        return int(np.argmin(np.sum((self.xy - (x, y)) ** 2, axis=1)))

    def index_at(self, offset: float) -> int:
        """The last waypoint at or before ``offset`` metres along the segment."""
        return max(0, int(np.searchsorted(self.offsets, offset + 1e-6)) - 1)


class LaneGraph:
    """Lane segments of a map and the networkx graph of how they connect."""

    def __init__(self, carla_map: carla.Map, resolution: float = 1.0) -> None:
        if resolution <= 0:
            raise ValueError(f"resolution must be positive, got {resolution}")
        self.map = carla_map
        self.resolution = resolution
        self.graph: nx.DiGraph[LaneKey] = nx.DiGraph()
        self.segments: dict[LaneKey, LaneSegment] = {}
        pairs = carla_map.get_topology()
        if not pairs:
            raise ValueError(f"map {carla_map.name!r} has no driving lanes (empty topology)")
        successor_start: dict[LaneKey, carla.Location] = {}
        starts: dict[LaneKey, carla.Waypoint] = {}
        for entry, exit_ in pairs:
            starts.setdefault(lane_key(entry), entry)
            starts.setdefault(lane_key(exit_), exit_)
            successor_start.setdefault(lane_key(entry), exit_.transform.location)
        for key, start in starts.items():
            self.segments[key] = self._sample(start, successor_start.get(key))
            self.graph.add_node(key)
        for entry, exit_ in pairs:
            a, b = lane_key(entry), lane_key(exit_)
            if a != b:
                self.graph.add_edge(a, b, kind=FOLLOW, weight=self.segments[b].length)
        for segment in self.segments.values():
            self._add_lane_changes(segment)

    def _sample(self, start: carla.Waypoint, successor: carla.Location | None) -> LaneSegment:
        key = lane_key(start)
        waypoints = [start]
        while True:
            ahead = [w for w in waypoints[-1].next(self.resolution) if lane_key(w) == key]
            if not ahead or len(waypoints) > 100000:
                break
            waypoints.append(ahead[0])
        locations = [w.transform.location for w in waypoints]
        steps = [a.distance(b) for a, b in itertools.pairwise(locations)]
        offsets = np.concatenate(([0.0], np.cumsum(steps)))
        tail = locations[-1].distance(successor) if successor is not None else 0.0
        end = (successor.x, successor.y) if successor is not None else None
        return LaneSegment(
            key, waypoints, offsets, float(offsets[-1] + tail), start.is_junction, end
        )

    def _add_lane_changes(self, segment: LaneSegment) -> None:
        if segment.junction or segment.length < MIN_LANE_CHANGE_LENGTH:
            return
        middle = segment.waypoints[len(segment.waypoints) // 2]
        for kind, permit, neighbour in (
            (CHANGE_LEFT, carla.LaneChange.Left, middle.get_left_lane()),
            (CHANGE_RIGHT, carla.LaneChange.Right, middle.get_right_lane()),
        ):
            if (
                neighbour is None
                or neighbour.lane_type != carla.LaneType.Driving
                or neighbour.lane_id * middle.lane_id <= 0  # the other direction
                or not (middle.lane_change & permit)
                or lane_key(neighbour) not in self.segments
            ):
                continue
            self.graph.add_edge(
                segment.key, lane_key(neighbour), kind=kind, weight=LANE_CHANGE_COST
            )

    def locate(self, location: carla.Location) -> tuple[LaneKey, float]:
        """The driving lane segment nearest ``location`` and the offset along it, metres."""
        waypoint = self.map.get_waypoint(
            location, project_to_road=True, lane_type=carla.LaneType.Driving
        )
        if waypoint is None or lane_key(waypoint) not in self.segments:
            raise ValueError(
                f"no driving lane near ({location.x:.1f}, {location.y:.1f}, {location.z:.1f}) "
                f"on map {self.map.name!r}"
            )
        segment = self.segments[lane_key(waypoint)]
        here = waypoint.transform.location
        ahead = self.successors(segment.key)
        if segment.end and len(ahead) == 1 and math.dist(segment.end, (here.x, here.y)) < _AT_END:
            return ahead[0], 0.0  # at a lane's very end: where it goes on, not where it ends
        return segment.key, float(segment.offsets[segment.nearest_index(here.x, here.y)])

    def kind(self, a: LaneKey, b: LaneKey) -> str:
        return self.graph.edges[a, b]["kind"]

    def successors(self, key: LaneKey, kinds: tuple[str, ...] = (FOLLOW,)) -> list[LaneKey]:
        return [b for b in self.graph.successors(key) if self.graph.edges[key, b]["kind"] in kinds]

    def choices_after(self, key: LaneKey) -> int:
        """How many ways lead on from the end of this segment (a junction decision if > 1)."""
        return len(self.successors(key))
