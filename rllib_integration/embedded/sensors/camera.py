"""Cameras: rgb, depth, semantic and instance segmentation, by ray casting one ray per pixel.

Also what the scene lets this server render of CARLA's other cameras: `normals` (world surface
normals, each component mapped from [-1, 1] to 0..255 in R, G, B; black sky),
`cosmos_visualization` (the RGB view: the embedded scene has none of the render passes Cosmos
control inputs come from) and `optical_flow` (zero flow: no motion vectors are computed).

Every camera image is CARLA's `ImageSerializer` payload: a 12-byte header (width u32, height
u32, fov f32) followed by width*height BGRA8 pixels, row-major from the top-left. The pinhole
model is CARLA's: focal = width / (2 tan(fov/2)), principal point at the image centre, square
pixels; depth is the distance along the camera's x axis (not along the ray), encoded in 24 bits
as (R + G*256 + B*65536) / (256**3 - 1) * 1000 m.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import SENSOR_TYPE_IDS, register_sensor
from rllib_integration.embedded.sensors.attributes import (
    attribute,
    from_attributes,
    require,
    tick_attribute,
)
from rllib_integration.embedded.sensors.geometry import rotation_matrix
from rllib_integration.embedded.sensors.raycast import (
    HIT_GROUND,
    HIT_NOTHING,
    Boxes,
    CandidatePairs,
    Ground,
    RayHits,
    boxes_of,
    cast_rays,
    f32,
)

IMAGE_HEADER = struct.Struct("<IIf")  # width, height, fov: 12 B
MAX_DEPTH = 1000.0  # metres; CARLA's depth encoding saturates here (the sky)
DEPTH_SCALE = 256**3 - 1

# RGB colours (R, G, B) of the static world per GroundModel surface code:
# terrain, road, sidewalk, shoulder/parking, white marking, yellow marking.
SURFACE_RGB = np.array(
    [
        (96, 128, 72),
        (84, 84, 88),
        (168, 160, 150),
        (104, 100, 100),
        (236, 236, 236),
        (232, 190, 48),
    ],
    dtype=np.float32,
)
SKY_RGB = np.array((140, 182, 232), dtype=np.float32)
# RGB colours per CityObjectLabel for actors (anything else gets DEFAULT_ACTOR_RGB).
ACTOR_RGB = {
    12: (222, 152, 112),  # Pedestrians
    13: (200, 120, 90),  # Rider
    14: (176, 36, 40),  # Car
    15: (58, 92, 162),  # Truck
    16: (222, 164, 30),  # Bus
    18: (146, 64, 150),  # Motorcycle
    19: (40, 150, 150),  # Bicycle
    20: (122, 112, 100),  # Static
    21: (150, 132, 100),  # Dynamic
}
DEFAULT_ACTOR_RGB = (128, 128, 128)
_ACTOR_RGB_TABLE = np.tile(np.array(DEFAULT_ACTOR_RGB, np.float32), (256, 1))
for _label, _rgb in ACTOR_RGB.items():
    _ACTOR_RGB_TABLE[_label] = _rgb
_SUN = (np.array((-0.35, 0.25, 0.9)) / np.linalg.norm((-0.35, 0.25, 0.9))).astype(np.float32)


def focal_length(width: int, fov_deg: float) -> float:
    return width / (2.0 * np.tan(np.radians(fov_deg) / 2.0))


def camera_rays(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(H*W, 3) float32 pixel ray directions in the camera frame, x (forward) component 1.

    Row-major from the top-left pixel, through pixel centres; y right, z up.
    """
    f = focal_length(width, fov_deg)
    ys = (np.arange(width, dtype=np.float64) + 0.5 - width / 2.0) / f
    zs = -(np.arange(height, dtype=np.float64) + 0.5 - height / 2.0) / f
    rays = np.empty((height, width, 3), np.float32)
    rays[..., 0] = 1.0
    rays[..., 1] = ys[None, :]
    rays[..., 2] = zs[:, None]
    return rays.reshape(-1, 3)


_CORNER_SIGNS = np.array(
    [(sx, sy, sz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


# The 12 edges of a box as pairs of corner indices (corners differ in one sign).
_EDGES = np.array(
    [(i, i | bit) for i in range(8) for bit in (1, 2, 4) if not i & bit], dtype=np.intp
)
_NEAR = 1e-3  # metres: the camera's near plane for clipping boxes


def box_corners(boxes: Boxes) -> np.ndarray:
    """(B, 8, 3) world corners of every box."""
    local = _CORNER_SIGNS[None, :, :] * boxes.extents[:, None, :]
    return boxes.centers[:, None, :] + np.einsum("bij,bkj->bki", boxes.axes, local)


def screen_rect_candidates(
    location: np.ndarray,
    rotation: np.ndarray,
    width: int,
    height: int,
    fov: float,
    boxes: Boxes,
) -> CandidatePairs:
    """Pairs of each box with the pixels inside its projected bounding rectangle.

    The boxes are clipped to the space in front of the camera first (corners in front, plus
    where the edges cross the near plane), so a car alongside the camera only claims the part
    of the image it can cover, and boxes entirely behind claim nothing.
    """

    def pairs(in_range: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = focal_length(width, fov)
        corners = box_corners(boxes)[in_range] - np.asarray(location, np.float64)
        cam = corners @ rotation_matrix(rotation)  # (B, 8, 3) in the camera frame
        a, b = cam[:, _EDGES[:, 0]], cam[:, _EDGES[:, 1]]  # (B, 12, 3) edge end points
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (_NEAR - a[..., 0]) / (b[..., 0] - a[..., 0])
        crossing = (s > 0) & (s < 1)
        s = np.where(crossing, s, 0.0)
        points = np.concatenate([cam, a + s[..., None] * (b - a)], axis=1)
        valid = np.concatenate([cam[..., 0] >= _NEAR, crossing], axis=1)
        x = np.where(valid, points[..., 0], 1.0)
        u = f * points[..., 1] / x + width / 2.0
        v = -f * points[..., 2] / x + height / 2.0
        inf = np.inf
        c0 = np.floor(np.where(valid, u, inf).min(axis=1) - 0.5)
        c1 = np.ceil(np.where(valid, u, -inf).max(axis=1) - 0.5)
        r0 = np.floor(np.where(valid, v, inf).min(axis=1) - 0.5)
        r1 = np.ceil(np.where(valid, v, -inf).max(axis=1) - 0.5)
        seen = valid.any(axis=1)
        c0 = np.clip(np.nan_to_num(c0, posinf=width), 0, width).astype(np.int64)
        c1 = np.clip(np.nan_to_num(c1, neginf=-1), -1, width - 1).astype(np.int64)
        r0 = np.clip(np.nan_to_num(r0, posinf=height), 0, height).astype(np.int64)
        r1 = np.clip(np.nan_to_num(r1, neginf=-1), -1, height - 1).astype(np.int64)
        rays, which = [], []
        for k in np.flatnonzero(seen & (c0 <= c1) & (r0 <= r1)).tolist():
            rows = np.arange(r0[k], r1[k] + 1)[:, None] * width
            pixels = (rows + np.arange(c0[k], c1[k] + 1)[None, :]).ravel()
            rays.append(pixels)
            which.append(np.full(len(pixels), in_range[k], np.int64))
        if not rays:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rays), np.concatenate(which)

    return pairs


def cast_camera(
    location: np.ndarray,
    rotation: np.ndarray,
    rays_cam: np.ndarray,
    boxes: Boxes,
    ground: Ground | None,
    width: int,
    height: int,
    fov: float,
) -> RayHits:
    """Cast the camera's pixel rays; `t` of the result is the planar depth in metres."""
    world_dirs = rays_cam @ f32(rotation_matrix(rotation).T)
    rects = screen_rect_candidates(location, rotation, width, height, fov, boxes)
    longest = float(np.linalg.norm(rays_cam[[0, -1]], axis=1).max())  # a corner pixel's ray
    return cast_rays(
        location, world_dirs, boxes, ground, MAX_DEPTH, candidates=rects, max_dir_norm=longest
    )


_OPAQUE = np.uint32(0xFF000000)


def pack_bgra(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Channels -> uint32 pixels whose little-endian bytes are B, G, R, A=255."""
    return _OPAQUE | (r.astype(np.uint32) << 16) | (g.astype(np.uint32) << 8) | b.astype(np.uint32)


def as_image(packed: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H*W,) uint32 packed pixels -> (H, W, 4) uint8 BGRA view."""
    return packed.astype("<u4", copy=False).view(np.uint8).reshape(height, width, 4)


def depth_code(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint32 24-bit code of CARLA's depth encoding (R + G*256 + B*65536)."""
    scaled = np.clip(depth, 0.0, MAX_DEPTH) * np.float32(DEPTH_SCALE / MAX_DEPTH)
    return np.rint(np.nan_to_num(scaled, posinf=DEPTH_SCALE)).astype(np.uint32)


def encode_depth(depth: np.ndarray) -> np.ndarray:
    """Metres -> (M, 3) uint8 R, G, B in CARLA's 24-bit depth encoding (R least significant)."""
    v = depth_code(depth)
    return np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8)


def decode_depth(bgra_pixels: np.ndarray) -> np.ndarray:
    """(..., 4) BGRA uint8 -> metres (the inverse of encode_depth, as CARLA users decode it)."""
    p = bgra_pixels.astype(np.float64)
    return (p[..., 2] + p[..., 1] * 256.0 + p[..., 0] * 65536.0) / DEPTH_SCALE * MAX_DEPTH


def _packed_palette(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.uint32)
    return pack_bgra(rgb[:, 0], rgb[:, 1], rgb[:, 2])


# 0: sky, 1..: ground surfaces, beyond: padding (unused surface codes look like terrain)
_STATIC_PALETTE = _packed_palette(
    np.concatenate([SKY_RGB[None], SURFACE_RGB, np.tile(SURFACE_RGB[:1], (250, 1))])
)


def shade_rgb(hits: RayHits, boxes: Boxes) -> np.ndarray:
    """(M,) packed BGRA: a fixed colour per class; actors Lambert-shaded by their face normal."""
    index = np.where(hits.box == HIT_GROUND, hits.surface.astype(np.intp) + 1, 0)
    out = np.take(_STATIC_PALETTE, index)
    actor = np.flatnonzero(hits.box >= 0)
    if len(actor):
        light = 0.45 + 0.55 * np.clip(hits.normal[actor] @ _SUN, 0.0, 1.0)
        colour = _ACTOR_RGB_TABLE[boxes.tags[hits.box[actor]]] * light[:, None]
        out[actor] = pack_bgra(colour[:, 0], colour[:, 1], colour[:, 2])
    return out


def render(kind: str, hits: RayHits, boxes: Boxes, width: int, height: int) -> np.ndarray:
    """(H, W, 4) BGRA8 image of one camera kind from its ray hits."""
    if kind in ("rgb", "cosmos_visualization"):
        return as_image(shade_rgb(hits, boxes), width, height)
    if kind == "normals":
        code = np.rint((hits.surface_normals() + 1.0) * 127.5).astype(np.uint32)
        code[hits.box == HIT_NOTHING] = 0
        return as_image(pack_bgra(code[:, 0], code[:, 1], code[:, 2]), width, height)
    if kind == "depth":
        v = depth_code(hits.t)  # inf (the sky) saturates at 1000 m
        packed = _OPAQUE | ((v & 0xFF) << 16) | (v & 0xFF00) | ((v >> 16) & 0xFF)
        return as_image(packed, width, height)
    labels = hits.labels(boxes).astype(np.uint32)
    if kind == "instance_segmentation":
        ids = hits.actor_ids(boxes)
        return as_image(pack_bgra(labels, ids & 0xFF, (ids >> 8) & 0xFF), width, height)
    return as_image(_OPAQUE | (labels << 16), width, height)


CAMERA_KINDS = (
    "rgb",
    "depth",
    "semantic_segmentation",
    "instance_segmentation",
    "normals",
    "cosmos_visualization",
    "optical_flow",
)
# What one camera may cost: a 4K frame renders in ~10 s and peaks at ~600 MB here.
MAX_SIDE = 8192
MAX_PIXELS = 3840 * 2160


@dataclass
class CameraSensor:
    """One server-side camera; `measure` renders and serialises this tick's image."""

    kind: str
    width: int = attribute(800, "image_size_x", maximum=MAX_SIDE)
    height: int = attribute(600, "image_size_y", maximum=MAX_SIDE)
    fov: float = attribute(90.0)
    sensor_tick: float = tick_attribute()
    type_id: int = field(init=False)
    _rays: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        require(self.kind in CAMERA_KINDS, f"unknown camera kind {self.kind!r}")
        require(self.width > 0, f"camera attribute 'image_size_x'={self.width} must be > 0")
        require(self.height > 0, f"camera attribute 'image_size_y'={self.height} must be > 0")
        require(0.0 < self.fov < 180.0, f"camera attribute 'fov'={self.fov} must be in (0, 180)")
        require(
            self.width * self.height <= MAX_PIXELS,
            f"camera of {self.width}x{self.height} pixels: at most {MAX_PIXELS} (3840x2160)",
        )
        self.type_id = SENSOR_TYPE_IDS[f"sensor.camera.{self.kind}"]
        self._rays = camera_rays(self.width, self.height, self.fov)
        self._header = IMAGE_HEADER.pack(self.width, self.height, self.fov)

    def image(self, scene: Scene, pose: SensorPose) -> np.ndarray:
        """(H, W, 4) BGRA8 image of the scene from this pose."""
        boxes = boxes_of(scene)
        hits = cast_camera(
            pose.location,
            pose.rotation,
            self._rays,
            boxes,
            scene.ground,
            self.width,
            self.height,
            self.fov,
        )
        return render(self.kind, hits, boxes, self.width, self.height)

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        if self.kind == "optical_flow":  # (u, v) float32 per pixel
            return self._header + bytes(8 * self.width * self.height)
        return self._header + self.image(scene, pose).tobytes()


def _register(kind: str) -> None:
    @register_sensor(f"sensor.camera.{kind}", CameraSensor)
    def make(attributes: dict[str, str]) -> CameraSensor:
        return from_attributes(CameraSensor, attributes, kind=kind)


for _kind in CAMERA_KINDS:
    _register(_kind)
