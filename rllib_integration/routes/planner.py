"""Route planning on a map's lane graph: shortest routes, random routes, route sets.

    planner = RoutePlanner(world.get_map())
    trace = planner.trace(start_location, end_location)   # [(carla.Waypoint, RoadOption), ...]
    route = planner.route([a, b, c], town="Grid01")        # plain-data Route through keypoints
    route = planner.random_route(400.0, np.random.default_rng(7))

A trace is the lane centre every ``resolution`` metres (1 m by default, as the leaderboard
interpolates its routes), with the road option of each point: LANEFOLLOW, LEFT / RIGHT / STRAIGHT
through a junction where the lane has a choice, CHANGELANELEFT / CHANGELANERIGHT where it moves
to a neighbouring lane.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import carla
import networkx as nx
import numpy as np

from .files import RouteSpec
from .lane_graph import CHANGE_LEFT, CHANGE_RIGHT, FOLLOW, LaneGraph, LaneKey, LaneSegment
from .options import RoadOption, junction_option
from .route import Route

Trace = list[tuple[carla.Waypoint, RoadOption]]
_CHANGE_OPTION = {
    CHANGE_LEFT: RoadOption.CHANGELANELEFT,
    CHANGE_RIGHT: RoadOption.CHANGELANERIGHT,
}
_SAME_POINT = 0.01  # metres: consecutive trace points closer than this are one point
# Random routes: a new route must start this far from every earlier start of its set, metres.
_MIN_START_SEPARATION = 30.0


@dataclass
class _Leg:
    """A piece of one lane segment that the route drives, [start, end] metres along it."""

    segment: LaneSegment
    start: float
    end: float
    option: RoadOption = RoadOption.LANEFOLLOW  # of its first point (lane changes)


class RoutePlanner:
    def __init__(self, carla_map: carla.Map, resolution: float = 1.0) -> None:
        self.lanes = LaneGraph(carla_map, resolution)

    # ------------------------------------------------------------------ shortest routes

    def trace(self, origin: carla.Location, destination: carla.Location) -> Trace:
        """The shortest drive from ``origin`` to ``destination`` (both snapped to driving lanes)."""
        start_key, start = self.lanes.locate(origin)
        end_key, end = self.lanes.locate(destination)
        path = self._shortest_path(start_key, start, end_key, end, origin, destination)
        return self._trace_path(path, start, end)

    def trace_keypoints(self, keypoints: Sequence[carla.Location]) -> Trace:
        """The shortest drive through ``keypoints`` in order (a route file's waypoints)."""
        if len(keypoints) < 2:
            raise ValueError(f"a route needs at least 2 keypoints, got {len(keypoints)}")
        trace: Trace = []
        for a, b in itertools.pairwise(keypoints):
            piece = self.trace(a, b)
            trace.extend(piece[1:] if trace else piece)
        return trace

    def route(
        self, keypoints: Sequence[carla.Location], town: str = "", route_id: str = ""
    ) -> Route:
        return Route.from_trace(self.trace_keypoints(keypoints), town or self.town, route_id)

    def plan(self, spec: RouteSpec) -> Route:
        """The route a route file describes: the shortest drive through its keypoints."""
        keypoints = [carla.Location(k.x, k.y, k.z) for k in spec.keypoints]
        return self.route(keypoints, spec.town, spec.route_id)

    @property
    def town(self) -> str:
        return self.lanes.map.name.split("/")[-1]

    def _shortest_path(
        self,
        start_key: LaneKey,
        start: float,
        end_key: LaneKey,
        end: float,
        origin: carla.Location,
        destination: carla.Location,
    ) -> list[LaneKey]:
        graph = self.lanes.graph
        if start_key == end_key and end >= start:
            return [start_key]
        try:
            if start_key != end_key:
                return nx.dijkstra_path(graph, start_key, end_key)
            # Destination behind the origin on the same lane: drive round and come back.
            # Without a target the result is the two dicts (the stub does not overload on it).
            distances, paths = cast(
                "tuple[dict[LaneKey, float], dict[LaneKey, list[LaneKey]]]",
                nx.single_source_dijkstra(graph, start_key),
            )
            loops = [
                (distances[p] + graph.edges[p, end_key]["weight"], paths[p] + [end_key])
                for p in graph.predecessors(end_key)
                if p in distances
            ]
            if loops:
                return min(loops)[1]
        except nx.NetworkXNoPath:
            pass
        raise ValueError(
            f"no route on {self.lanes.map.name!r} from ({origin.x:.1f}, {origin.y:.1f}) "
            f"to ({destination.x:.1f}, {destination.y:.1f})"
        )

    # ------------------------------------------------------------------ random routes

    def random_trace(self, length: float, rng: np.random.Generator) -> Trace:
        """A random drive of about ``length`` metres: a random start on a lane outside junctions,
        then a random way at every fork, avoiding lanes already driven while it can. It never
        ends inside a junction (it may run a junction's length over)."""
        if length <= 0:
            raise ValueError(f"route length must be positive, got {length}")
        starts = sorted(k for k, s in self.lanes.segments.items() if not s.junction)
        weights = np.array([self.lanes.segments[k].length for k in starts])
        key = starts[rng.choice(len(starts), p=weights / weights.sum())]
        start = float(rng.uniform(0.0, self.lanes.segments[key].length / 2.0))
        path, visited = [key], {key}
        remaining = length - (self.lanes.segments[key].length - start)
        while remaining > 0 or self.lanes.segments[path[-1]].junction:
            options = sorted(self.lanes.successors(path[-1]))
            if not options:
                break
            fresh = [k for k in options if k not in visited] or options
            key = fresh[rng.integers(len(fresh))]
            path.append(key)
            visited.add(key)
            remaining -= self.lanes.segments[key].length
        last = self.lanes.segments[path[-1]]
        end = last.length if last.junction else last.length + min(remaining, 0.0)
        return self._trace_path(path, start, max(end, start) if len(path) == 1 else end)

    def random_route(self, length: float, rng: np.random.Generator, route_id: str = "") -> Route:
        return Route.from_trace(self.random_trace(length, rng), self.town, route_id)

    def route_set(
        self,
        count: int,
        min_length: float,
        max_length: float,
        seed: int,
        min_turns: int = 1,
        max_attempts: int = 1000,
    ) -> list[Route]:
        """``count`` random routes, the same for the same map and seed: each between
        ``min_length`` and ``max_length`` metres, turning left or right at ``min_turns``
        junctions or more, starting apart from each other. Ids are "0", "1", ..."""
        if not 0 < min_length <= max_length:
            raise ValueError(f"need 0 < min_length <= max_length, got {min_length}, {max_length}")
        rng = np.random.default_rng(seed)
        routes: list[Route] = []
        for _ in range(max_attempts):
            if len(routes) == count:
                return routes
            route = self.random_route(rng.uniform(min_length, max_length), rng, str(len(routes)))
            turns = [d for d in route.decisions() if d in (RoadOption.LEFT, RoadOption.RIGHT)]
            apart = all(
                np.linalg.norm(route.positions[0] - r.positions[0]) >= _MIN_START_SEPARATION
                for r in routes
            )
            if min_length <= route.length <= max_length and len(turns) >= min_turns and apart:
                routes.append(route)
        raise ValueError(
            f"found only {len(routes)} of {count} routes of {min_length:.0f}-{max_length:.0f} m "
            f"with {min_turns}+ turns on {self.lanes.map.name!r} in {max_attempts} attempts"
        )

    # ------------------------------------------------------------------ path -> trace

    def _trace_path(self, path: list[LaneKey], start: float, end: float) -> Trace:
        legs = self._legs(path, start, end)
        points: list[tuple[carla.Waypoint, RoadOption, int]] = []  # (waypoint, option, leg)
        for i, leg in enumerate(legs):
            offsets, waypoints = leg.segment.offsets, leg.segment.waypoints
            picked = [j for j, s in enumerate(offsets) if leg.start - 1e-6 <= s <= leg.end + 1e-6]
            if not picked:  # a leg shorter than the resolution: its nearest point
                picked = [leg.segment.index_at(leg.start)]
            for n, j in enumerate(picked):
                here = waypoints[j].transform.location
                if points and points[-1][0].transform.location.distance(here) < _SAME_POINT:
                    points.pop()  # a segment's end is the next one's start: keep the later
                points.append((waypoints[j], leg.option if n == 0 else RoadOption.LANEFOLLOW, i))
        trace = [(waypoint, option) for waypoint, option, _ in points]
        junction = [w.junction_id if legs[i].segment.junction else -1 for w, _, i in points]
        for first, last in _junction_runs(junction):
            option = self._junction_option(legs, points[first][2], trace, first, last)
            for j in range(first, last + 1):
                trace[j] = (trace[j][0], option)
        return trace

    def _junction_option(
        self, legs: list[_Leg], leg_index: int, trace: Trace, first: int, last: int
    ) -> RoadOption:
        """LANEFOLLOW through a junction the lane has no choice at, else the turn it makes."""
        before = legs[leg_index - 1].segment.key if leg_index > 0 else None
        feeders = (
            [before] if before else list(self.lanes.graph.predecessors(legs[leg_index].segment.key))
        )
        if not any(self.lanes.choices_after(k) > 1 for k in feeders):
            return RoadOption.LANEFOLLOW
        exit_point = trace[last + 1][0] if last + 1 < len(trace) else trace[last][0]
        return junction_option(
            trace[first][0].transform.rotation.yaw, exit_point.transform.rotation.yaw
        )

    def _legs(self, path: list[LaneKey], start: float, end: float) -> list[_Leg]:
        """Split the path into runs of lanes joined by lane changes and place each change evenly
        along its run."""
        segments = self.lanes.segments
        runs: list[list[LaneKey]] = [[path[0]]]
        for a, b in itertools.pairwise(path):
            if self.lanes.kind(a, b) == FOLLOW:
                runs.append([b])
            else:
                runs[-1].append(b)
        legs: list[_Leg] = []
        for r, run in enumerate(runs):
            entry = start if r == 0 else 0.0
            first, final = segments[run[0]], segments[run[-1]]
            exit_ = end if r == len(runs) - 1 else final.length
            if len(run) == 1:
                legs.append(_Leg(first, entry, exit_))
                continue
            # Where the run enters and leaves, as points, then as offsets on each lane of the run.
            enter_xy = first.xy[first.index_at(entry)]
            leave_xy = final.xy[final.index_at(exit_)] if exit_ < final.length else final.xy[-1]
            for n, key in enumerate(run):
                seg = segments[key]
                lo = float(seg.offsets[seg.nearest_index(*enter_xy)])
                hi = exit_ if key == run[-1] else float(seg.offsets[seg.nearest_index(*leave_xy)])
                if n == 0:
                    lo = entry
                leg_start = lo + (hi - lo) * n / len(run)
                leg_end = lo + (hi - lo) * (n + 1) / len(run) if n < len(run) - 1 else hi
                option = (
                    _CHANGE_OPTION[self.lanes.kind(run[n - 1], key)] if n else RoadOption.LANEFOLLOW
                )
                leg_end -= 1e-3 if n < len(run) - 1 else 0.0
                legs.append(_Leg(seg, leg_start, leg_end, option))
        return legs


def _junction_runs(junction_ids: list[int]) -> list[tuple[int, int]]:
    """(first, last) index of every run of points inside one junction."""
    result: list[tuple[int, int]] = []
    for i, junction in enumerate(junction_ids):
        if junction < 0:
            continue
        if result and result[-1][1] == i - 1 and junction_ids[i - 1] == junction:
            result[-1] = (result[-1][0], i)
        else:
            result.append((i, i))
    return result
