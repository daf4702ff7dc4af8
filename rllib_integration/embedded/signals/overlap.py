"""Which vehicles overlap which trigger boxes: oriented boxes in plan (yaw only) with a height
range, tested with a vectorised bounding-circle pass and then the separating-axis test on the
few pairs left."""

from __future__ import annotations

import math

import numpy as np

from .layout import Box


class BoxSet:
    """Fixed boxes, each belonging to an owner (a sign index)."""

    def __init__(self, boxes: list[Box], owners: list[int]) -> None:
        unique: dict[tuple, int] = {}
        for box, owner in zip(boxes, owners, strict=True):
            unique.setdefault((owner, box.center, box.rotation[1], box.extent), owner)
        keys = list(unique)
        self.owners = [k[0] for k in keys]
        self.centers = np.array([k[1] for k in keys], np.float64).reshape(-1, 3)
        yaws = np.radians([k[2] for k in keys])
        self.cos, self.sin = np.cos(yaws), np.sin(yaws)
        self.extents = np.array([k[3] for k in keys], np.float64).reshape(-1, 3)
        self.radii = np.hypot(self.extents[:, 0], self.extents[:, 1])

    def __len__(self) -> int:
        return len(self.owners)

    def touching(
        self, centers: np.ndarray, yaws_deg: np.ndarray, extents: np.ndarray
    ) -> list[tuple[int, int]]:
        """(vehicle row, box index) of every overlapping pair; vehicles as (M, 3) centres,
        (M,) yaws in degrees, (M, 3) half-extents."""
        if not len(self) or not len(centers):
            return []
        d = centers[:, None, :] - self.centers[None, :, :]
        reach = np.hypot(extents[:, 0], extents[:, 1])[:, None] + self.radii[None, :]
        near = (np.abs(d[..., 0]) <= reach) & (np.abs(d[..., 1]) <= reach)
        near &= np.abs(d[..., 2]) <= extents[:, None, 2] + self.extents[None, :, 2]
        pairs = []
        for row, box in zip(*np.nonzero(near), strict=True):
            if self._separated(int(row), int(box), centers, yaws_deg, extents):
                continue
            pairs.append((int(row), int(box)))
        return pairs

    def _separated(self, row: int, box: int, centers, yaws_deg, extents) -> bool:
        """Separating-axis test of the two rectangles in plan."""
        yaw = math.radians(float(yaws_deg[row]))
        a = ((math.cos(yaw), math.sin(yaw)), (-math.sin(yaw), math.cos(yaw)))
        c, s = float(self.cos[box]), float(self.sin[box])
        b = ((c, s), (-s, c))
        a_half = (float(extents[row, 0]), float(extents[row, 1]))
        b_half = (float(self.extents[box, 0]), float(self.extents[box, 1]))
        d = (
            float(centers[row, 0] - self.centers[box, 0]),
            float(centers[row, 1] - self.centers[box, 1]),
        )
        for axis in (*a, *b):
            if abs(_dot(d, axis)) > _reach(a, a_half, axis) + _reach(b, b_half, axis):
                return True
        return False


def _dot(u: tuple[float, float], v: tuple[float, float]) -> float:
    return u[0] * v[0] + u[1] * v[1]


def _reach(axes, half: tuple[float, float], direction: tuple[float, float]) -> float:
    """Half-length of a rectangle's shadow on ``direction``."""
    return half[0] * abs(_dot(axes[0], direction)) + half[1] * abs(_dot(axes[1], direction))
