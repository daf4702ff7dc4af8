"""Where a map's traffic lights and signs stand and which lane areas they govern.

Built once per OpenDRIVE text from libcarla's own ``carla.Map`` (the landmarks give each
signal's pose, road, s and lane validities exactly as the client computes them) plus the
tables of ``xodr.py``. Follows CARLA 0.9.16's server (reference/carla_traffic_signals.md):

- which signals get an actor and how lights form junction groups of controllers (§1.3);
- the actor pose: the signal's location, yaw + 90°, no pitch or roll (§2.2);
- the effect boxes of lights, stop and yield signs (1.5 m x 25 % lane width x 1 m half-extents,
  3 m upstream, moved out of the junction onto the entering lane) and of speed-limit signs, the
  check boxes of stop and yield signs (§2.3);
- the ``trigger_volume`` the client reads: the merged world box of the effect boxes, centre in
  the actor's frame, rotation the inverse actor yaw (§2.4).
"""

from __future__ import annotations

import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rllib_integration.map_geometry import xodr_sha1

from .kinds import SignKind, semantic_tag, sign_kind, type_id
from .xodr import SignalInfo, SignalTables, parse_signal_tables

GREEN_TIME, YELLOW_TIME, RED_TIME = 10.0, 3.0, 2.0  # CARLA's defaults per controller
LONE_LIGHT_RED_TIME = 10.0  # a light whose controller no junction references
LIGHT_BOX_HALF = (1.5, 0.25, 1.0)  # x metres, y fraction of the lane width, z metres
LIGHT_BOX_SHIFT_M = 3.0  # half box plus 1.5 m safety, upstream
STOP_CHECK_FRACTION = 0.45  # check cube half-size / lane width
SPEED_BOX_FRACTION = 0.35  # speed-limit cube half-size / lane width
CONFLICT_DISTANCE_M = 2.0  # libcarla: junction roads closer than this conflict
CONFLICT_SAMPLE_M = 0.5
SECTION_EDGE = 1e-5
PREDECESSOR_PROBE_M = 0.01  # how far past a lane's start to look for its predecessor
LAMP_HEIGHT_M = 3.0  # get_light_boxes: the lamp head above the pole's foot
MAX_LANE_ID = 12

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """An oriented box in the world: centre, rotation (pitch, yaw, roll in degrees), half-size."""

    center: Vec3
    rotation: Vec3
    extent: Vec3


@dataclass
class SignSpec:
    opendrive_id: str
    kind: SignKind
    type_id: str
    semantic_tag: int
    pose: tuple[float, float, float, float, float, float]  # x, y, z, pitch, yaw, roll
    effect_boxes: list[Box]
    check_boxes: list[Box] = field(default_factory=list)  # stop and yield signs
    trigger_volume: tuple[Vec3, Vec3, Vec3] = ((0.0,) * 3,) * 3  # location, extent, rotation
    speed_limit: float = 0.0  # speed-limit signs: km/h (the unit is ignored, as CARLA does)


@dataclass
class ControllerSpec:
    """One phase: lights (indices into ``SignalLayout.signs``) that switch together."""

    id: str
    lights: list[int]
    times: tuple[float, float, float] = (GREEN_TIME, YELLOW_TIME, RED_TIME)


@dataclass
class GroupSpec:
    """The controllers of one junction, taking turns in this order."""

    junction_id: int
    controllers: list[ControllerSpec]


@dataclass
class SignalLayout:
    signs: list[SignSpec]
    groups: list[GroupSpec]

    @property
    def lights(self) -> list[int]:
        return [k for k, s in enumerate(self.signs) if s.kind is SignKind.TRAFFIC_LIGHT]


_cache: dict[str, SignalLayout] = {}
_cache_lock = threading.Lock()
_MAX_CACHED = 4


def signal_layout(name: str, xodr: str) -> SignalLayout:
    """The layout of validated OpenDRIVE text, built once per text (sha1) per process."""
    key = xodr_sha1(xodr)
    with _cache_lock:
        layout = _cache.get(key)
        if layout is None:
            layout = build_layout(name, xodr)
            if len(_cache) >= _MAX_CACHED:
                _cache.pop(next(iter(_cache)))
            _cache[key] = layout
        return layout


def build_layout(name: str, xodr: str) -> SignalLayout:
    """Signs and groups of an OpenDRIVE text (validated: libcarla builds it in-process)."""
    import carla

    tables = parse_signal_tables(xodr)
    chosen = [(info, kind) for info in tables.signals if (kind := sign_kind(info)) is not None]
    chosen = [(info, kind) for info, kind in chosen if _gets_actor(info, kind, tables)]
    if not chosen:
        return SignalLayout([], [])
    carla_map = carla.Map(name, xodr)
    lanes = _LaneGraph(carla_map, tables)
    transforms = _signal_transforms(carla_map, name, xodr, [info.id for info, _ in chosen])
    signs = []
    for info, kind in chosen:
        references = carla_map.get_all_landmarks_from_id(info.id)
        tf = transforms[info.id]
        loc, yaw = tf.location, tf.rotation.yaw
        pose = (loc.x, loc.y, loc.z, 0.0, yaw + 90.0, 0.0)
        if kind is SignKind.SPEED_LIMIT:
            boxes = lanes.speed_limit_boxes(references)
        else:
            boxes = lanes.effect_boxes(references)
        checks = lanes.check_boxes(references) if kind in (SignKind.STOP, SignKind.YIELD) else []
        signs.append(
            SignSpec(
                opendrive_id=info.id,
                kind=kind,
                type_id=type_id(kind, info),
                semantic_tag=semantic_tag(kind),
                pose=pose,
                effect_boxes=boxes,
                check_boxes=checks,
                trigger_volume=merged_trigger_volume(boxes, pose),
                speed_limit=info.value if kind is SignKind.SPEED_LIMIT else 0.0,
            )
        )
    return SignalLayout(signs, _groups(signs, tables))


def _gets_actor(info: SignalInfo, kind: SignKind, tables: SignalTables) -> bool:
    """Lights: those in some <controller>, and those outside junctions that no junction's
    controller claims (§1.3). Signs: all."""
    if kind is not SignKind.TRAFFIC_LIGHT:
        return True
    in_controller = any(info.id in c.signal_ids for c in tables.controllers.values())
    return in_controller or not tables.is_junction_road(info.road_id)


def _signal_transforms(carla_map, name: str, xodr: str, ids: list[str]) -> dict:
    """Each signal's transform (the landmark pose). A signal whose references were all dropped
    (validity 0..0 only) has no landmark; a second map, with those signals made valid, has."""
    found: dict[str, Any] = {}  # carla.Transform by signal id
    for landmark in carla_map.get_all_landmarks():
        found.setdefault(landmark.id, landmark.transform)
    missing = set(ids) - set(found)
    if missing:
        import carla

        root = ET.fromstring(xodr)
        for signal in root.iter("signal"):
            if signal.get("id") in missing:
                for validity in signal.findall("validity"):
                    signal.remove(validity)
                ET.SubElement(signal, "validity", fromLane="-1", toLane="1")
        patched = carla.Map(name, ET.tostring(root, encoding="unicode"))
        for landmark in patched.get_all_landmarks():
            if landmark.id in missing:
                found.setdefault(landmark.id, landmark.transform)
    return {signal_id: found[signal_id] for signal_id in ids if signal_id in found} | {
        signal_id: _origin_transform() for signal_id in ids if signal_id not in found
    }


def _origin_transform():
    import carla

    return carla.Transform()


def _groups(signs: list[SignSpec], tables: SignalTables) -> list[GroupSpec]:
    """Junction groups of controllers (ordered by sequence, then id: CARLA's own order is that
    of an unordered set), and one group per light that no junction's controller claims."""
    claimed = tables.signal_controllers()
    by_junction: dict[int, dict[str, list[int]]] = {}
    lone: list[int] = []
    for k, sign in enumerate(signs):
        if sign.kind is not SignKind.TRAFFIC_LIGHT:
            continue
        controllers = claimed.get(sign.opendrive_id)
        if not controllers:
            lone.append(k)
            continue
        controller_id = controllers[0]
        junction_id = tables.controller_junctions[controller_id][0]
        by_junction.setdefault(junction_id, {}).setdefault(controller_id, []).append(k)
    groups = []
    for junction_id in sorted(by_junction):
        members = by_junction[junction_id]
        order = sorted(members, key=lambda c: (tables.controllers[c].sequence, c))
        specs = []
        for controller_id in order:
            listed = tables.controllers[controller_id].signal_ids
            lights = sorted(
                members[controller_id], key=lambda k: listed.index(signs[k].opendrive_id)
            )
            specs.append(ControllerSpec(controller_id, lights))
        groups.append(GroupSpec(junction_id, specs))
    for n, k in enumerate(lone):
        times = (GREEN_TIME, YELLOW_TIME, LONE_LIGHT_RED_TIME)
        groups.append(GroupSpec(-2 - n, [ControllerSpec(str(-1 - n), [k], times)]))
    return groups


def merged_trigger_volume(boxes: list[Box], pose: tuple) -> tuple[Vec3, Vec3, Vec3]:
    """The 0.9.16 ``trigger_volume``: the union of each box's world interval ``c ± |R·e|`` (two
    corners only, as Unreal's box merge does), centre in the actor frame, world-axis extent,
    rotation the inverse of the actor's."""
    if not boxes:
        return ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    lows, highs = [], []
    for box in boxes:
        half = np.abs(_rotate(box.rotation, box.extent))
        lows.append(np.array(box.center) - half)
        highs.append(np.array(box.center) + half)
    low, high = np.min(lows, axis=0), np.max(highs, axis=0)
    centre, extent = (low + high) / 2.0, (high - low) / 2.0
    yaw = math.radians(pose[4])
    dx, dy, dz = (float(centre[k] - pose[k]) for k in range(3))
    local = (
        dx * math.cos(yaw) + dy * math.sin(yaw),
        -dx * math.sin(yaw) + dy * math.cos(yaw),
        dz,
    )
    size = (float(extent[0]), float(extent[1]), float(extent[2]))
    return (local, size, (0.0, -pose[4], 0.0))


def _rotate(rotation: Vec3, vector: Vec3) -> np.ndarray:
    """A vector rotated by (pitch, yaw, roll) degrees as carla.Transform rotates it."""
    import carla

    tf = carla.Transform(carla.Location(), carla.Rotation(*rotation))
    v = tf.transform_vector(carla.Vector3D(*vector))
    return np.array((v.x, v.y, v.z))


class _LaneGraph:
    """Lane queries on the in-process ``carla.Map`` that the box rules need."""

    def __init__(self, carla_map, tables: SignalTables) -> None:
        self.map = carla_map
        self.tables = tables
        self._conflicts: dict[int, dict[int, set[int]]] = {}

    def _driving(self, wp) -> bool:
        import carla

        return wp is not None and wp.lane_type == carla.LaneType.Driving

    def _lanes(self, references) -> Iterable[tuple[Any, int]]:  # (carla.Landmark, lane id)
        """(reference, lane id) for every lane of every validity range, 0 skipped."""
        for ref in references:
            for lo, hi in ref.get_lane_validities():
                for lane in range(min(lo, hi), max(lo, hi) + 1):
                    if lane != 0:
                        yield ref, lane

    def _box_at(self, wp, shift: float, extent: Vec3) -> Box | None:
        """A box on ``wp``'s lane centre, ``shift`` metres along s, clamped to the section."""
        lo, hi = self.tables.section_bounds(wp.road_id, wp.s)
        s = min(max(wp.s + shift, lo + SECTION_EDGE), hi - SECTION_EDGE)
        at = self.map.get_waypoint_xodr(wp.road_id, wp.lane_id, s)
        if at is None:
            return None
        loc, rot = at.transform.location, at.transform.rotation
        return Box((loc.x, loc.y, loc.z), (rot.pitch, rot.yaw, rot.roll), extent)

    def _predecessors(self, wp) -> list:
        """Waypoints just inside each predecessor lane of ``wp``'s lane."""
        lo, hi = self.tables.section_bounds(wp.road_id, wp.s)
        back = (wp.s - lo) if wp.lane_id < 0 else (hi - wp.s)
        return wp.previous(back + PREDECESSOR_PROBE_M)

    def _lane_end(self, wp):
        """``wp``'s lane at the end it is driven towards."""
        lo, hi = self.tables.section_bounds(wp.road_id, wp.s)
        s = hi - SECTION_EDGE if wp.lane_id < 0 else lo + SECTION_EDGE
        return self.map.get_waypoint_xodr(wp.road_id, wp.lane_id, s)

    def effect_boxes(self, references) -> list[Box]:
        """Light, stop and yield boxes: one per (reference, lane), moved out of a junction onto
        its single entering lane, 3 m upstream of there."""
        boxes = []
        for ref, lane in self._lanes(references):
            wp = self.map.get_waypoint_xodr(ref.road_id, lane, ref.s)
            if wp is None:
                continue
            if self.tables.is_junction_road(wp.road_id):
                previous = self._predecessors(wp)
                if len(previous) == 1 and not previous[0].is_junction:
                    wp = self._lane_end(previous[0]) or wp
            if not self._driving(wp):
                continue
            hx, fy, hz = LIGHT_BOX_HALF
            extent = (hx, max(0.01, fy * wp.lane_width), hz)
            shift = -LIGHT_BOX_SHIFT_M if lane < 0 else LIGHT_BOX_SHIFT_M
            box = self._box_at(wp, shift, extent)
            if box is not None:
                boxes.append(box)
        return boxes

    def speed_limit_boxes(self, references) -> list[Box]:
        """Cubes of 35 % lane width just before the reference on each valid driving lane."""
        boxes = []
        for ref, lane in self._lanes(references):
            wp = self.map.get_waypoint_xodr(ref.road_id, lane, ref.s)
            if not self._driving(wp):
                continue
            half = max(0.01, SPEED_BOX_FRACTION * wp.lane_width)
            box = self._box_at(wp, -half if lane < 0 else half, (half, half, half))
            if box is not None:
                boxes.append(box)
        return boxes

    def check_boxes(self, references) -> list[Box]:
        """Stop/yield check cubes along the junction roads that cross the sign's own (except
        those fed by the same lanes), plus one cube before each such road's entry."""
        cubes: list[Box] = []
        done: set[tuple[int, int]] = set()
        for ref, lane in self._lanes(references):
            junction = self.tables.road_junction.get(ref.road_id, -1)
            own = self.map.get_waypoint_xodr(ref.road_id, lane, ref.s)
            if junction == -1 or own is None:
                continue
            own_feeds = {(p.road_id, p.lane_id) for p in self._predecessors(own)}
            for road_id in sorted(self._junction_conflicts(junction).get(ref.road_id, ())):
                lanes = [wp for wp in self._lane_starts(road_id) if self._driving(wp)]
                feeds = {(p.road_id, p.lane_id) for wp in lanes for p in self._predecessors(wp)}
                if feeds & own_feeds:
                    continue
                for wp in lanes:
                    if (wp.road_id, wp.lane_id) not in done:
                        done.add((wp.road_id, wp.lane_id))
                        cubes += self._cubes_along(wp)
        return cubes

    def _lane_starts(self, road_id: int) -> list:
        """A waypoint at the start (in driving direction) of each lane of a junction road."""
        starts = []
        lo, hi = self.tables.section_bounds(road_id, 0.0)
        for lane in range(-MAX_LANE_ID, MAX_LANE_ID + 1):
            s = lo + SECTION_EDGE if lane < 0 else hi - SECTION_EDGE
            wp = self.map.get_waypoint_xodr(road_id, lane, s) if lane else None
            if wp is not None:
                starts.append(wp)
        return starts

    def _cubes_along(self, start) -> list[Box]:
        half = max(0.01, STOP_CHECK_FRACTION * start.lane_width)
        lo, hi = self.tables.section_bounds(start.road_id, start.s)
        length = hi - lo
        cubes = []
        for before in start.previous(half):  # anticipation: one cube before the entry
            cubes.append(_cube(before, half))
        along = half
        while along < length:
            s = lo + along if start.lane_id < 0 else hi - along
            wp = self.map.get_waypoint_xodr(start.road_id, start.lane_id, s)
            if wp is not None:
                cubes.append(_cube(wp, half))
            along += 2.0 * half
        return cubes

    def _junction_conflicts(self, junction: int) -> dict[int, set[int]]:
        """Junction roads whose lane centres come within 2 m in plan (libcarla's
        ``ComputeJunctionConflicts``, on lane centres sampled every 0.5 m)."""
        if junction in self._conflicts:
            return self._conflicts[junction]
        roads = sorted(r for r, j in self.tables.road_junction.items() if j == junction)
        points = {road_id: self._centre_points(road_id) for road_id in roads}
        conflicts: dict[int, set[int]] = {}
        for i, a in enumerate(roads):
            for b in roads[i + 1 :]:
                pa, pb = points[a], points[b]
                if len(pa) and len(pb):
                    gap = np.min(np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=2))
                    if gap <= CONFLICT_DISTANCE_M:
                        conflicts.setdefault(a, set()).add(b)
                        conflicts.setdefault(b, set()).add(a)
        self._conflicts[junction] = conflicts
        return conflicts

    def _centre_points(self, road_id: int) -> np.ndarray:
        lo, hi = self.tables.section_bounds(road_id, 0.0)
        samples = np.append(np.arange(lo + SECTION_EDGE, hi, CONFLICT_SAMPLE_M), hi - SECTION_EDGE)
        points = []
        for start in self._lane_starts(road_id):
            for s in samples:
                wp = self.map.get_waypoint_xodr(road_id, start.lane_id, float(s))
                if wp is not None:
                    points.append((wp.transform.location.x, wp.transform.location.y))
        return np.array(points).reshape(-1, 2)


def _cube(wp, half: float) -> Box:
    loc, rot = wp.transform.location, wp.transform.rotation
    return Box((loc.x, loc.y, loc.z), (rot.pitch, rot.yaw, rot.roll), (half, half, half))
