"""Walkable surfaces -> a Detour polygon mesh: convex polygons of <= 6 vertices whose neighbours
share whole edges (Detour links polygons of a tile only through identical vertex pairs).

1. The surfaces of each kind are merged (closing the millimetre gaps between consecutive lane
   sections), overlaps go to the kind listed first (crosswalk > sidewalk > road), and all
   outlines are noded together on a millimetre grid and cut into faces: a planar partition in
   which neighbouring faces share identical vertices.
2. ``coverage_simplify`` drops the vertices that straight lanes do not need, on both sides of each
   shared edge alike; edges longer than ``max_edge`` are then split (the same points for both
   polygons sharing the edge) so that heights can follow slopes.
3. Each polygon is cut into triangles with its own vertices only (constrained Delaunay), so
   triangles of neighbouring polygons meet vertex to vertex.
4. Triangles of one kind are merged greedily, longest shared edge first, into convex polygons of at
   most six vertices, as Recast does.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely

from rllib_integration.embedded.navigation.surfaces import Surface

GRID_M = 0.001  # every outline is snapped to this grid, so that nodes are exact
GAP_M = 0.01  # gaps narrower than this between surfaces of one kind close
SIMPLIFY_M = 0.02
MAX_EDGE_M = 12.0  # RecastBuilder's max edge length for CARLA
MAX_POLYGON_VERTICES = 6
MIN_TURN = 1e-4  # sine of the smallest turn at a polygon vertex (no slivers, no straight angles)


@dataclass
class PolyMesh:
    vertices: np.ndarray  # (V, 3) CARLA x, y, z
    polygons: list[tuple[int, ...]]  # clockwise in CARLA x-y (what Detour calls positive area)
    neighbours: list[tuple[int, ...]]  # per edge j (vertex j -> j+1): 1 + polygon across, or 0
    areas: np.ndarray  # (P,) uint8 area id of each polygon

    def components(self) -> np.ndarray:
        """Connected-component label of every polygon (through shared edges)."""
        parent = list(range(len(self.polygons)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for p, neis in enumerate(self.neighbours):
            for n in neis:
                if n:
                    parent[root(p)] = root(n - 1)
        return np.array([root(p) for p in range(len(self.polygons))])


def build_polymesh(
    surfaces: list[Surface],
    height: Callable[[np.ndarray, np.ndarray], np.ndarray],
    max_edge: float = MAX_EDGE_M,
) -> PolyMesh:
    """Convex polygons covering ``surfaces`` (earlier surfaces win overlaps); ``height(x, y)``
    gives the ground elevation of the vertices."""
    faces, face_areas = _partition(surfaces)
    simple = shapely.coverage_simplify(faces, SIMPLIFY_M, simplify_boundary=True)
    pieces: list[tuple[int, shapely.Polygon]] = [
        (area, part)
        for area, geom in zip(face_areas, simple, strict=True)
        for part in getattr(geom, "geoms", [geom])
        if isinstance(part, shapely.Polygon) and part.area > 1e-4
    ]
    split = _EdgeSplitter(max_edge)
    index: dict[tuple[float, float], int] = {}
    triangles, areas = [], []
    for area, polygon in pieces:
        rings = [split.ring(polygon.exterior)] + [split.ring(r) for r in polygon.interiors]
        for tri in shapely.constrained_delaunay_triangles(
            shapely.Polygon(rings[0], rings[1:])
        ).geoms:
            # Keyed by the float32 coordinates the file will hold, so that no two vertices
            # coincide and no triangle turns degenerate when stored.
            outline = cast(shapely.Polygon, tri).exterior.coords[:3]  # Delaunay: triangles
            corners = [index.setdefault(_f32(xy), len(index)) for xy in outline]
            if len(set(corners)) == 3:
                triangles.append(corners)
                areas.append(area)
    xy = np.array(list(index), np.float64).reshape(-1, 2)
    wound = [(_clockwise(t, xy), a) for t, a in zip(triangles, areas, strict=True)]
    kept = [(t, a) for t, a in wound if t is not None]
    polygons, polygon_areas = _merge(
        [t for t, _ in kept], np.array([a for _, a in kept], np.uint8), xy
    )
    z = np.asarray(height(xy[:, 0], xy[:, 1]), np.float64)
    vertices = np.column_stack([xy, z])
    return PolyMesh(vertices, polygons, _neighbours(polygons), polygon_areas)


def _partition(surfaces: list[Surface]) -> tuple[list[shapely.Polygon], list[int]]:
    """Faces of the surfaces' arrangement and the area of each; earlier surfaces win overlaps."""
    kinds = list(dict.fromkeys(s.area for s in surfaces))  # in order of priority
    regions, taken = [], None
    for kind in kinds:
        # Grown by half the gap they close: lane sections end a millimetre short of each other.
        grown = [
            s.polygon.buffer(GAP_M / 2, join_style="mitre") for s in surfaces if s.area == kind
        ]
        # Less than the growth, so that neighbouring kinds still overlap: it only drops the
        # nearly collinear vertices where grown surfaces meet.
        merged = _polygonal(shapely.union_all(grown, grid_size=GRID_M))
        merged = _polygonal(shapely.simplify(merged, GAP_M * 0.4))
        if taken is not None:
            merged = _polygonal(shapely.difference(merged, taken, grid_size=GRID_M))
        regions.append(merged)
        taken = (
            merged if taken is None else _polygonal(shapely.union(taken, merged, grid_size=GRID_M))
        )
    lines = shapely.union_all([shapely.boundary(r) for r in regions], grid_size=GRID_M)
    faces, areas = [], []
    for face in shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))):
        inside = shapely.point_on_surface(face)
        owner = next((k for k, r in zip(kinds, regions, strict=True) if r.contains(inside)), None)
        if owner is not None:  # faces in no region are holes (city blocks, road medians)
            faces.append(face)
            areas.append(owner)
    return faces, areas


def _polygonal(geometry: shapely.Geometry) -> shapely.MultiPolygon:
    """The polygons of an overlay result (snapping to the grid can leave lines and points)."""
    parts = shapely.get_parts(geometry)
    return shapely.MultiPolygon([p for p in parts if isinstance(p, shapely.Polygon)])


class _EdgeSplitter:
    """Splits long ring edges at points that depend only on the (unordered) edge, so that the two
    polygons sharing an edge get the same points."""

    def __init__(self, max_edge: float) -> None:
        self.max_edge = max_edge

    def ring(self, ring) -> list[tuple[float, float]]:
        coords = [tuple(c) for c in ring.coords]
        out = []
        for a, b in zip(coords[:-1], coords[1:], strict=True):
            out.append(a)
            pieces = math.ceil(math.dist(a, b) / self.max_edge)
            if pieces > 1:
                lo, hi = sorted((a, b))
                inner = [
                    (lo[0] + (hi[0] - lo[0]) * k / pieces, lo[1] + (hi[1] - lo[1]) * k / pieces)
                    for k in range(1, pieces)
                ]
                out += inner if lo == a else inner[::-1]
        return out


def _f32(xy: tuple[float, ...]) -> tuple[float, float]:
    return float(np.float32(xy[0])), float(np.float32(xy[1]))


def _turn(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Sine of the turn o -> a -> b (negative: clockwise in CARLA's x-y axes)."""
    ax, ay, bx, by = a[0] - o[0], a[1] - o[1], b[0] - a[0], b[1] - a[1]
    return float(ax * by - ay * bx) / max(math.hypot(ax, ay) * math.hypot(bx, by), 1e-12)


def _clockwise(tri: list[int], xy: np.ndarray) -> tuple[int, ...] | None:
    """The triangle wound clockwise, or None if it is a sliver Detour could not use."""
    a, b, c = (xy[i] for i in tri)
    turns = (_turn(c, a, b), _turn(a, b, c), _turn(b, c, a))
    if min(abs(t) for t in turns) < MIN_TURN:
        return None
    return tuple(tri) if turns[0] < 0 else (tri[0], tri[2], tri[1])


def _merge(
    polygons: list[tuple[int, ...]], areas: np.ndarray, xy: np.ndarray
) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Greedy merging of same-area neighbours into convex polygons, longest shared edge first."""
    alive: dict[int, tuple[int, ...]] = dict(enumerate(polygons))
    owner: dict[tuple[int, int], int] = {}
    for p, poly in alive.items():
        for a, b in _edges(poly):
            owner[(a, b)] = p
    heap = [
        (-math.dist(xy[a], xy[b]), a, b)
        for (a, b), p in owner.items()
        if a < b and (b, a) in owner and areas[owner[(b, a)]] == areas[p]
    ]
    heapq.heapify(heap)
    while heap:
        _, a, b = heapq.heappop(heap)
        kept, gone = owner.get((a, b)), owner.get((b, a))
        if kept is None or gone is None or kept == gone:
            continue
        merged = _joined(alive[kept], alive[gone], a, b)
        if len(merged) > MAX_POLYGON_VERTICES or not _convex(merged, xy):
            continue
        del alive[gone]
        del owner[(a, b)], owner[(b, a)]
        alive[kept] = merged
        for edge in _edges(merged):
            owner[edge] = kept
    keys = sorted(alive)
    return [alive[k] for k in keys], areas[keys]


def _edges(poly: tuple[int, ...]):
    return zip(poly, poly[1:] + poly[:1], strict=True)


def _joined(p: tuple[int, ...], q: tuple[int, ...], a: int, b: int) -> tuple[int, ...]:
    """p (with edge a -> b) and q (with b -> a) as one polygon."""
    i = p.index(b)
    p_from_b = p[i:] + p[:i]  # b ... a
    j = q.index(a)
    q_from_a = q[j:] + q[:j]  # a ... b
    return p_from_b + q_from_a[1:-1]


def _convex(poly: tuple[int, ...], xy: np.ndarray) -> bool:
    n = len(poly)
    return all(
        _turn(xy[poly[k - 1]], xy[poly[k]], xy[poly[(k + 1) % n]]) < -MIN_TURN for k in range(n)
    )


def _neighbours(polygons: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    owner = {edge: p for p, poly in enumerate(polygons) for edge in _edges(poly)}
    return [tuple(owner.get((b, a), -1) + 1 for a, b in _edges(poly)) for poly in polygons]
