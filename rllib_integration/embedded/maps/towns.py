"""The built-in towns, generated as OpenDRIVE: every lane leads somewhere (no dead ends), because
CARLA's client-side Traffic Manager deletes vehicles that reach one.

- ``Loop01``: a two-lane rounded rectangle, 300 m x 200 m (a lap is ~930 m), the default map,
  with a crosswalk on each side.
- ``Grid01``: a 4 x 4 lattice of streets 100 m apart: four 4-way junctions, eight T-junctions on
  the edges and curved corners. Every junction has traffic lights, two phases (each street's
  opposite arms turn green together; a T-junction's stem has its own phase).
- ``Highway01``: a three-lanes-each-way ring, 1000 m x 500 m, 90 km/h, with an 8 m hill.
- ``Roundabout01``: a one-way roundabout (R 30 m) with four arms joined by an outer ring road;
  yield signs where the arms enter the ring, stop signs where they meet the outer ring.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from .junction_signals import STOP, YIELD, SignalIds, place_signal, signalise
from .opendrive import (
    Crosswalk,
    Geometry,
    Junction,
    Lane,
    OpenDrive,
    Pose,
    Road,
    RoadMark,
    link_roads,
    path,
    smooth_hill,
)

LANE_WIDTH = 3.5
SOLID_WHITE = RoadMark("solid")
BROKEN_WHITE = RoadMark("broken", lane_change="both")
SOLID_YELLOW = RoadMark("solid", "yellow")
BROKEN_YELLOW = RoadMark("broken", "yellow", lane_change="both")
DOUBLE_YELLOW = RoadMark("solid solid", "yellow", width=0.3)
CURB = RoadMark("curb", width=0.2)

DRIVING = Lane("driving", LANE_WIDTH, ((0.0, SOLID_WHITE),))
SHOULDER = Lane("shoulder", 1.0, ((0.0, CURB),))
SIDEWALK = Lane("sidewalk", 3.0)
STREET_SIDE = [DRIVING, SHOULDER, SIDEWALK]
JUNCTION_LANE = Lane("driving", LANE_WIDTH)  # connecting roads carry no markings
HALF_PI = math.pi / 2


def _rounded_ring(
    width: float, height: float, radius: float, first_id: int = 0
) -> list[tuple[Pose, list[Geometry]]]:
    """Four pieces (half side, quarter arc, half side) of a counter-clockwise rounded rectangle
    centred on the origin, each starting at the middle of a side."""
    half_w, half_h = width / 2.0, height / 2.0
    mids = [
        Pose(0.0, -half_h, 0.0),
        Pose(half_w, 0.0, HALF_PI),
        Pose(0.0, half_h, math.pi),
        Pose(-half_w, 0.0, -HALF_PI),
    ]
    return [(mids[k], path(mids[k], mids[(k + 1) % 4], radius)) for k in range(4)]


def _close_ring(roads: list[Road]) -> None:
    for k, road in enumerate(roads):
        link_roads(road, roads[(k + 1) % len(roads)])


def _curve_marks(
    geometries: list[Geometry], straight: RoadMark, curve: RoadMark
) -> tuple[tuple[float, RoadMark], ...]:
    """Centre line: ``straight`` on lines, ``curve`` (no overtaking) on arcs."""
    marks: list[tuple[float, RoadMark]] = []
    s = 0.0
    for geometry in geometries:
        mark = straight if geometry.curvature == 0 else curve
        if not marks or marks[-1][1] != mark:
            marks.append((s, mark))
        s += geometry.length
    return tuple(marks)


def loop01() -> OpenDrive:
    odr = OpenDrive("Loop01")
    for k, (start, geometries) in enumerate(_rounded_ring(300.0, 200.0, 40.0)):
        odr.roads.append(
            Road(
                id=k,
                start=start,
                geometries=geometries,
                right=STREET_SIDE,
                left=STREET_SIDE,
                center_marks=_curve_marks(geometries, BROKEN_YELLOW, SOLID_YELLOW),
                crosswalks=(Crosswalk(50.0),),  # on the straight half side each road starts with
            )
        )
    _close_ring(odr.roads)
    return odr


def highway01() -> OpenDrive:
    odr = OpenDrive("Highway01")
    inner = Lane("driving", LANE_WIDTH, ((0.0, BROKEN_WHITE),))
    side = [inner, inner, DRIVING, Lane("shoulder", 2.5, ((0.0, CURB),)), SIDEWALK]
    for k, (start, geometries) in enumerate(_rounded_ring(1000.0, 500.0, 120.0)):
        road = Road(
            id=k,
            start=start,
            geometries=geometries,
            right=side,
            left=side,
            center_marks=((0.0, DOUBLE_YELLOW),),
            speed_kmh=90.0,
            road_type="motorway",
        )
        if k == 0:  # a Town04-like hill on the first half of the bottom straight
            road.elevation = smooth_hill(geometries[0].length, 8.0)
            road.elevation.append((geometries[0].length, 0.0, 0.0, 0.0, 0.0))
        odr.roads.append(road)
    _close_ring(odr.roads)
    return odr


class _Builder:
    """Allocates road ids and collects roads and junctions."""

    def __init__(self, name: str) -> None:
        self.odr = OpenDrive(name)
        self.next_id = 0

    def road(self, start: Pose, end: Pose, radius: float = 20.0) -> Road:
        geometries = path(start, end, radius)
        road = Road(
            id=self.new_road_id(),
            start=start,
            geometries=geometries,
            right=STREET_SIDE,
            left=STREET_SIDE,
            center_marks=_curve_marks(geometries, SOLID_YELLOW, DOUBLE_YELLOW),
        )
        self.odr.roads.append(road)
        return road

    def junction(self, arms: list[tuple[Road, str]], allowed=None, radius: float = 1e9) -> Junction:
        junction = Junction(1000 + len(self.odr.junctions), arms)
        connecting = junction.connect(
            10000 + 100 * len(self.odr.junctions), JUNCTION_LANE, allowed, radius
        )
        self.odr.roads += connecting
        self.odr.junctions.append(junction)
        return junction

    def new_road_id(self) -> int:
        self.next_id += 1
        return self.next_id


def grid01(nodes: int = 4, spacing: float = 100.0, half_size: float = 10.0) -> OpenDrive:
    """Streets on a ``nodes`` x ``nodes`` lattice; corners are curves, the rest junctions."""
    b = _Builder("Grid01")
    last = nodes - 1
    offset = last * spacing / 2.0

    def centre(i: int, j: int) -> tuple[float, float]:
        return i * spacing - offset, j * spacing - offset

    def is_corner(i: int, j: int) -> bool:
        return i in (0, last) and j in (0, last)

    arms: dict[tuple[int, int], list[tuple[Road, str]]] = {}
    directions = [(1, 0), (0, 1), (-1, 0), (0, -1)]

    def arm_pose(i, j, di, dj) -> Pose:
        """Leaving node (i, j) in direction (di, dj), at the edge of its junction."""
        x, y = centre(i, j)
        return Pose(x + di * half_size, y + dj * half_size, math.atan2(dj, di))

    # Straight streets between adjacent non-corner nodes.
    for i in range(nodes):
        for j in range(nodes):
            for di, dj in ((1, 0), (0, 1)):
                a, c = (i, j), (i + di, j + dj)
                if c[0] > last or c[1] > last or is_corner(*a) or is_corner(*c):
                    continue
                start, end = arm_pose(*a, di, dj), arm_pose(*c, -di, -dj).reversed()
                road = b.road(start, end)
                arms.setdefault(a, []).append((road, "start"))
                arms.setdefault(c, []).append((road, "end"))
    # Each corner: one curved street joining its two neighbours.
    for i, j in ((0, 0), (last, 0), (last, last), (0, last)):
        inward = [(di, dj) for di, dj in directions if 0 <= i + di <= last and 0 <= j + dj <= last]
        (ai, aj), (ci, cj) = inward
        a, c = (i + ai, j + aj), (i + ci, j + cj)
        road = b.road(arm_pose(*a, -ai, -aj), arm_pose(*c, -ci, -cj).reversed(), radius=25.0)
        arms.setdefault(a, []).append((road, "start"))
        arms.setdefault(c, []).append((road, "end"))
    ids = SignalIds()
    for node in sorted(arms):
        signalise(b.junction(arms[node]), ids)
    return b.odr


def roundabout01(
    ring_radius: float = 30.0, half_angle_deg: float = 20.0, frame: float = 150.0
) -> OpenDrive:
    """A counter-clockwise one-way ring with four junctions; radial arms to a square outer ring
    (corner radius 40 m) met by T-junctions, so every exit leads back in."""
    b = _Builder("Roundabout01")
    half = math.radians(half_angle_deg)
    ring_side = [DRIVING, SHOULDER, SIDEWALK]  # right of a CCW ring = outside
    angles = [k * HALF_PI for k in range(4)]

    def on_ring(angle: float) -> Pose:  # heading along the ring (counter-clockwise)
        return Pose(ring_radius * math.cos(angle), ring_radius * math.sin(angle), angle + HALF_PI)

    ring = []
    for k, angle in enumerate(angles):
        start, end = on_ring(angle + half), on_ring(angles[(k + 1) % 4] - half)
        sweep = HALF_PI - 2 * half
        road = Road(
            id=b.new_road_id(),
            start=start,
            geometries=[Geometry(ring_radius * sweep, 1.0 / ring_radius)],
            right=ring_side,
            center_marks=((0.0, SOLID_WHITE),),
        )
        assert abs(road.end.x - end.x) < 1e-6 and abs(road.end.y - end.y) < 1e-6
        b.odr.roads.append(road)
        ring.append(road)
    arm_start = ring_radius / math.cos(half) + 12.0
    arm_end = frame - 10.0
    radial = []
    for angle in angles:
        ux, uy = math.cos(angle), math.sin(angle)
        start = Pose(arm_start * ux, arm_start * uy, angle)
        radial.append(b.road(start, Pose(arm_end * ux, arm_end * uy, angle)))
    # Outer ring pieces from the T-junction at angle k to the one at angle k+1 (CCW).
    outer = []
    for k, angle in enumerate(angles):
        ux, uy = math.cos(angle), math.sin(angle)
        nx, ny = math.cos(angles[(k + 1) % 4]), math.sin(angles[(k + 1) % 4])
        tx, ty = -uy, ux  # counter-clockwise tangent at the T-junction
        start = Pose(frame * ux + 10.0 * tx, frame * uy + 10.0 * ty, math.atan2(ty, tx))
        heading_in = angles[(k + 1) % 4] + HALF_PI  # arriving at the next one, still CCW
        end = Pose(
            frame * nx - 10.0 * math.cos(heading_in),
            frame * ny - 10.0 * math.sin(heading_in),
            heading_in,
        )
        outer.append(b.road(start, end, radius=40.0))
    ids = SignalIds()
    for k in range(4):
        ring_in, ring_out, arm = ring[k - 1], ring[k], radial[k]
        allowed = {(ring_in.id, ring_out.id), (ring_in.id, arm.id), (arm.id, ring_out.id)}
        entry = b.junction([(ring_in, "end"), (ring_out, "start"), (arm, "start")], allowed)
        place_signal(entry, 2, YIELD, ids)  # traffic on the ring has priority
        tee = b.junction([(radial[k], "end"), (outer[k], "start"), (outer[k - 1], "end")])
        place_signal(tee, 0, STOP, ids)  # and so has the outer ring
    return b.odr


BUILTIN_TOWNS: dict[str, Callable[[], OpenDrive]] = {
    "Loop01": loop01,
    "Grid01": grid01,
    "Highway01": highway01,
    "Roundabout01": roundabout01,
}
DEFAULT_TOWN = "Loop01"


@functools.cache
def builtin_xodr(name: str) -> str:
    """OpenDRIVE text of a built-in town (generated once per process)."""
    return BUILTIN_TOWNS[name]().to_xml()
