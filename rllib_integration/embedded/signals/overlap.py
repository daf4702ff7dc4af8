"""Which trigger boxes a vehicle overlaps: oriented rectangles in plan (yaw only) with a height
range. The boxes never move, so they are hashed once into a coarse grid; a vehicle is tested
(separating axes) only against the boxes registered in the grid cell it stands in, and most
vehicles stand in a cell with none."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .layout import Box

CELL_M = 4.0
# A vehicle whose box reaches at most this far from its origin (CARLA's largest: 5.5 m, plus the
# box's offset) finds every box it can touch through the grid.
REACH_M = 7.0

# A vehicle's pose: x, y, z of its origin and yaw (degrees); its shape: the bounding box's centre
# offset (x, y, z) in the vehicle's frame, half-extents (x, y, z) and reach from the origin.
Pose = tuple[float, float, float, float]
Shape = tuple[float, float, float, float, float, float, float]
NOTHING: frozenset[int] = frozenset()


def vehicle_shape(offset: tuple, extent: tuple) -> Shape:
    ox, oy, oz = (float(v) for v in offset)
    ex, ey, ez = (float(v) for v in extent)
    return (ox, oy, oz, ex, ey, ez, math.hypot(ex, ey) + math.hypot(ox, oy))


class BoxSet:
    """Fixed boxes, each belonging to an owner (a sign index)."""

    def __init__(self, boxes: list[Box], owners: list[int]) -> None:
        unique: dict[tuple, int] = {}
        for box, owner in zip(boxes, owners, strict=True):
            unique.setdefault((owner, box.center, box.rotation[1], box.extent), owner)
        keys = list(unique)
        self.owners = [k[0] for k in keys]
        self._boxes = [
            (cx, cy, cz, math.cos(math.radians(yaw)), math.sin(math.radians(yaw)), ex, ey, ez)
            for _, (cx, cy, cz), yaw, (ex, ey, ez) in keys
        ]
        self._radii = [math.hypot(box[5], box[6]) for box in self._boxes]
        self._grid: dict[tuple[int, int], list[int]] = {}
        for k, (cx, cy, _, c, s, ex, ey, _) in enumerate(self._boxes):
            hx = abs(c) * ex + abs(s) * ey + REACH_M  # world-axis half-size plus the reach
            hy = abs(s) * ex + abs(c) * ey + REACH_M
            for i in range(math.floor((cx - hx) / CELL_M), math.floor((cx + hx) / CELL_M) + 1):
                for j in range(math.floor((cy - hy) / CELL_M), math.floor((cy + hy) / CELL_M) + 1):
                    self._grid.setdefault((i, j), []).append(k)

    def __len__(self) -> int:
        return len(self.owners)

    def touched(self, pose: Pose, shape: Shape) -> frozenset[int]:
        """Indices of the boxes the vehicle at ``pose`` overlaps."""
        x, y, z, yaw = pose
        ox, oy, oz, ex, ey, ez, reach = shape
        candidates: Sequence[int] | None
        if reach <= REACH_M:
            candidates = self._grid.get((math.floor(x / CELL_M), math.floor(y / CELL_M)))
            if not candidates:
                return NOTHING
        else:  # too big for the grid: every box
            candidates = range(len(self._boxes))
        r = math.radians(yaw)
        c, s = math.cos(r), math.sin(r)
        cx, cy, cz = x + ox * c - oy * s, y + ox * s + oy * c, z + oz
        radius = math.hypot(ex, ey)
        found = []
        for k in candidates:
            bx, by, bz, bc, bs, bex, bey, bez = self._boxes[k]
            apart = radius + self._radii[k]
            if (cx - bx) ** 2 + (cy - by) ** 2 > apart * apart or abs(cz - bz) > ez + bez:
                continue  # bounding circles or heights apart
            dx, dy = cx - bx, cy - by
            cos_d = abs(c * bc + s * bs)  # |cos| and |sin| of the angle between the two
            sin_d = abs(s * bc - c * bs)
            if (  # no separating axis among the four edge normals
                abs(dx * c + dy * s) <= ex + bex * cos_d + bey * sin_d
                and abs(-dx * s + dy * c) <= ey + bex * sin_d + bey * cos_d
                and abs(dx * bc + dy * bs) <= bex + ex * cos_d + ey * sin_d
                and abs(-dx * bs + dy * bc) <= bey + ex * sin_d + ey * cos_d
            ):
                found.append(k)
        return frozenset(found) if found else NOTHING
