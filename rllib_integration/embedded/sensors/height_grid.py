"""A dense, bilinear height raster sampled once per map from the GroundModel.

Ray casting asks for the ground height at every pixel's ray several times per frame; the
GroundModel's exact query (interpolation along lane centre segments) is too slow for that, so the
sensors sample it once on a regular grid and interpolate. Flat maps are detected and answered by
a single plane, which makes the camera's ground intersection exact and nearly free.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_CELLS = 4_000_000  # caps memory (16 MB) and build time for large towns
MIN_RESOLUTION = 0.5  # metres per cell
MARGIN = 50.0  # metres sampled beyond the map's bounds (the terrain around it)
FLAT_TOLERANCE = 1e-3  # metres


@dataclass(frozen=True)
class HeightGrid:
    origin: tuple[float, float]  # world x, y of cell (0, 0)
    resolution: float
    heights: np.ndarray  # (rows = y, cols = x) float32
    flat_height: float | None  # set when the whole grid is one level

    @classmethod
    def sample(cls, ground: Any, bounds: tuple[float, float, float, float]) -> HeightGrid:
        xmin, ymin, xmax, ymax = bounds
        xmin, ymin, xmax, ymax = xmin - MARGIN, ymin - MARGIN, xmax + MARGIN, ymax + MARGIN
        area = max(xmax - xmin, 1.0) * max(ymax - ymin, 1.0)
        resolution = max(MIN_RESOLUTION, math.sqrt(area / MAX_CELLS))
        xs = xmin + resolution * np.arange(int(math.ceil((xmax - xmin) / resolution)) + 1)
        ys = ymin + resolution * np.arange(int(math.ceil((ymax - ymin) / resolution)) + 1)
        heights = np.empty((len(ys), len(xs)), np.float32)
        for r0 in range(0, len(ys), 256):  # in row blocks: bounded temporary memory
            gx, gy = np.meshgrid(xs, ys[r0 : r0 + 256])
            heights[r0 : r0 + 256] = np.asarray(ground.height(gx.ravel(), gy.ravel())).reshape(
                gx.shape
            )
        spread = float(heights.max() - heights.min()) if heights.size else 0.0
        flat = float(heights.flat[0]) if heights.size and spread < FLAT_TOLERANCE else None
        return cls((float(xmin), float(ymin)), resolution, heights, flat)

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear height at each point (clamped to the grid's edge outside it)."""
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
        h = self.heights
        top = h[r0, c0] + (h[r0, c0 + 1] - h[r0, c0]) * ax
        bottom = h[r0 + 1, c0] + (h[r0 + 1, c0 + 1] - h[r0 + 1, c0]) * ax
        return top + (bottom - top) * ay


_grids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def height_grid(ground: Any) -> HeightGrid | None:
    """The (cached) HeightGrid of a GroundModel, or None if it has no bounds to sample."""
    bounds = getattr(ground, "bounds", None)
    if bounds is None:
        return None
    try:
        grid = _grids.get(ground)
    except TypeError:  # not weak-referenceable: sample every time would be too slow
        return None
    if grid is None:
        grid = HeightGrid.sample(ground, tuple(float(v) for v in bounds))
        _grids[ground] = grid
    return grid
