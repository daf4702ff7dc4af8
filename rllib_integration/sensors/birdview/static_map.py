"""Rasterise a map's road geometry once, at the bird's-eye view's own resolution.

The result is one uint8 image of bit flags (``palette.*_BIT``) covering the whole map, with pixel
(col, row) centred on world (origin_x + col / ppm, origin_y + row / ppm). The image axes are the
world's x (columns) and y (rows), which is how CARLA's top view looks from above: no mirroring.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from rllib_integration.sensors.birdview import palette

if TYPE_CHECKING:
    from rllib_integration.map_geometry import MapGeometry

SHIFT = 3  # OpenCV fixed-point bits: polygons keep 1/8-pixel precision
SCALE = 1 << SHIFT
MARGIN_M = 2.0  # room around the map's bounds for marking thickness; beyond is background anyway
MAX_PIXELS = 400_000_000  # one byte each: refuse absurd resolutions instead of exhausting memory
# Broken lines as the original drew them: 1 m dashes, 2 m gaps; double lines 0.5 m apart.
DASH_ON_M = 1.0
DASH_OFF_M = 2.0
DOUBLE_LINE_SEPARATION_M = 0.5
LANE_KIND_BITS = {
    "driving": palette.ROAD_BIT,
    "sidewalk": palette.SIDEWALK_BIT,
    "shoulder": palette.SHOULDER_BIT,
    "parking": palette.SHOULDER_BIT,
}
# Marking type -> the lines it is drawn as, left to right along the polyline: True = broken.
MARKING_LINES = {
    "Solid": (False,),
    "Broken": (True,),
    "SolidSolid": (False, False),
    "SolidBroken": (False, True),
    "BrokenSolid": (True, False),
    "BrokenBroken": (True, True),
}


@dataclass
class StaticMap:
    raster: np.ndarray  # (H, W) uint8 bit flags
    origin: tuple[float, float]  # world x, y of pixel (0, 0)'s centre
    pixels_per_meter: float
    # (H, W, 3) rasters in the original's colours, by the layers drawn (`coloured`)
    _coloured: dict[tuple[str, ...], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def coloured(self, layers: tuple[str, ...]) -> np.ndarray:
        """The raster in the original's colours of `layers` (palette.static_rgb_lut), made
        once per layer set: every rgb bird's-eye view of the map warps it as it is."""
        image = self._coloured.get(layers)
        if image is None:
            lut = palette.static_rgb_lut(layers)[:, 0]
            image = self._coloured[layers] = np.ascontiguousarray(lut[self.raster])
        return image

    def world_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world x, y -> (..., 2) float pixel col, row in the raster."""
        return (np.asarray(xy, np.float64) - self.origin) * self.pixels_per_meter


def rasterize(geometry: MapGeometry, pixels_per_meter: float) -> StaticMap:
    """Draw road, sidewalk, shoulder/parking and lane markings of ``geometry`` into bit flags."""
    xmin, ymin, xmax, ymax = geometry.bounds
    origin = (xmin - MARGIN_M, ymin - MARGIN_M)
    width = int(math.ceil((xmax - xmin + 2 * MARGIN_M) * pixels_per_meter)) + 1
    height = int(math.ceil((ymax - ymin + 2 * MARGIN_M) * pixels_per_meter)) + 1
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"bird's-eye view of map {geometry.name!r} at {pixels_per_meter} px/m would be "
            f"{width}x{height} pixels; lower pixels_per_meter"
        )
    static = StaticMap(np.zeros((height, width), np.uint8), origin, float(pixels_per_meter))
    plane = np.empty_like(static.raster)

    polygons_by_bit: dict[int, list[np.ndarray]] = defaultdict(list)
    for lane in geometry.lanes:
        bit = LANE_KIND_BITS.get(lane.kind)
        if bit is not None and len(lane.polygon) >= 3:
            polygons_by_bit[bit].append(_fixed_point(static, lane.polygon[:, :2]))
    for bit, polygons in polygons_by_bit.items():
        plane.fill(0)
        # One call per polygon: a single fillPoly over overlapping lanes (junctions) would
        # fill with the even-odd rule and punch holes where they overlap.
        for polygon in polygons:
            cv2.fillPoly(plane, [polygon], 1, cv2.LINE_8, SHIFT)
        static.raster |= plane * np.uint8(bit)

    for (bit, thickness), lines in _marking_lines(static, geometry).items():
        plane.fill(0)
        cv2.polylines(plane, lines, False, 1, thickness, cv2.LINE_8, SHIFT)
        static.raster |= plane * np.uint8(bit)
    return static


def _fixed_point(static: StaticMap, xy: np.ndarray) -> np.ndarray:
    return np.round(static.world_to_pixel(xy) * SCALE).astype(np.int32)


def _marking_lines(
    static: StaticMap, geometry: MapGeometry
) -> dict[tuple[int, int], list[np.ndarray]]:
    """Group every drawn line (solid polylines, dashes) by (colour bit, thickness in px)."""
    groups: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
    ppm = static.pixels_per_meter
    for marking in geometry.markings:
        kinds = MARKING_LINES.get(marking.type)
        xy = _dedupe(np.asarray(marking.points, np.float64)[:, :2])
        if kinds is None or len(xy) < 2:
            continue
        bit = palette.MARKING_BITS.get(marking.color, palette.MARKING_BITS["White"])
        thickness = max(1, int(round(marking.width * ppm)))
        offsets = (0.0,) if len(kinds) == 1 else (-0.5, 0.5)
        normals = _left_normals(xy) if len(kinds) == 2 else None
        for broken, offset in zip(kinds, offsets, strict=True):
            line = xy if normals is None else xy + normals * offset * DOUBLE_LINE_SEPARATION_M
            pieces = _dashes(line) if broken else [line]
            groups[(bit, thickness)].extend(_fixed_point(static, p) for p in pieces)
    return groups


def _dedupe(xy: np.ndarray) -> np.ndarray:
    keep = np.ones(len(xy), bool)
    keep[1:] = np.any(np.abs(np.diff(xy, axis=0)) > 1e-6, axis=1)
    return xy[keep]


def _left_normals(xy: np.ndarray) -> np.ndarray:
    """Unit vectors to the left of the direction of travel, per vertex (CARLA: y points right)."""
    seg = np.diff(xy, axis=0)
    seg /= np.linalg.norm(seg, axis=1, keepdims=True)
    tangent = np.empty_like(xy)
    tangent[0], tangent[-1] = seg[0], seg[-1]
    tangent[1:-1] = seg[:-1] + seg[1:]
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)


def _dashes(xy: np.ndarray) -> list[np.ndarray]:
    """Split a polyline into straight 1 m dashes every 3 m (a dash is short: a chord is exact enough)."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    starts = np.arange(0.0, s[-1], DASH_ON_M + DASH_OFF_M)
    ends = np.minimum(starts + DASH_ON_M, s[-1])
    keep = ends - starts > 1e-3
    starts, ends = starts[keep], ends[keep]
    a = np.stack([np.interp(starts, s, xy[:, 0]), np.interp(starts, s, xy[:, 1])], axis=1)
    b = np.stack([np.interp(ends, s, xy[:, 0]), np.interp(ends, s, xy[:, 1])], axis=1)
    return list(np.stack([a, b], axis=1))
