"""Where pedestrians may walk on an OpenDRIVE map: sidewalks, crosswalks and roads as polygons.

CARLA marks its navigation mesh with three walkable kinds (its ``CARLA_AREA_*`` ids): sidewalks,
where walkers spawn and wander; crosswalks, which every walker may use; and roads, which only
walkers allowed to cross (``set_pedestrians_cross_factor``) enter, at ten times the cost. Lane
surfaces come from ``MapGeometry``. Two things CARLA's hand-made towns model in their meshes are
missing from OpenDRIVE and are added here:

- *junction corners*: sidewalk lanes stop where a road meets a junction (junction roads carry only
  driving lanes, in CARLA's towns as in the built-in ones), so the pavement around each corner,
  between the sidewalk ends of two neighbouring arms, is filled in;
- *crosswalks*, where the map declares none: one across each junction arm, kerb to kerb, where
  the road meets the junction. Declared crosswalks (``<object type="crosswalk">``) are stretched
  a little along their length so that they reach the kerbs they end near.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from rllib_integration.map_geometry import LaneStrip, MapGeometry

SIDEWALK, CROSSWALK, ROAD = 1, 2, 3  # CARLA's Detour area ids (nav/Navigation.h)
# Polygon flags CARLA's query filters test, by area id (block, sidewalk, crosswalk, road, grass).
FLAG_OF_AREA = np.array([0x01, 0x02, 0x04, 0x08, 0x10], np.uint16)
# libcarla lane types walkers treat as road surface (medians, borders and "none" are not walkable).
ROAD_LANE_TYPES = frozenset(
    {"Driving", "Entry", "Exit", "OnRamp", "OffRamp", "Bidirectional", "Shoulder", "Parking"}
    | {"Biking", "Restricted", "RoadWorks", "Tram", "Rail"}
)
CROSSWALK_DEPTH_M = 3.0  # synthesised crosswalks, measured along the road
CROSSWALK_REACH_M = 1.5  # declared crosswalks are lengthened this much at each end
KERB_OVERLAP_M = 0.3  # synthesised crosswalks reach this far onto the sidewalks
MAX_CORNER_GAP_M = 30.0  # farther apart, two sidewalk ends are not one corner
CENTRE_CLEARANCE_M = 1.0  # a corner patch keeps this far from the junction centre


@dataclass(frozen=True)
class Surface:
    area: int  # SIDEWALK | CROSSWALK | ROAD
    polygon: shapely.Polygon


@dataclass(frozen=True)
class _Arm:
    """A road's end at a junction and the lane strips of its lane section there."""

    road_id: int
    at_end: bool  # the junction is at the road's s end (else at its start)
    strips: tuple[LaneStrip, ...]


def walkable_surfaces(
    geometry: MapGeometry, xodr: str, crosswalk_outlines: list[np.ndarray]
) -> list[Surface]:
    """Crosswalks, then sidewalks, then roads: where they overlap, the earlier one wins."""
    sidewalks = [_polygon(s.polygon) for s in geometry.lanes if s.kind == "sidewalk"]
    roads = [_polygon(s.polygon) for s in geometry.lanes if s.lane_type in ROAD_LANE_TYPES]
    junctions = _junction_arms(geometry, xodr)
    for arms in junctions.values():
        sidewalks += _corner_patches(arms)
    if crosswalk_outlines:
        reach = shapely.unary_union([p for p in sidewalks + roads if p is not None])
        crosswalks = [_lengthened(o, reach) for o in crosswalk_outlines]
    else:
        crosswalks = [_crosswalk_across(arm) for arms in junctions.values() for arm in arms]
    return (
        _surfaces(CROSSWALK, crosswalks) + _surfaces(SIDEWALK, sidewalks) + _surfaces(ROAD, roads)
    )


def crosswalk_outlines(points: list) -> list[np.ndarray]:
    """Split ``carla.Map.get_crosswalks()`` (closed loops, each repeating its first point) into
    (K, 2) x-y outlines."""
    loops: list[np.ndarray] = []
    current: list[tuple[float, float]] = []
    for p in points:
        xy = (float(p.x), float(p.y))
        if len(current) >= 3 and math.dist(xy, current[0]) < 1e-3:
            loops.append(np.array(current))
            current = []
        else:
            current.append(xy)
    return loops


def _surfaces(area: int, polygons: list) -> list[Surface]:
    out = []
    for geom in polygons:
        if geom is None or geom.is_empty:
            continue
        for part in getattr(geom, "geoms", [geom]):
            if isinstance(part, shapely.Polygon) and part.area > 1e-3:
                out.append(Surface(area, part))
    return out


def _polygon(points: np.ndarray):
    """A valid polygon (or multipolygon) from an outline that may touch or cross itself."""
    if len(points) < 3:
        return None
    return shapely.make_valid(shapely.Polygon(points[:, :2]), method="structure")


# ---------------------------------------------------------------- junction arms


def _junction_arms(geometry: MapGeometry, xodr: str) -> dict[int, list[_Arm]]:
    """Junction id -> the road ends that meet it (from the roads' <link> records)."""
    by_road: dict[int, list[LaneStrip]] = {}
    for strip in geometry.lanes:
        if len(strip.s):
            by_road.setdefault(strip.road_id, []).append(strip)
    junctions: dict[int, list[_Arm]] = {}
    for road in ET.fromstring(xodr).iter("road"):
        if road.get("junction", "-1").strip() != "-1":
            continue  # a connecting road inside a junction
        try:
            road_id = int(road.get("id", ""))
        except ValueError:
            continue
        strips = by_road.get(road_id, [])
        for tag, at_end in (("predecessor", False), ("successor", True)):
            link = road.find(f"link/{tag}")
            if link is None or link.get("elementType") != "junction" or not strips:
                continue
            edge = (
                max(float(s.s[-1]) for s in strips)
                if at_end
                else min(float(s.s[0]) for s in strips)
            )
            section = tuple(
                s
                for s in strips
                if abs((float(s.s[-1]) if at_end else float(s.s[0])) - edge) < 0.01
            )
            try:
                junction_id = int(link.get("elementId", ""))
            except ValueError:
                continue
            junctions.setdefault(junction_id, []).append(_Arm(road_id, at_end, section))
    return junctions


def _borders(strip: LaneStrip) -> tuple[np.ndarray, np.ndarray]:
    """The strip's outer and inner border (toward the road's reference line), in order of s."""
    n = len(strip.center)
    return strip.polygon[:n], strip.polygon[n:][::-1]


def _end_index(arm: _Arm) -> int:
    return -1 if arm.at_end else 0


def _corner_patches(arms: list[_Arm]) -> list:
    """Pavement joining the sidewalk ends of neighbouring arms around the junction centre."""
    ends = []  # (arm index, kerb point, outer point)
    section_points = []
    for a, arm in enumerate(arms):
        k = _end_index(arm)
        for strip in arm.strips:
            section_points.append(strip.center[k, :2])
            if strip.kind == "sidewalk":
                outer, inner = _borders(strip)
                ends.append((a, inner[k], outer[k]))
    if len(arms) < 2 or len(ends) < 2:
        return []
    centre = np.mean(section_points, axis=0)
    ends.sort(key=lambda e: math.atan2(*((e[1] + e[2]) / 2 - centre)[::-1]))
    patches = []
    for (arm_a, kerb_a, outer_a), (arm_b, kerb_b, outer_b) in zip(
        ends, ends[1:] + ends[:1], strict=True
    ):
        if (
            arm_a == arm_b
            or math.dist((kerb_a + outer_a) / 2, (kerb_b + outer_b) / 2) > MAX_CORNER_GAP_M
        ):
            continue
        hull = shapely.MultiPoint([kerb_a, outer_a, kerb_b, outer_b]).convex_hull
        # A patch over the junction centre would pave across the junction (e.g. between the two
        # halves of a roundabout's outer sidewalk, over the arm between them).
        if (
            isinstance(hull, shapely.Polygon)
            and hull.distance(shapely.Point(centre)) > CENTRE_CLEARANCE_M
        ):
            patches.append(hull)
    return patches


def _crosswalk_across(arm: _Arm):
    """A crosswalk over the whole carriageway at the road's end, kerb to kerb."""
    sidewalks = [s for s in arm.strips if s.kind == "sidewalk"]
    left = [s for s in sidewalks if s.lane_id > 0]
    right = [s for s in sidewalks if s.lane_id < 0]
    if not left or not right:
        return None
    kerbs = [_borders(min(side, key=lambda s: abs(s.lane_id)))[1] for side in (left, right)]
    points = []
    for kerb in kerbs:
        from_end = kerb[::-1] if arm.at_end else kerb
        points += [from_end[0], _along(from_end, CROSSWALK_DEPTH_M)]
    if any(p is None for p in points):
        return None  # road shorter than a crosswalk
    # Reaching a little onto both sidewalks, the crosswalk shares its ends with them.
    return _stretched(shapely.MultiPoint(points).convex_hull, KERB_OVERLAP_M)


def _along(line: np.ndarray, distance: float) -> np.ndarray | None:
    """The point ``distance`` metres along a polyline, or None if it is shorter."""
    steps = np.linalg.norm(np.diff(line[:, :2], axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] < distance + 0.5:
        return None
    return np.array([np.interp(distance, along, line[:, i]) for i in range(2)])


def _lengthened(outline: np.ndarray, walkable) -> BaseGeometry:
    """A declared crosswalk stretched along its long axis, kept on the road and sidewalks."""
    polygon = shapely.make_valid(shapely.Polygon(outline))
    return _stretched(polygon, CROSSWALK_REACH_M).intersection(walkable)


def _stretched(polygon: BaseGeometry, reach: float) -> BaseGeometry:
    """The convex hull of ``polygon`` lengthened by ``reach`` at both ends of its long axis."""
    rect = _outline(polygon.minimum_rotated_rectangle)[:4]
    sides = np.diff(np.vstack([rect, rect[:1]]), axis=0)
    long_side = sides[np.argmax(np.linalg.norm(sides, axis=1))]
    length = float(np.linalg.norm(long_side))
    if length < 1e-6:
        return polygon
    shift = long_side / length * reach
    points = _outline(polygon.convex_hull)
    return shapely.MultiPoint(np.vstack([points + shift, points - shift])).convex_hull


def _outline(area: BaseGeometry) -> np.ndarray:
    """The exterior ring's points of a hull or rectangle of an area (a polygon)."""
    return np.asarray(cast(shapely.Polygon, area).exterior.coords)
