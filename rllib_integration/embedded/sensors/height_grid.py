"""A dense, bilinear height raster sampled once per map from the GroundModel.

Ray casting asks for the ground height at every pixel's ray several times per frame; the
GroundModel's exact query (interpolation along lane centre segments) is too slow for that, so the
sensors sample it once on a regular grid and interpolate. Flat maps are detected and answered by
a single plane, which makes the camera's ground intersection exact and nearly free. Where roads
cross over each other the GroundModel has two levels; the grid keeps both and a ray sees the
upper one only when it starts above it (a camera under a bridge sees the road it is on).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_CELLS = 4_000_000  # caps memory (16 MB) and build time for large towns
MIN_RESOLUTION = 0.5  # metres per cell
MARGIN = 50.0  # metres sampled beyond the map's bounds (the terrain around it)
FLAT_TOLERANCE = 1e-3  # metres
MAX_MARCH_SLOPE = 0.15  # cap on the grade below which rays are marched on hilly maps


LEVEL_TOLERANCE = 0.5  # metres: an origin this far below the upper level still counts as on it


@dataclass(frozen=True)
class HeightGrid:
    origin: tuple[float, float]  # world x, y of cell (0, 0)
    resolution: float
    heights: np.ndarray  # (rows = y, cols = x) float32, the upper level
    flat_height: float | None  # set when the whole grid is one level
    lower: np.ndarray | None = None  # the lower level where roads overlap (None: one level)
    max_slope: float = 0.0  # typical steepest grade (rise/run) of the map, for ray marching
    max_height: float = math.inf  # highest ground: rays above it going up meet nothing

    @classmethod
    def sample(cls, ground: Any, bounds: tuple[float, float, float, float]) -> HeightGrid:
        xmin, ymin, xmax, ymax = bounds
        xmin, ymin, xmax, ymax = xmin - MARGIN, ymin - MARGIN, xmax + MARGIN, ymax + MARGIN
        area = max(xmax - xmin, 1.0) * max(ymax - ymin, 1.0)
        resolution = max(MIN_RESOLUTION, math.sqrt(area / MAX_CELLS))
        xs = xmin + resolution * np.arange(int(math.ceil((xmax - xmin) / resolution)) + 1)
        ys = ymin + resolution * np.arange(int(math.ceil((ymax - ymin) / resolution)) + 1)
        upper = _sample(ground, xs, ys, None)
        spread = float(upper.max() - upper.min()) if upper.size else 0.0
        if spread < FLAT_TOLERANCE:
            flat = float(upper.flat[0]) if upper.size else 0.0
            return cls((float(xmin), float(ymin)), resolution, upper, flat)
        lower = _sample(ground, xs, ys, -1e9)
        one_level = np.allclose(lower, upper, atol=FLAT_TOLERANCE)
        grid = cls(
            (float(xmin), float(ymin)), resolution, upper, None, None if one_level else lower
        )
        return dataclasses.replace(
            grid, max_slope=grid.road_grade(ground), max_height=float(upper.max())
        )

    def road_grade(self, ground: Any) -> float:
        """The steep end (99th percentile) of the road's grade, sampled at the spawn points
        (the grid's own extremes are the cliffs at the edges of overpasses)."""
        gy, gx = np.gradient(self.lower if self.lower is not None else self.heights)
        slope = np.hypot(gx, gy) / self.resolution
        points = [p.location for p in getattr(ground, "spawn_points", lambda: [])()]
        if points:
            xy = np.asarray(points, dtype=np.float64)[:, :2]
            rows, cols = slope.shape
            c = np.clip(((xy[:, 0] - self.origin[0]) / self.resolution).astype(int), 0, cols - 1)
            r = np.clip(((xy[:, 1] - self.origin[1]) / self.resolution).astype(int), 0, rows - 1)
            slope = slope[r, c]
        return float(np.clip(np.percentile(slope, 99), 0.02, MAX_MARCH_SLOPE))

    def height(self, x: np.ndarray, y: np.ndarray, z: float | None = None) -> np.ndarray:
        """Bilinear ground height at each point (clamped to the grid's edge outside it).

        With `z` (where the ray starts), a point under an overpass higher than z gets the lower
        level; without it, the upper level.
        """
        if self.flat_height is not None:
            return np.full(np.shape(x), self.flat_height, np.float32)
        rows, cols = self.heights.shape
        fx = np.clip(
            (np.asarray(x, np.float32) - self.origin[0]) / self.resolution, 0, cols - 1.001
        )
        fy = np.clip(
            (np.asarray(y, np.float32) - self.origin[1]) / self.resolution, 0, rows - 1.001
        )
        c0 = fx.astype(np.intp)
        r0 = fy.astype(np.intp)
        ax = (fx - c0).astype(np.float32)
        ay = (fy - r0).astype(np.float32)
        upper = _bilinear(self.heights, r0, c0, ax, ay)
        if self.lower is None or z is None:
            return upper
        lower = _bilinear(self.lower, r0, c0, ax, ay)
        return np.where(upper <= np.float32(z + LEVEL_TOLERANCE), upper, lower)


def _bilinear(h: np.ndarray, r0: np.ndarray, c0: np.ndarray, ax: np.ndarray, ay: np.ndarray):
    top = h[r0, c0] + (h[r0, c0 + 1] - h[r0, c0]) * ax
    bottom = h[r0 + 1, c0] + (h[r0 + 1, c0 + 1] - h[r0 + 1, c0]) * ax
    return top + (bottom - top) * ay


def _sample(ground: Any, xs: np.ndarray, ys: np.ndarray, z: float | None) -> np.ndarray:
    """Ground heights on the grid xs * ys, in row blocks (bounded temporary memory)."""
    heights = np.empty((len(ys), len(xs)), np.float32)
    for r0 in range(0, len(ys), 256):
        gx, gy = np.meshgrid(xs, ys[r0 : r0 + 256])
        if z is None:
            h = ground.height(gx.ravel(), gy.ravel())
        else:
            h = ground.height(gx.ravel(), gy.ravel(), np.full(gx.size, z))
        heights[r0 : r0 + 256] = np.asarray(h).reshape(gx.shape)
    return heights


SYNC_BUILD_CELLS = 600_000  # smaller grids are built on first use; larger ones in a thread

_grids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_building: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _cells(bounds: tuple[float, float, float, float]) -> float:
    xmin, ymin, xmax, ymax = bounds
    area = (xmax - xmin + 2 * MARGIN) * (ymax - ymin + 2 * MARGIN)
    return min(area / MIN_RESOLUTION**2, MAX_CELLS)


def height_grid(ground: Any, wait: bool = False) -> HeightGrid | None:
    """The cached HeightGrid of a GroundModel; None if it has no bounds or is still being built.

    Large towns take seconds to sample, longer than a client's tick timeout allows, so their grid
    is built in a background thread while callers fall back to the GroundModel's exact queries.
    """
    bounds = getattr(ground, "bounds", None)
    if bounds is None:
        return None
    bounds = tuple(float(v) for v in bounds)
    try:
        with _lock:
            grid = _grids.get(ground)
            thread = _building.get(ground)
            if grid is None and thread is None:
                if _cells(bounds) <= SYNC_BUILD_CELLS:
                    thread = None
                else:
                    thread = threading.Thread(
                        target=_build, args=(weakref.ref(ground), bounds), daemon=True
                    )
                    _building[ground] = thread
                    thread.start()
    except TypeError:  # not weak-referenceable
        return None
    if grid is not None:
        return grid
    if thread is None:
        grid = HeightGrid.sample(ground, bounds)
        with _lock:
            _grids[ground] = grid
        return grid
    if wait:
        thread.join()
        return _grids.get(ground)
    return None


def _build(ground_ref: weakref.ref, bounds: tuple[float, float, float, float]) -> None:
    ground = ground_ref()
    if ground is None:
        return
    grid = HeightGrid.sample(ground, bounds)
    with _lock:
        _grids[ground] = grid
        _building.pop(ground, None)
