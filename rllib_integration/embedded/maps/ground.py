"""GroundModel: what the embedded server needs to know about the ground at any (x, y).

Built once per map from a ``MapGeometry`` by rasterising with OpenCV:

- a ``surface`` class raster (road, sidewalk, shoulder/parking, white/yellow paint) at
  ``resolution`` metres per pixel;
- two lane-segment index rasters at ``height_resolution`` (one where the highest segment wins,
  one where the lowest wins, so a bridge and the road under it both exist). A query finds the
  segment under the point and interpolates the lane centre's elevation along it, so heights follow
  slopes continuously instead of in steps. Off-road pixels take the nearest segment (a distance
  transform), so terrain continues at the height of the nearest road.

All queries take arrays of world x, y (CARLA coordinates, metres) and are vectorised.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from rllib_integration.map_geometry import (
    DEFAULT_SPEED_LIMIT_KMH,
    LaneStrip,
    MapGeometry,
    xodr_sha1,
)

SURFACE_NONE = 0  # terrain
SURFACE_ROAD = 1
SURFACE_SIDEWALK = 2
SURFACE_SHOULDER = 3  # shoulder or parking
SURFACE_WHITE_MARKING = 4
SURFACE_YELLOW_MARKING = 5
_SURFACE_OF_KIND = {"sidewalk": SURFACE_SIDEWALK, "shoulder": SURFACE_SHOULDER}
_SURFACE_OF_KIND |= {"parking": SURFACE_SHOULDER, "driving": SURFACE_ROAD}
_ROADLIKE_OTHER = {"Biking", "Bidirectional", "Tram", "Rail", "RoadWorks", "Restricted"}
_PAINT_SOLID = {"Solid", "SolidSolid", "SolidBroken", "BrokenSolid"}  # too close to split at 0.25 m
_PAINT_BROKEN = {"Broken", "BrokenBroken"}
DASH_M, GAP_M = 3.0, 6.0  # broken-line rhythm (CARLA's towns look like this)
MAX_SURFACE_PIXELS = 64_000_000  # uint8: 64 MB at most (Town04 at 0.25 m: 14 M)
MAX_INDEX_PIXELS = 16_000_000  # int32, two levels: 128 MB at most (Town04 at 0.5 m: 3.5 M)
SPAWN_Z_OFFSET = 0.5  # CARLA's fallback lifts spawn points 50 cm above the lane
MIN_SPAWN_GAP_M = 2.5  # lanes that fork from one point would otherwise give overlapping spawns


@dataclass(frozen=True)
class SpawnPoint:
    """A carla-free transform: location (x, y, z) and rotation (pitch, yaw, roll) in degrees."""

    location: tuple[float, float, float]
    rotation: tuple[float, float, float]

    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        """(x, y, z, pitch, yaw, roll)."""
        return (*self.location, *self.rotation)


@dataclass(frozen=True)
class _Segments:
    """Lane centre segments i -> i+1 (flattened over all lanes) for interpolation."""

    start: np.ndarray  # (K, 3)
    end: np.ndarray  # (K, 3)
    speed: np.ndarray  # (K,) km/h


class GroundModel:
    """Height, surface class and speed limit anywhere on a map, plus spawn points."""

    def __init__(
        self,
        geometry: MapGeometry,
        resolution: float = 0.25,
        height_resolution: float = 0.5,
        margin: float = 20.0,
    ) -> None:
        self.name = geometry.name
        self.xodr_sha1 = geometry.xodr_sha1
        self.geo_reference: tuple[float, float, float] = geometry.geo_reference
        self.bounds: tuple[float, float, float, float] = geometry.bounds
        xmin, ymin, xmax, ymax = geometry.bounds
        self._origin = np.array([xmin - margin, ymin - margin])
        self._extent = np.array([xmax - xmin + 2 * margin, ymax - ymin + 2 * margin])
        # Huge maps get coarser rasters instead of unbounded memory (Town04 needs neither).
        area = float(np.prod(self._extent))
        self.resolution = max(resolution, math.sqrt(area / MAX_SURFACE_PIXELS))
        self.height_resolution = max(height_resolution, math.sqrt(area / MAX_INDEX_PIXELS))
        self._lanes = geometry.lanes
        self._spawn_cache: dict[tuple[str, float], list[SpawnPoint]] = {}
        self._surface = self._rasterise_surface(geometry)
        self._segments, self._top, self._bottom = self._rasterise_segments(geometry.lanes)

    @classmethod
    def from_xodr(cls, name: str, xodr: str, **kwargs) -> GroundModel:
        """Convenience: MapGeometry.from_xodr (validated text only) then rasterise."""
        return cls(MapGeometry.from_xodr(name, xodr), **kwargs)

    # -- queries ---------------------------------------------------------------------------

    @property
    def lanes(self) -> list[LaneStrip]:
        """The lane surfaces the model was built from."""
        return self._lanes

    @property
    def flat_height(self) -> float | None:
        """The one ground height of a flat map (every lane at the same z), else None; lets a
        caller skip per-tick height queries."""
        z = np.concatenate([self._segments.start[:, 2], self._segments.end[:, 2]])
        if len(z) == 0:
            return 0.0
        return float(z[0]) if float(np.ptp(z)) <= 1e-3 else None

    def surface(self, x, y) -> np.ndarray:
        """uint8 surface class at each point (0 terrain/outside, 1 road, 2 sidewalk,
        3 shoulder/parking, 4 white marking, 5 yellow marking)."""
        rows, cols, inside = self._pixels(x, y, self.resolution, self._surface.shape)
        out = self._surface[rows, cols]
        return np.where(inside, out, SURFACE_NONE).astype(np.uint8)

    def height(self, x, y, z=None) -> np.ndarray:
        """Ground elevation (metres) at each point: the lane surface, interpolated along the lane.

        Where roads overlap (bridges), ``z`` (e.g. the vehicle's current height) picks the level
        closest to it; without ``z`` the top level is used.
        """
        px, py = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        top = self._interpolate(self._top, px, py)
        if z is None or self._top is self._bottom:
            return top
        bottom = self._interpolate(self._bottom, px, py)
        z = np.broadcast_to(np.asarray(z, float), top.shape)
        return np.where(np.abs(bottom - z) < np.abs(top - z), bottom, top)

    def speed_limit(self, x, y) -> np.ndarray:
        """Speed limit (km/h) of the road at (or nearest to) each point."""
        rows, cols, _ = self._pixels(x, y, self.height_resolution, self._top.shape)
        index = self._top[rows, cols]
        if len(self._segments.speed) == 0:
            return np.full(np.shape(rows), DEFAULT_SPEED_LIMIT_KMH)
        return self._segments.speed[index]

    def spawn_points(self, spacing: float = 20.0) -> list[SpawnPoint]:
        """Spawn points like CARLA's fallback (lane starts, 0.5 m up), plus one every ``spacing``
        metres along each driving lane, outside junctions, facing the direction of travel."""
        key = ("driving", spacing)
        if key not in self._spawn_cache:
            points = []
            for lane in self._lanes:
                if lane.kind == "driving" and not lane.junction and lane.lane_type == "Driving":
                    points += _spawn_points_along(lane, spacing)
            self._spawn_cache[key] = _apart(points, MIN_SPAWN_GAP_M)
        return list(self._spawn_cache[key])

    def sidewalk_points(self, spacing: float = 10.0) -> list[SpawnPoint]:
        """Points every ``spacing`` metres along the middle of the sidewalks (0.5 m up), e.g. for
        spawning walkers where no navigation mesh is available."""
        key = ("sidewalk", spacing)
        if key not in self._spawn_cache:
            points = []
            for lane in self._lanes:
                if lane.kind == "sidewalk" and len(lane.width) and float(lane.width.min()) > 0.5:
                    points += _spawn_points_along(lane, spacing)
            self._spawn_cache[key] = _apart(points, 1.0)
        return list(self._spawn_cache[key])

    # -- construction ----------------------------------------------------------------------

    def _shape(self, resolution: float) -> tuple[int, int]:
        cols, rows = np.ceil(self._extent / resolution).astype(int) + 1
        return int(rows), int(cols)

    def _to_pixels(self, points: np.ndarray, resolution: float, shift: int) -> np.ndarray:
        return np.round((points[:, :2] - self._origin) / resolution * (1 << shift)).astype(np.int32)

    def _pixels(self, x, y, resolution: float, shape: tuple[int, int]):
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        # Pixel k is centred on origin + k * resolution (as cv2 draws), so round, not floor.
        cols = np.floor((x - self._origin[0]) / resolution + 0.5)
        rows = np.floor((y - self._origin[1]) / resolution + 0.5)
        inside = (cols >= 0) & (rows >= 0) & (cols < shape[1]) & (rows < shape[0])
        cols = np.clip(np.nan_to_num(cols), 0, shape[1] - 1).astype(np.intp)
        rows = np.clip(np.nan_to_num(rows), 0, shape[0] - 1).astype(np.intp)
        return rows, cols, inside

    def _rasterise_surface(self, geometry: MapGeometry) -> np.ndarray:
        shift, res = 4, self.resolution
        surface = np.zeros(self._shape(res), np.uint8)
        # Paint order: shoulders and sidewalks first, roads over them (junction areas overlap).
        layers: list[tuple[int, list[np.ndarray]]] = [
            (SURFACE_SIDEWALK, []),
            (SURFACE_SHOULDER, []),
            (SURFACE_ROAD, []),
        ]
        for lane in geometry.lanes:
            cls = _SURFACE_OF_KIND.get(lane.kind)
            if cls is None and lane.lane_type in _ROADLIKE_OTHER:
                cls = SURFACE_ROAD
            for value, polygons in layers:
                if value == cls:
                    polygons.append(self._to_pixels(lane.polygon, res, shift))
        for value, polygons in layers:
            for polygon in polygons:  # one call each: a multi-polygon call XORs overlaps away
                cv2.fillPoly(surface, [polygon], int(value), lineType=cv2.LINE_8, shift=shift)
        for mark in geometry.markings:
            value = SURFACE_YELLOW_MARKING if mark.color == "Yellow" else SURFACE_WHITE_MARKING
            if mark.type in _PAINT_SOLID:
                pieces = [mark.points]
            elif mark.type in _PAINT_BROKEN:
                pieces = _dashes(mark.points)
            else:
                continue  # curbs and grass are edges, not paint
            thickness = max(1, int(round(max(mark.width, 0.1) / res)))
            lines = [self._to_pixels(p, res, shift) for p in pieces if len(p) >= 2]
            if lines:
                cv2.polylines(surface, lines, False, int(value), thickness, cv2.LINE_8, shift)
        return surface

    def _rasterise_segments(self, lanes: list[LaneStrip]):
        starts, ends, speeds, quads, heights = [], [], [], [], []
        for lane in lanes:
            n = len(lane.center)
            if n < 2:
                continue
            outer = lane.polygon[:n]
            inner = lane.polygon[n:][::-1]
            quads.append(np.stack([outer[:-1], outer[1:], inner[1:], inner[:-1]], axis=1))
            starts.append(lane.center[:-1])
            ends.append(lane.center[1:])
            speeds.append(lane.speed_limit[:-1] if len(lane.speed_limit) == n else None)
            heights.append((lane.center[:-1, 2] + lane.center[1:, 2]) / 2.0)
        if not quads:
            empty = np.zeros((1, 1), np.int32)
            return _Segments(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)), empty, empty
        segments = _Segments(
            np.concatenate(starts),
            np.concatenate(ends),
            np.concatenate(
                [
                    s if s is not None else np.full(len(h), DEFAULT_SPEED_LIMIT_KMH)
                    for s, h in zip(speeds, heights, strict=True)
                ]
            ),
        )
        quads_px = self._to_pixels(np.concatenate(quads).reshape(-1, 2), self.height_resolution, 0)
        quads_px = quads_px.reshape(-1, 4, 2)
        mean_z = np.concatenate(heights)
        top = self._index_raster(quads_px, np.argsort(mean_z, kind="stable"))
        if np.ptp(mean_z) < 0.5:  # flat map: one level is enough
            return segments, top, top
        bottom = self._index_raster(quads_px, np.argsort(-mean_z, kind="stable"))
        return segments, top, bottom

    def _index_raster(self, quads_px: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Segment index per pixel, later segments in ``order`` painted over earlier ones; pixels
        on no segment get the index of the nearest painted pixel."""
        shape = self._shape(self.height_resolution)
        index = np.full(shape, -1, np.int32)
        for k in order.tolist():
            cv2.fillConvexPoly(index, quads_px[k], k)
        empty = index < 0
        if empty.any():
            _, labels = cv2.distanceTransformWithLabels(
                empty.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            painted = index[~empty]  # labels count the zero (painted) pixels in raster order
            index[empty] = painted[labels[empty] - 1]
        return index

    def _interpolate(self, raster: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(self._segments.start) == 0:
            return np.zeros(x.shape)
        rows, cols, _ = self._pixels(x, y, self.height_resolution, raster.shape)
        k = raster[rows, cols]
        a, b = self._segments.start[k], self._segments.end[k]
        d = b[..., :2] - a[..., :2]
        length2 = np.maximum((d * d).sum(-1), 1e-12)
        t = np.clip(((x - a[..., 0]) * d[..., 0] + (y - a[..., 1]) * d[..., 1]) / length2, 0, 1)
        return a[..., 2] + t * (b[..., 2] - a[..., 2])


def _dashes(points: np.ndarray) -> list[np.ndarray]:
    """Split a polyline into DASH_M-long pieces every DASH_M + GAP_M metres."""
    seg = np.linalg.norm(np.diff(points[:, :2], axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    period = DASH_M + GAP_M
    pieces = []
    for start in np.arange(0.0, along[-1], period):
        stop = min(start + DASH_M, along[-1])
        inner = along[(along > start) & (along < stop)]
        s = np.concatenate([[start], inner, [stop]])
        pieces.append(np.column_stack([np.interp(s, along, points[:, i]) for i in range(3)]))
    return pieces


def _apart(points: list[SpawnPoint], gap: float) -> list[SpawnPoint]:
    """Drop points closer than ``gap`` (in x, y) to one kept before them."""
    kept: list[SpawnPoint] = []
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for point in points:
        x, y = point.location[0], point.location[1]
        cx, cy = int(np.floor(x / gap)), int(np.floor(y / gap))
        near = (
            q
            for i in (cx - 1, cx, cx + 1)
            for j in (cy - 1, cy, cy + 1)
            for q in cells.get((i, j), ())
        )
        if all((x - qx) ** 2 + (y - qy) ** 2 >= gap * gap for qx, qy in near):
            kept.append(point)
            cells.setdefault((cx, cy), []).append((x, y))
    return kept


def _spawn_points_along(lane: LaneStrip, spacing: float) -> list[SpawnPoint]:
    order = slice(None) if lane.lane_id < 0 else slice(None, None, -1)  # travel direction
    centre, rotation = lane.center[order], lane.rotation[order]
    along = np.concatenate(
        [[0.0], np.cumsum(np.linalg.norm(np.diff(centre[:, :2], axis=0), axis=1))]
    )
    total = along[-1]
    if total < 1.0:
        return []
    # The lane start (CARLA's fallback), then every ``spacing`` m, keeping clear of the lane end.
    targets = np.arange(0.0, max(total - spacing / 2.0, 0.0) + 1e-9, spacing) + min(0.5, total / 4)
    points = []
    for s in targets:
        i = int(np.clip(np.searchsorted(along, s), 0, len(along) - 1))
        x, y, z = (float(np.interp(s, along, centre[:, j])) for j in range(3))
        pitch, yaw, roll = (float(v) for v in rotation[i])
        points.append(SpawnPoint((x, y, z + SPAWN_Z_OFFSET), (pitch, yaw, roll)))
    return points


_models: dict[str, GroundModel] = {}
_models_lock = threading.Lock()
_MAX_CACHED_MODELS = 4


def ground_model(name: str, xodr: str) -> GroundModel:
    """The GroundModel of validated OpenDRIVE text, built once per process per text (sha1) so
    reloading a world is instant; keeps the few most recently built."""
    key = xodr_sha1(xodr)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = GroundModel.from_xodr(name, xodr)
            if len(_models) >= _MAX_CACHED_MODELS:
                _models.pop(next(iter(_models)))
            _models[key] = model
        return model
