"""Vectorised ray casting against the map's ground (a height field) and the actors' boxes.

Every ray sensor (cameras, lidars, radar, obstacle) is built on `cast_rays`. Rays are
`origin + t * direction` with a per-ray direction that need not be unit length: cameras use
directions whose camera-x component is 1, so `t` is CARLA's planar depth; lidars use unit
directions, so `t` is the range. Actors are oriented boxes (slab test); boxes that contain the
ray origin are ignored, as a sensor mounted inside its parent's box would otherwise see nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rllib_integration.embedded.sensors.geometry import rotation_matrices
from rllib_integration.embedded.sensors.height_grid import height_grid

# CARLA CityObjectLabel values the ray sensors produce for the static world.
LABEL_ROADS, LABEL_SIDEWALKS, LABEL_TERRAIN, LABEL_SKY, LABEL_ROADLINES = 1, 2, 10, 11, 24

# GroundModel.surface codes -> CityObjectLabel: 0 terrain, 1 road, 2 sidewalk,
# 3 shoulder/parking (drivable, tagged as road), 4 white marking, 5 yellow marking.
SURFACE_LABELS = np.array(
    [LABEL_TERRAIN, LABEL_ROADS, LABEL_SIDEWALKS, LABEL_ROADS, LABEL_ROADLINES, LABEL_ROADLINES],
    dtype=np.uint8,
)


def f32(matrix: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy: numpy's matmul falls off BLAS for transposed operands."""
    return np.ascontiguousarray(matrix, dtype=np.float32)


HIT_GROUND = -1  # RayHits.box value for a ground hit
HIT_NOTHING = -2  # RayHits.box value for a ray that hit nothing within range


class Ground(Protocol):
    """What the ray caster needs from the map's GroundModel (embedded/maps)."""

    def height(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Ground z under each point; with z, the overlapping level closest to it."""
        ...

    def surface(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Boxes:
    """The actors' oriented bounding boxes in world frame."""

    centers: np.ndarray  # (B, 3)
    extents: np.ndarray  # (B, 3) half sizes
    axes: np.ndarray  # (B, 3, 3) body-to-world rotations (columns: forward, right, up)
    ids: np.ndarray  # (B,) uint32 actor ids
    tags: np.ndarray  # (B,) uint8 CityObjectLabel
    velocities: np.ndarray  # (B, 3) world m/s

    @classmethod
    def from_arrays(
        cls,
        centers: np.ndarray,
        extents: np.ndarray,
        rotations: np.ndarray,
        ids: np.ndarray | None = None,
        tags: np.ndarray | None = None,
        velocities: np.ndarray | None = None,
    ) -> Boxes:
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
        n = len(centers)
        return cls(
            centers=centers,
            extents=np.asarray(extents, dtype=np.float64).reshape(-1, 3),
            axes=rotation_matrices(np.asarray(rotations, dtype=np.float64).reshape(-1, 3)),
            ids=np.zeros(n, np.uint32) if ids is None else np.asarray(ids, np.uint32),
            tags=np.zeros(n, np.uint8) if tags is None else np.asarray(tags, np.uint8),
            velocities=np.zeros((n, 3)) if velocities is None else np.asarray(velocities, float),
        )

    def __len__(self) -> int:
        return len(self.centers)


_last_scene: list[Any] = [None, None]  # (scene, boxes): several sensors share one tick's scene


def boxes_of(scene: Any) -> Boxes:
    """The scene's actors as Boxes, computed once per Scene object."""
    if _last_scene[0] is not scene:
        boxes = Boxes.from_arrays(
            scene.centers, scene.extents, scene.rotations, scene.ids, scene.tags, scene.velocities
        )
        _last_scene[0], _last_scene[1] = scene, boxes
    return _last_scene[1]


@dataclass
class RayHits:
    """What each ray hit first."""

    t: np.ndarray  # (M,) float32 ray parameter of the hit; inf where nothing was hit
    box: np.ndarray  # (M,) int32 index into Boxes; HIT_GROUND or HIT_NOTHING otherwise
    surface: np.ndarray  # (M,) uint8 GroundModel surface code (meaningful where box == HIT_GROUND)
    normal: np.ndarray  # (M, 3) float32 world unit normal of the box face hit (0 otherwise)

    def surface_normals(self) -> np.ndarray:
        """(M, 3) world unit normal of whatever was hit: box faces, and up for the ground."""
        out = self.normal.copy()
        out[self.box == HIT_GROUND] = (0.0, 0.0, 1.0)
        return out

    def labels(self, boxes: Boxes, nothing: int = LABEL_SKY) -> np.ndarray:
        """(M,) uint8 CityObjectLabel of what each ray hit (`nothing` where it hit nothing)."""
        out = np.full(len(self.t), nothing, np.uint8)
        ground = self.box == HIT_GROUND
        out[ground] = SURFACE_LABELS[np.minimum(self.surface[ground], len(SURFACE_LABELS) - 1)]
        actor = self.box >= 0
        if actor.any():
            out[actor] = boxes.tags[self.box[actor]]
        return out

    def actor_ids(self, boxes: Boxes) -> np.ndarray:
        """(M,) uint32 id of the actor each ray hit, 0 for the ground or nothing."""
        out = np.zeros(len(self.t), np.uint32)
        actor = self.box >= 0
        if actor.any():
            out[actor] = boxes.ids[self.box[actor]]
        return out


def intersect_ground(
    origin: np.ndarray,
    dirs: np.ndarray,
    ground: Ground | None,
    t_max: float,
    iterations: int = 2,
) -> np.ndarray:
    """(M,) float32 ray parameter where each ray meets the ground, inf if not within t_max.

    Heights come from the map's cached HeightGrid when it has one; flat maps are one plane
    (exact). Otherwise, for rays pointing down, the gap g(t) = ray z - ground z is driven to zero
    by the secant method, starting from t = 0 and the plane through the ground under the origin:
    exact after one step on uniform slopes, and converging quickly on the gentle curvature of
    roads. Rays closer to horizontal than the map's road grade (which may meet a hill ahead, even
    going up) are marched and bracketed instead.
    """
    t = np.full(len(dirs), np.inf, np.float32)
    if ground is None:
        return t
    down = np.flatnonzero(dirs[:, 2] < -1e-6)
    if len(down) == 0:
        return t
    grid = height_grid(ground)
    ox, oy, oz = (float(v) for v in origin)

    def heights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if grid is not None:
            return grid.height(x, y, oz)
        return ground.height(x, y, np.full(np.shape(x), oz))  # exact (slower) query

    d = dirs[down]
    h0 = float(np.asarray(heights(np.array([ox]), np.array([oy])), dtype=np.float64)[0])
    t_b = (np.float32(h0 - oz)) / d[:, 2]
    if not (grid is not None and grid.flat_height is not None):
        t_a: np.ndarray = np.zeros(len(d), np.float32)
        g_a: np.ndarray = np.full(len(d), np.float32(oz - h0))
        for _ in range(iterations):
            tq = np.clip(t_b, 0.0, 2.0 * t_max)  # keep queries near the map for grazing rays
            h = np.asarray(heights(ox + tq * d[:, 0], oy + tq * d[:, 1]), dtype=np.float32)
            g_b = np.float32(oz) + tq * d[:, 2] - h
            with np.errstate(divide="ignore", invalid="ignore"):
                t_c = tq - g_b * (tq - t_a) / (g_b - g_a)
            t_c = np.where(np.isfinite(t_c), t_c, tq).astype(np.float32)
            t_a, g_a, t_b = tq, g_b, t_c
            if np.abs(g_b).max(initial=0.0) < 1e-3:
                break
    ok = (t_b > 0) & (t_b <= t_max)
    t[down[ok]] = t_b[ok]
    if grid is not None and grid.flat_height is None and grid.max_slope > 0:
        # near-horizontal rays can meet a hill ahead, even going up: march and bracket them
        horizontal = np.hypot(dirs[:, 0], dirs[:, 1])
        near = np.flatnonzero(np.abs(dirs[:, 2]) < grid.max_slope * horizontal)
        if len(near):
            t[near] = march_to_ground(origin, dirs[near], heights, t_max, grid.max_height)
    return t


MARCH_STEPS = 12  # geometric samples along a ray, from t_max / 1000 to t_max
MARCH_REFINEMENTS = 3  # regula falsi steps inside the first bracket


def march_to_ground(
    origin: np.ndarray,
    dirs: np.ndarray,
    heights: Callable[[np.ndarray, np.ndarray], np.ndarray],
    t_max: float,
    max_height: float = np.inf,
) -> np.ndarray:
    """First crossing of each ray below the ground (inf if none within t_max).

    Samples the gap g(t) = ray z - ground z at geometrically spaced t, brackets the first sign
    change from above to below, then refines it by regula falsi.
    """
    ox, oy, oz = (float(v) for v in origin)

    def gap(tt: np.ndarray, d: np.ndarray) -> np.ndarray:
        h = np.asarray(heights(ox + tt * d[:, 0], oy + tt * d[:, 1]), dtype=np.float32)
        return np.float32(oz) + tt * d[:, 2] - h

    n = len(dirs)
    lo, hi = np.zeros(n, np.float32), np.full(n, np.inf, np.float32)
    g_lo = gap(np.zeros(n, np.float32), dirs)
    g_hi = np.zeros(n, np.float32)
    pending = np.flatnonzero(g_lo >= 0)  # rays that start above the ground
    for tk in np.geomspace(t_max / 1000.0, t_max, MARCH_STEPS).astype(np.float32):
        if len(pending) == 0:
            break
        g = gap(np.full(len(pending), tk), dirs[pending])
        crossed = g < 0
        done, going = pending[crossed], pending[~crossed]
        hi[done], g_hi[done] = tk, g[crossed]
        lo[going], g_lo[going] = tk, g[~crossed]
        # rays already above the highest ground and not descending can never meet it
        climbing_clear = (oz + tk * dirs[going, 2] > max_height) & (dirs[going, 2] >= 0)
        pending = going[~climbing_clear]
    found = np.flatnonzero(np.isfinite(hi))
    t = np.full(n, np.inf, np.float32)
    if len(found) == 0:
        return t
    a, b, ga, gb = lo[found], hi[found], g_lo[found], g_hi[found]
    for _ in range(MARCH_REFINEMENTS):
        c = (a - ga * (b - a) / (gb - ga)).astype(np.float32)
        gc = gap(c, dirs[found])
        above = gc >= 0
        a, ga = np.where(above, c, a), np.where(above, gc, ga)
        b, gb = np.where(above, b, c), np.where(above, gb, gc)
    t[found] = a - ga * (b - a) / (gb - ga)
    return t


CandidatePairs = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def cone_candidates(origin: np.ndarray, dirs: np.ndarray, boxes: Boxes) -> CandidatePairs:
    """Pairs of each box with the rays inside the cone that bounds its sphere."""

    def pairs(in_range: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = boxes.centers[in_range] - np.asarray(origin, dtype=np.float64)
        dist = np.linalg.norm(rel, axis=1)
        radius = np.linalg.norm(boxes.extents[in_range], axis=1)
        inside = dist <= radius  # the origin is in (or near) the sphere: every ray
        cos_limit = np.sqrt(np.clip(1.0 - (radius / np.maximum(dist, 1e-9)) ** 2, 0.0, 1.0))
        cos_limit[inside] = -2.0
        norms = np.sqrt(np.einsum("ij,ij->i", dirs, dirs))
        cosines = dirs @ f32(rel.T / np.maximum(dist, 1e-9))
        rays, which = np.nonzero(cosines >= norms[:, None] * f32(cos_limit)[None, :])
        return rays, in_range[which]

    return pairs


def boxes_in_range(origin: np.ndarray, boxes: Boxes, max_range: float) -> np.ndarray:
    """Indices of the boxes whose bounding sphere comes within max_range of origin."""
    dist = np.linalg.norm(boxes.centers - np.asarray(origin, dtype=np.float64), axis=1)
    return np.flatnonzero(dist - np.linalg.norm(boxes.extents, axis=1) <= max_range)


def intersect_boxes(
    origin: np.ndarray,
    dirs: np.ndarray,
    boxes: Boxes,
    t_limit: np.ndarray,
    max_range: float,
    candidates: CandidatePairs | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest box hit per ray closer than t_limit (slab test, all candidate pairs at once).

    Returns (t, box index or -1, world normal); t is t_limit where no box is closer. Boxes out
    of `max_range` (euclidean) are skipped, and only the (ray, box) pairs from `candidates`
    (default: the cone bounding each box's sphere) are tested.
    """
    n = len(dirs)
    best_t = np.array(t_limit, dtype=np.float32, copy=True)
    best_box = np.full(n, -1, np.int32)
    normal = np.zeros((n, 3), np.float32)
    if len(boxes) == 0 or n == 0:
        return best_t, best_box, normal
    in_range = boxes_in_range(origin, boxes, max_range)
    if len(in_range) == 0:
        return best_t, best_box, normal
    if candidates is None:
        candidates = cone_candidates(origin, dirs, boxes)
    rays, which = candidates(in_range)
    if len(rays) == 0:
        return best_t, best_box, normal
    # how close each box can come along each ray (in t): pairs that cannot beat what the ray
    # already hit are dropped, and near boxes go first so that they occlude the far ones
    rel = boxes.centers - np.asarray(origin, dtype=np.float64)
    closest = np.maximum(
        np.linalg.norm(rel, axis=1) - np.linalg.norm(boxes.extents, axis=1), 0.0
    ).astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", dirs, dirs))
    axes = f32(boxes.axes)
    o_local = f32(np.einsum("bij,bi->bj", boxes.axes, -rel))
    extents = f32(boxes.extents)
    rank = np.empty(len(boxes), np.int64)
    rank[np.argsort(closest)] = np.arange(len(boxes))
    chunks = max(1, min(OCCLUSION_PASSES, len(rays) // PAIRS_PER_PASS))
    band = rank[which] * chunks // len(boxes)
    for chunk in range(chunks):
        sel = np.flatnonzero((band == chunk) & (closest[which] < best_t[rays] * norms[rays]))
        if len(sel):
            _slab_pass(
                rays[sel], which[sel], dirs, axes, o_local, extents, best_t, best_box, normal
            )
    return best_t, best_box, normal


OCCLUSION_PASSES = 4  # near-to-far passes over the (ray, box) pairs in crowded scenes
PAIRS_PER_PASS = 5000  # below this many pairs, one pass


def _slab_pass(
    rays: np.ndarray,
    which: np.ndarray,
    dirs: np.ndarray,
    axes: np.ndarray,
    o_local: np.ndarray,
    extents: np.ndarray,
    best_t: np.ndarray,
    best_box: np.ndarray,
    normal: np.ndarray,
) -> None:
    """Slab test of (ray, box) pairs; updates the per-ray nearest hit arrays in place."""
    e = extents[which]
    o = o_local[which]
    d = np.einsum("pi,pij->pj", dirs[rays], axes[which])
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (-e - o) * inv
        t2 = (e - o) * inv
    t_in = np.minimum(t1, t2)
    t_out = np.maximum(t1, t2)
    t_near = np.maximum(np.maximum(t_in[:, 0], t_in[:, 1]), t_in[:, 2])
    t_far = np.minimum(np.minimum(t_out[:, 0], t_out[:, 1]), t_out[:, 2])
    hit = np.flatnonzero((t_near <= t_far) & (t_near > 0) & (t_near < best_t[rays]))
    if len(hit) == 0:
        return
    # nearest hit per ray: sort by (ray, t) and keep each ray's first
    order = hit[np.lexsort((t_near[hit], rays[hit]))]
    first = np.concatenate([[True], rays[order][1:] != rays[order][:-1]])
    win = order[first]
    r = rays[win]
    best_t[r] = t_near[win]
    best_box[r] = which[win]
    axis = t_in[win].argmax(axis=1)
    sign = -np.sign(d[win, axis])
    normal[r] = axes[which[win], :, axis] * sign[:, None]


def cast_rays(
    origin: np.ndarray,
    dirs: np.ndarray,
    boxes: Boxes,
    ground: Ground | None,
    t_max: float,
    ground_iterations: int = 2,
    candidates: CandidatePairs | None = None,
    max_dir_norm: float | None = None,
) -> RayHits:
    """First hit of every ray `origin + t * dirs[i]` with 0 < t <= t_max.

    `max_dir_norm` (the longest direction vector, if the caller knows it) saves a pass.
    """
    dirs = np.asarray(dirs, dtype=np.float32)
    origin = np.asarray(origin, dtype=np.float64)
    t_ground = intersect_ground(origin, dirs, ground, t_max, ground_iterations)
    if max_dir_norm is None:
        max_dir_norm = float(np.sqrt(np.einsum("ij,ij->i", dirs, dirs).max())) if len(dirs) else 0
    max_range = t_max * max_dir_norm
    limit = np.minimum(t_ground, np.float32(t_max))
    t, box, normal = intersect_boxes(origin, dirs, boxes, limit, max_range, candidates)
    t = np.where(box >= 0, t, t_ground)
    on_ground = (box < 0) & np.isfinite(t_ground)
    box[on_ground] = HIT_GROUND
    box[(box < 0) & ~on_ground] = HIT_NOTHING
    surface = np.zeros(len(dirs), np.uint8)
    g = np.flatnonzero(on_ground)
    if ground is not None and len(g):  # rays meet the ground only where there is one
        p = origin[:2].astype(np.float32) + t[g, None] * dirs[g, :2]
        surface[g] = np.asarray(ground.surface(p[:, 0], p[:, 1]), dtype=np.uint8)
    return RayHits(t=t, box=box, surface=surface, normal=normal)
