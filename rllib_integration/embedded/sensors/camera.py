"""Cameras: rgb, depth, semantic and instance segmentation, by ray casting one ray per pixel.

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
from rllib_integration.embedded.sensors.attributes import get_float, get_int, require, sensor_tick
from rllib_integration.embedded.sensors.geometry import rotation_matrix
from rllib_integration.embedded.sensors.raycast import (
    HIT_GROUND,
    HIT_NOTHING,
    Boxes,
    CandidateRays,
    Ground,
    RayHits,
    boxes_of,
    cast_rays,
    f32,
)

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
_PALETTE = np.concatenate(
    [SKY_RGB[None], SURFACE_RGB, np.tile(SKY_RGB, (16 - 1 - len(SURFACE_RGB), 1)), _ACTOR_RGB_TABLE]
).astype(np.float32)
_SUN = (np.array((-0.35, 0.25, 0.9)) / np.linalg.norm((-0.35, 0.25, 0.9))).astype(np.float32)
_FOG_DISTANCE = 600.0  # metres over which colours fade 63% towards the sky colour


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
) -> CandidateRays:
    """Per box, the pixels (flat indices) inside its projected bounding rectangle.

    Boxes entirely behind the camera get no pixels; boxes straddling the camera plane get
    every pixel (None), which is rare and always correct.
    """
    if len(boxes) == 0:
        return lambda b: None
    f = focal_length(width, fov)
    cam = (box_corners(boxes) - np.asarray(location, np.float64)) @ rotation_matrix(rotation)
    x = cam[..., 0]
    near = 1e-3
    all_pixels = np.arange(width * height)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = f * cam[..., 1] / x + width / 2.0
        v = -f * cam[..., 2] / x + height / 2.0

    def candidates(b: int) -> np.ndarray | None:
        if (x[b] <= near).all():
            return all_pixels[:0]
        if (x[b] <= near).any():
            return None
        c0 = max(int(np.floor(u[b].min() - 0.5)), 0)
        c1 = min(int(np.ceil(u[b].max() - 0.5)), width - 1)
        r0 = max(int(np.floor(v[b].min() - 0.5)), 0)
        r1 = min(int(np.ceil(v[b].max() - 0.5)), height - 1)
        if c0 > c1 or r0 > r1:
            return all_pixels[:0]
        rows = np.arange(r0, r1 + 1)[:, None] * width
        return (rows + np.arange(c0, c1 + 1)[None, :]).ravel()

    return candidates


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
    return cast_rays(location, world_dirs, boxes, ground, MAX_DEPTH, candidates=rects)


def bgra(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H*W, 3) uint8 RGB -> (H, W, 4) uint8 BGRA with alpha 255."""
    out = np.empty((height * width, 4), np.uint8)
    out[:, 0] = rgb[:, 2]
    out[:, 1] = rgb[:, 1]
    out[:, 2] = rgb[:, 0]
    out[:, 3] = 255
    return out.reshape(height, width, 4)


def encode_depth(depth: np.ndarray) -> np.ndarray:
    """Metres -> (M, 3) uint8 RGB in CARLA's 24-bit depth encoding (R least significant)."""
    scaled = np.clip(depth, 0.0, MAX_DEPTH) * (DEPTH_SCALE / MAX_DEPTH)
    v = np.rint(np.nan_to_num(scaled, posinf=DEPTH_SCALE)).astype(np.uint32)
    rgb = np.empty((len(v), 3), np.uint8)
    rgb[:, 0] = v & 0xFF
    rgb[:, 1] = (v >> 8) & 0xFF
    rgb[:, 2] = (v >> 16) & 0xFF
    return rgb


def decode_depth(bgra_pixels: np.ndarray) -> np.ndarray:
    """(..., 4) BGRA uint8 -> metres (the inverse of encode_depth, as CARLA users decode it)."""
    p = bgra_pixels.astype(np.float64)
    return (p[..., 2] + p[..., 1] * 256.0 + p[..., 0] * 65536.0) / DEPTH_SCALE * MAX_DEPTH


def shade_rgb(hits: RayHits, boxes: Boxes) -> np.ndarray:
    """(M, 3) uint8 RGB: a fixed colour per class, Lambert-shaded actors, distance haze."""
    actor = hits.box >= 0
    tags = boxes.tags[np.maximum(hits.box, 0)] if len(boxes) else np.zeros(len(hits.t), np.uint8)
    # one palette for everything: 0 sky, 1.. ground surfaces, 16 + label for actors
    index = np.where(actor, 16 + tags.astype(np.int32), 0)
    index = np.where(hits.box == HIT_GROUND, 1 + hits.surface.astype(np.int32), index)
    colour = np.take(_PALETTE, index, axis=0)
    light = np.where(actor, 0.45 + 0.55 * np.clip(hits.normal @ _SUN, 0.0, 1.0), 1.0)
    clear = np.exp(-hits.t / np.float32(_FOG_DISTANCE))  # 0 for the sky (t = inf)
    colour *= (light * clear)[:, None]
    colour += SKY_RGB * (1.0 - clear)[:, None]
    return colour.astype(np.uint8)


def render(kind: str, hits: RayHits, boxes: Boxes, width: int, height: int) -> np.ndarray:
    """(H, W, 4) BGRA8 image of one camera kind from its ray hits."""
    if kind == "rgb":
        return bgra(shade_rgb(hits, boxes), width, height)
    if kind == "depth":
        depth = np.where(hits.box == HIT_NOTHING, MAX_DEPTH, hits.t)
        return bgra(encode_depth(depth), width, height)
    rgb = np.zeros((len(hits.t), 3), np.uint8)
    rgb[:, 0] = hits.labels(boxes)
    if kind == "instance_segmentation":
        ids = hits.actor_ids(boxes)
        rgb[:, 1] = ids & 0xFF
        rgb[:, 2] = (ids >> 8) & 0xFF
    return bgra(rgb, width, height)


CAMERA_KINDS = ("rgb", "depth", "semantic_segmentation", "instance_segmentation")


@dataclass
class CameraSensor:
    """One server-side camera; `measure` renders and serialises this tick's image."""

    kind: str
    width: int
    height: int
    fov: float
    sensor_tick: float = 0.0
    type_id: int = field(init=False)
    _rays: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        require(self.kind in CAMERA_KINDS, f"unknown camera kind {self.kind!r}")
        require(self.width > 0, f"camera attribute 'image_size_x'={self.width} must be > 0")
        require(self.height > 0, f"camera attribute 'image_size_y'={self.height} must be > 0")
        require(0.0 < self.fov < 180.0, f"camera attribute 'fov'={self.fov} must be in (0, 180)")
        self.type_id = SENSOR_TYPE_IDS[f"sensor.camera.{self.kind}"]
        self._rays = camera_rays(self.width, self.height, self.fov)
        self._header = struct.pack("<IIf", self.width, self.height, self.fov)

    @classmethod
    def from_attributes(cls, kind: str, attributes: dict[str, str]) -> CameraSensor:
        return cls(
            kind=kind,
            width=get_int(attributes, "image_size_x", 800),
            height=get_int(attributes, "image_size_y", 600),
            fov=get_float(attributes, "fov", 90.0),
            sensor_tick=sensor_tick(attributes),
        )

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
        return self._header + self.image(scene, pose).tobytes()


def _register(kind: str) -> None:
    @register_sensor(f"sensor.camera.{kind}")
    def make(attributes: dict[str, str]) -> CameraSensor:
        return CameraSensor.from_attributes(kind, attributes)


for _kind in CAMERA_KINDS:
    _register(_kind)
