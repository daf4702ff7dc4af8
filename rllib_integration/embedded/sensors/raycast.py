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

# CARLA CityObjectLabel values the ray sensors produce for the static world.
LABEL_NONE, LABEL_ROADS, LABEL_SIDEWALKS, LABEL_TERRAIN, LABEL_SKY = 0, 1, 2, 10, 11
LABEL_ROADLINES, LABEL_GROUND = 24, 25

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

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...

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
    normal: np.ndarray  # (M, 3) float32 world unit normal of the surface hit (0 for no hit)

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

    Starts from the horizontal plane at the ground height under the origin, then re-solves
    against the height found at the previous estimate (`iterations` times): exact on flat or
    uniformly sloped-under-origin ground, and close on the gentle slopes of road maps.
    """
    t = np.full(len(dirs), np.inf, np.float32)
    if ground is None:
        return t
    down = np.flatnonzero(dirs[:, 2] < -1e-6)
    if len(down) == 0:
        return t
    ox, oy, oz = (float(v) for v in origin)
    d = dirs[down]
    inv_dz = 1.0 / d[:, 2]
    h0 = float(np.asarray(ground.height(np.array([ox]), np.array([oy])), dtype=np.float64)[0])
    tt = (h0 - oz) * inv_dz
    for _ in range(iterations):
        tq = np.clip(tt, 0.0, t_max)  # keep queries near the map even for grazing rays
        h = np.asarray(ground.height(ox + tq * d[:, 0], oy + tq * d[:, 1]), dtype=np.float32)
        t_new = (h - np.float32(oz)) * inv_dz
        converged = np.allclose(t_new, tt, rtol=1e-4, atol=1e-3)
        tt = t_new
        if converged:  # flat under every ray: the plane solution was already exact
            break
    ok = (tt > 0) & (tt <= t_max)
    t[down[ok]] = tt[ok]
    return t


CandidateRays = Callable[[int], "np.ndarray | None"]


def cone_candidates(origin: np.ndarray, dirs: np.ndarray, boxes: Boxes) -> CandidateRays:
    """Per box, the rays inside the cone that bounds its sphere (None = every ray)."""
    rel = boxes.centers - np.asarray(origin, dtype=np.float64)
    dist = np.linalg.norm(rel, axis=1)
    radius = np.linalg.norm(boxes.extents, axis=1)
    far = np.flatnonzero(dist > radius)
    if len(far) == 0:
        return lambda b: None
    norms = np.sqrt(np.einsum("ij,ij->i", dirs, dirs))
    cosines = (dirs @ f32(rel[far].T / dist[far])) / norms[:, None]
    column = {b: i for i, b in enumerate(far.tolist())}
    cos_limit = np.sqrt(np.clip(1.0 - (radius / np.maximum(dist, 1e-9)) ** 2, 0.0, 1.0))

    def candidates(b: int) -> np.ndarray | None:
        if b not in column:
            return None
        return np.flatnonzero(cosines[:, column[b]] >= cos_limit[b])

    return candidates


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
    candidates: CandidateRays | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest box hit per ray closer than t_limit (slab test).

    Returns (t, box index or -1, world normal); t is t_limit where no box is closer. Boxes out
    of `max_range` (euclidean) are skipped; `candidates(b)` narrows the rays tested against box
    b (default: the cone bounding its sphere), so the slab test only runs where it may hit.
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
    origin = np.asarray(origin, dtype=np.float64)
    dirs_t = f32(dirs.T)  # (3, n): per-axis rows keep the slab arithmetic contiguous
    for b in in_range.tolist():
        idx = candidates(b)
        if idx is not None and len(idx) == 0:
            continue
        axes = boxes.axes[b]
        o = ((origin - boxes.centers[b]) @ axes).astype(np.float32)[:, None]
        e = boxes.extents[b].astype(np.float32)[:, None]
        d = f32(axes.T) @ (dirs_t if idx is None else dirs_t[:, idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1 = (-e - o) * inv
            t2 = (e - o) * inv
        t_in = np.minimum(t1, t2)
        t_out = np.maximum(t1, t2)
        t_near = np.maximum(np.maximum(t_in[0], t_in[1]), t_in[2])
        t_far = np.minimum(np.minimum(t_out[0], t_out[1]), t_out[2])
        current = best_t if idx is None else best_t[idx]
        hit = (t_near <= t_far) & (t_near > 0) & (t_near < current)
        hit_cols = np.flatnonzero(hit)
        if len(hit_cols) == 0:
            continue
        rows = hit_cols if idx is None else idx[hit_cols]
        best_t[rows] = t_near[hit_cols]
        best_box[rows] = b
        axis = t_in[:, hit_cols].argmax(axis=0)
        sign = -np.sign(d[axis, hit_cols])
        normal[rows] = axes.T[axis].astype(np.float32) * sign[:, None]
    return best_t, best_box, normal


def cast_rays(
    origin: np.ndarray,
    dirs: np.ndarray,
    boxes: Boxes,
    ground: Ground | None,
    t_max: float,
    ground_iterations: int = 2,
    candidates: CandidateRays | None = None,
) -> RayHits:
    """First hit of every ray `origin + t * dirs[i]` with 0 < t <= t_max."""
    dirs = np.asarray(dirs, dtype=np.float32)
    origin = np.asarray(origin, dtype=np.float64)
    t_ground = intersect_ground(origin, dirs, ground, t_max, ground_iterations)
    max_range = (
        float(t_max * np.sqrt(np.einsum("ij,ij->i", dirs, dirs).max())) if len(dirs) else 0.0
    )
    limit = np.minimum(t_ground, np.float32(t_max))
    t, box, normal = intersect_boxes(origin, dirs, boxes, limit, max_range, candidates)
    t = np.where(box >= 0, t, t_ground)
    on_ground = (box < 0) & np.isfinite(t_ground)
    box[on_ground] = HIT_GROUND
    box[(box < 0) & ~on_ground] = HIT_NOTHING
    surface = np.zeros(len(dirs), np.uint8)
    g = np.flatnonzero(on_ground)
    if len(g):
        p = origin[:2].astype(np.float32) + t[g, None] * dirs[g, :2]
        surface[g] = np.asarray(ground.surface(p[:, 0], p[:, 1]), dtype=np.uint8)
        normal[g] = (0.0, 0.0, 1.0)
    return RayHits(t=t, box=box, surface=surface, normal=normal)
