"""Reading a navigation mesh back as shapely polygons, for checks in CARLA coordinates."""

from __future__ import annotations

import numpy as np
import shapely

from rllib_integration.embedded.navigation import detour
from rllib_integration.embedded.navigation.surfaces import CROSSWALK, ROAD, SIDEWALK

__all__ = ["CROSSWALK", "ROAD", "SIDEWALK", "MeshView"]


class MeshView:
    """The polygons of a one-tile navigation-mesh file, with their areas and neighbours."""

    def __init__(self, data: bytes) -> None:
        self.tile = detour.read_navmesh(data).tiles[0][1]
        self.areas = detour.polygon_areas(self.tile)
        n = len(self.areas)
        self.polygons = [
            shapely.Polygon(detour.polygon_vertices(self.tile, p)[:, :2]) for p in range(n)
        ]
        self.tree = shapely.STRtree(self.polygons)

    def area_at(self, x: float, y: float, tolerance: float = 0.0) -> set[int]:
        """Areas of the polygons within ``tolerance`` metres of (x, y)."""
        hits = self.tree.query(
            shapely.Point(x, y).buffer(tolerance) if tolerance else shapely.Point(x, y),
            "intersects",
        )
        return {int(self.areas[i]) for i in hits}

    def components(self, walkable: set[int]) -> list[int]:
        """Sizes of the connected groups of polygons of the ``walkable`` areas, largest first."""
        polys = self.tile.polygons
        parent = list(range(len(polys)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for p in range(len(polys)):
            if self.areas[p] not in walkable:
                continue
            for nei in polys["neis"][p, : polys["vert_count"][p]]:
                if nei and self.areas[nei - 1] in walkable:
                    parent[root(p)] = root(int(nei) - 1)
        roots = [root(p) for p in range(len(polys)) if self.areas[p] in walkable]
        return sorted(np.unique(roots, return_counts=True)[1].tolist(), reverse=True)
