"""Road geometry of an OpenDRIVE map as plain numpy: lane-surface polygons and marking polylines.

Shared by the client side (bird's-eye view) and the embedded server (ground model, sensors). The
geometry comes from libcarla's own ``carla.Map`` (which works offline), so lane positions, widths,
elevation and markings are exactly what the real client computes from the same OpenDRIVE text.

Each lane section of each lane is sampled every ``step`` metres with ``Map.get_waypoint_xodr``; a
lane's surface is the strip between its two borders (centre +- width/2 along the waypoint's right
vector). Its *outer* border carries the waypoint's ``right_lane_marking`` (CARLA reports the lane's
own roadMark on the side away from the reference line as "right"); the centre line is the *left*
marking of lane -1 (or of lane 1 on roads without right lanes), so every border is emitted once.

``MapGeometry.from_xodr`` builds a ``carla.Map`` in-process: only call it on OpenDRIVE text that
has been validated (``rllib_integration.embedded.maps.validate``), since libcarla can crash on
malformed files.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

LANE_KINDS = ("driving", "sidewalk", "shoulder", "parking", "other")
# libcarla LaneType name -> LaneStrip.kind. Ramps and entries are driven on like driving lanes.
_KIND_OF_LANE_TYPE = {
    "Driving": "driving",
    "Entry": "driving",
    "Exit": "driving",
    "OnRamp": "driving",
    "OffRamp": "driving",
    "Bidirectional": "driving",
    "Sidewalk": "sidewalk",
    "Shoulder": "shoulder",
    "Parking": "parking",
}
# OpenDRIVE lane types libcarla ignores or that have no surface.
_SKIPPED_XODR_LANE_TYPES = {"none"}
DEFAULT_SPEED_LIMIT_KMH = 30.0  # CARLA's vehicle speed limit when the map says nothing
_SPEED_UNIT_TO_KMH = {"km/h": 1.0, "kmh": 1.0, "m/s": 3.6, "mph": 1.609344}
_EDGE_EPS = 1e-3  # sample just inside a lane section so s never lands in the neighbouring one


@dataclass
class LaneStrip:
    """One lane section's surface. ``polygon`` runs along the outer border, back along the inner."""

    kind: str  # 'driving' | 'sidewalk' | 'shoulder' | 'parking' | 'other'
    polygon: np.ndarray  # (N, 2) float64 world x, y (CARLA/UE coordinates, metres)
    z: np.ndarray  # (N,) float64 elevation of the polygon vertices
    road_id: int
    lane_id: int
    junction: bool
    # Extensions beyond the shared contract (all per centre-line sample, in travel order of s):
    lane_type: str = ""  # libcarla LaneType name ('Driving', 'Biking', 'Border', ...)
    center: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3) lane centre
    rotation: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3) pitch,yaw,roll
    width: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) lane width
    s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) OpenDRIVE s of the samples
    speed_limit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) km/h


@dataclass
class Marking:
    """One lane-marking polyline with constant type and colour, along a lane border."""

    points: np.ndarray  # (N, 3) float64
    type: str  # carla.LaneMarkingType name: 'Solid', 'Broken', 'SolidSolid', ..., 'Curb', 'Grass'
    color: str  # carla.LaneMarkingColor name: 'White', 'Yellow', 'Blue', 'Green', 'Red', 'Other'
    width: float
    road_id: int = 0  # extension: where the marking lies
    lane_id: int = 0  # lane whose border it is (0 for the centre line)


@dataclass
class _LaneSpec:
    road_id: int
    lane_id: int
    xodr_type: str
    s0: float
    s1: float
    speeds: list[tuple[float, float]]  # (s, km/h) of the road's <type> records
    section_lane_ids: frozenset[int]


def _speed_kmh(speed: ET.Element | None) -> float | None:
    if speed is None:
        return None
    try:
        value = float(speed.get("max", ""))
    except ValueError:  # 'no limit' / 'undefined'
        return None
    factor = _SPEED_UNIT_TO_KMH.get((speed.get("unit") or "m/s").strip().lower())
    return None if factor is None or not math.isfinite(value) or value <= 0 else value * factor


def _lane_specs(root: ET.Element) -> list[_LaneSpec]:
    """Every (road, lane section, lane) with a surface, from the OpenDRIVE text."""
    specs: list[_LaneSpec] = []
    for road in root.iter("road"):
        try:
            road_id, length = int(road.get("id", "")), float(road.get("length", ""))
        except ValueError:
            continue
        speeds = []
        for road_type in road.findall("type"):
            kmh = _speed_kmh(road_type.find("speed"))
            s = _float(road_type.get("s"), 0.0)
            speeds.append((s, kmh or DEFAULT_SPEED_LIMIT_KMH))
        sections = road.findall("lanes/laneSection")
        starts = [_float(sec.get("s"), 0.0) for sec in sections]
        for k, section in enumerate(sections):
            s0, s1 = starts[k], starts[k + 1] if k + 1 < len(sections) else length
            if s1 - s0 <= 2 * _EDGE_EPS:
                continue
            lanes = [(int(_float(lane.get("id"), 0.0)), lane) for lane in section.iter("lane")]
            lane_ids = frozenset(lane_id for lane_id, _ in lanes)
            for lane_id, lane in lanes:
                lane_type = (lane.get("type") or "none").strip()
                if lane_id == 0 or lane_type.lower() in _SKIPPED_XODR_LANE_TYPES:
                    continue
                specs.append(_LaneSpec(road_id, lane_id, lane_type, s0, s1, speeds, lane_ids))
    return specs


def _float(text: str | None, default: float) -> float:
    """libcarla-style lenient number parsing: anything unreadable is the default."""
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _speed_at(speeds: list[tuple[float, float]], s: np.ndarray) -> np.ndarray:
    if not speeds:
        return np.full(len(s), DEFAULT_SPEED_LIMIT_KMH)
    starts = np.array([p[0] for p in speeds])
    values = np.array([p[1] for p in speeds])
    order = np.argsort(starts, kind="stable")
    idx = np.searchsorted(starts[order], s, side="right") - 1
    return values[order][np.clip(idx, 0, len(speeds) - 1)]


def _sample_lane(carla_map, spec: _LaneSpec, step: float):
    """Waypoints along one lane section: arrays of centre/rotation/width plus marking samples."""
    n = max(1, math.ceil((spec.s1 - spec.s0) / step))
    s_values = np.linspace(spec.s0 + _EDGE_EPS, spec.s1 - _EDGE_EPS, n + 1)
    rows, outer, inner, lane_type, junction = [], [], [], None, False
    want_inner = spec.lane_id == -1 or spec.lane_id == 1
    for s in s_values:
        wp = carla_map.get_waypoint_xodr(spec.road_id, spec.lane_id, float(s))
        if wp is None:
            continue
        tf = wp.transform
        loc, rot = tf.location, tf.rotation
        rows.append((float(s), loc.x, loc.y, loc.z, rot.pitch, rot.yaw, rot.roll, wp.lane_width))
        if lane_type is None:
            lane_type, junction = wp.lane_type.name, wp.is_junction
        mark = wp.right_lane_marking
        outer.append((mark.type.name, mark.color.name, mark.width) if mark is not None else None)
        if want_inner:
            mark = wp.left_lane_marking
            inner.append((mark.type.name, mark.color.name, mark.width) if mark else None)
    return np.array(rows, dtype=np.float64).reshape(-1, 8), outer, inner, lane_type, junction


def _runs(samples: list) -> list[tuple[int, int, tuple]]:
    """Maximal index ranges [i, j] of equal (type, colour) marking samples, NONE excluded."""
    runs, start = [], 0
    for k in range(1, len(samples) + 1):
        if k == len(samples) or (samples[k] or ("NONE",))[:2] != (samples[start] or ("NONE",))[:2]:
            head = samples[start]
            if head is not None and head[0] != "NONE":
                runs.append((start, k - 1, head))
            start = k
    return runs


def _markings_along(border: np.ndarray, samples: list, road_id: int, lane_id: int) -> list[Marking]:
    out = []
    for i, j, (mtype, color, width) in _runs(samples):
        end = min(j + 1, len(border) - 1)  # overlap one sample so consecutive runs touch
        if end - i < 1:
            continue
        out.append(
            Marking(border[i : end + 1].copy(), mtype, color, float(width), road_id, lane_id)
        )
    return out


class MapGeometry:
    """Lane surfaces and marking polylines of one OpenDRIVE map, in CARLA world coordinates."""

    def __init__(
        self,
        name: str,
        xodr_sha1: str,
        lanes: list[LaneStrip],
        markings: list[Marking],
        geo_reference: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        self.name = name
        self.xodr_sha1 = xodr_sha1
        self.lanes = lanes
        self.markings = markings
        self.geo_reference = geo_reference  # (lat0, lon0, alt0) as libcarla reads the header
        self.bounds = _bounds(lanes)

    def __repr__(self) -> str:
        return (
            f"MapGeometry({self.name!r}, lanes={len(self.lanes)}, markings={len(self.markings)}, "
            f"bounds={tuple(round(b, 1) for b in self.bounds)})"
        )

    @classmethod
    def from_carla_map(cls, carla_map, step: float = 1.0) -> MapGeometry:
        """Sample every lane of ``carla_map`` (a ``carla.Map``) every ``step`` metres."""
        if not step > 0:
            raise ValueError(f"step must be positive, got {step}")
        xodr = carla_map.to_opendrive()
        root = ET.fromstring(xodr)
        lanes: list[LaneStrip] = []
        markings: list[Marking] = []
        for spec in _lane_specs(root):
            rows, outer, inner, lane_type, junction = _sample_lane(carla_map, spec, step)
            if len(rows) < 2 or not np.isfinite(rows).all():
                continue  # zero-length or degenerate (NaN) geometry has no surface
            strip, outer_border, inner_border = _strip(spec, rows, lane_type, junction)
            lanes.append(strip)
            markings += _markings_along(outer_border, outer, spec.road_id, spec.lane_id)
            if inner and (spec.lane_id == -1 or -1 not in spec.section_lane_ids):
                markings += _markings_along(inner_border, inner, spec.road_id, 0)
        geo = carla_map.transform_to_geolocation(_origin())
        return cls(
            name=carla_map.name,
            xodr_sha1=xodr_sha1(xodr),
            lanes=lanes,
            markings=markings,
            geo_reference=(geo.latitude, geo.longitude, geo.altitude),
        )

    @classmethod
    def from_xodr(cls, name: str, xodr: str, step: float = 1.0) -> MapGeometry:
        """Build from OpenDRIVE text (already validated: libcarla may crash on bad files)."""
        import carla

        return cls.from_carla_map(carla.Map(name, xodr), step=step)


def xodr_sha1(xodr: str) -> str:
    """The key every per-map cache uses: sha1 of the OpenDRIVE text as UTF-8."""
    return hashlib.sha1(xodr.encode("utf-8")).hexdigest()


def _origin():
    import carla

    return carla.Location(0.0, 0.0, 0.0)


def _strip(spec: _LaneSpec, rows: np.ndarray, lane_type: str, junction: bool):
    s, centre, rotation, width = rows[:, 0], rows[:, 1:4], rows[:, 4:7], rows[:, 7]
    yaw = np.radians(rotation[:, 1])
    # UE right vector of a waypoint (left-handed axes): forward rotated +90 degrees of yaw.
    right = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1)
    half = (width / 2.0)[:, None]
    outer = centre[:, :2] + right * half
    inner = centre[:, :2] - right * half
    polygon = np.concatenate([outer, inner[::-1]])
    z = np.concatenate([centre[:, 2], centre[::-1, 2]])
    strip = LaneStrip(
        kind=_KIND_OF_LANE_TYPE.get(lane_type, "other"),
        polygon=polygon,
        z=z,
        road_id=spec.road_id,
        lane_id=spec.lane_id,
        junction=bool(junction),
        lane_type=lane_type,
        center=centre.copy(),
        rotation=rotation.copy(),
        width=width.copy(),
        s=s.copy(),
        speed_limit=_speed_at(spec.speeds, s),
    )
    as3 = lambda xy: np.column_stack([xy, centre[:, 2]])  # noqa: E731
    return strip, as3(outer), as3(inner)


def _bounds(lanes: list[LaneStrip]) -> tuple[float, float, float, float]:
    if not lanes:
        return (0.0, 0.0, 0.0, 0.0)
    pts = np.concatenate([lane.polygon for lane in lanes])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
