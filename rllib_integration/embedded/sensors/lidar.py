"""Rotating ray-cast lidars: `sensor.lidar.ray_cast` and `sensor.lidar.ray_cast_semantic`.

Each tick covers the slice of the sweep the laser turns through in the elapsed simulation time,
as CARLA does: `round(points_per_second * dt / channels)` rays per channel, spread over
`rotation_frequency * horizontal_fov * dt` degrees from where the last tick stopped. Channel i
points `upper_fov - i * (upper_fov - lower_fov) / (channels - 1)` degrees up. Points are in the
sensor frame (x forward, y right, z up, metres), grouped by channel.

Wire layout (CARLA's LidarSerializer / SemanticLidarSerializer): a uint32 header
`[horizontal_angle (float32 bits, radians), channel_count, points of channel 0, ...]`, then the
detections: `x, y, z, intensity` float32 (16 bytes) or `x, y, z, cos_inc_angle` float32 +
`object_idx, object_tag` uint32 (24 bytes).
"""

from __future__ import annotations

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
from rllib_integration.embedded.sensors.raycast import HIT_NOTHING, boxes_of, cast_rays, f32

LIDAR_POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])
SEMANTIC_LIDAR_POINT = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("cos_inc_angle", "<f4"),
        ("object_idx", "<u4"),
        ("object_tag", "<u4"),
    ]
)


@dataclass(frozen=True)
class LidarScan:
    """The scan pattern: the attributes of both lidars (the semantic lidar has only these)."""

    channels: int = attribute(32, maximum=256)  # real lidars have up to 128
    range: float = attribute(10.0)
    points_per_second: int = attribute(56000, maximum=5_000_000)  # real: up to ~5.2M
    rotation_frequency: float = attribute(10.0)
    upper_fov: float = attribute(10.0)
    lower_fov: float = attribute(-30.0)
    horizontal_fov: float = attribute(360.0)


@dataclass(frozen=True)
class LidarSettings(LidarScan):
    """CARLA's lidar blueprint attributes (defaults as in CARLA 0.9.16): the scan pattern and
    the noise model, which only sensor.lidar.ray_cast applies."""

    atmosphere_attenuation_rate: float = attribute(0.004)
    dropoff_general_rate: float = attribute(0.45)
    dropoff_intensity_limit: float = attribute(0.8)
    dropoff_zero_intensity: float = attribute(0.4)
    noise_stddev: float = attribute(0.0)
    noise_seed: int = attribute(0)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        require(self.channels >= 1, f"lidar attribute 'channels'={self.channels} must be >= 1")
        require(self.range > 0, f"lidar attribute 'range'={self.range} must be > 0")
        require(
            self.points_per_second >= 0,
            f"lidar attribute 'points_per_second'={self.points_per_second} must be >= 0",
        )
        require(
            0 < self.horizontal_fov <= 360,
            f"lidar attribute 'horizontal_fov'={self.horizontal_fov} must be in (0, 360]",
        )
        require(
            self.upper_fov >= self.lower_fov,
            f"lidar attributes 'upper_fov'={self.upper_fov} < 'lower_fov'={self.lower_fov}",
        )
        require(
            0.0 <= self.dropoff_general_rate <= 1.0,
            f"lidar attribute 'dropoff_general_rate'={self.dropoff_general_rate} not in [0, 1]",
        )

    def laser_angles(self) -> np.ndarray:
        """(channels,) vertical angle of each laser in degrees, top first."""
        if self.channels == 1:
            return np.array([self.upper_fov])
        step = (self.upper_fov - self.lower_fov) / (self.channels - 1)
        return self.upper_fov - step * np.arange(self.channels)


def points_per_laser(settings: LidarSettings, dt: float) -> int:
    """Rays per channel in a tick of dt seconds (rounded half away from zero, as CARLA)."""
    return int(np.floor(settings.points_per_second * dt / settings.channels + 0.5))


def sweep_directions(
    settings: LidarSettings, start_angle: float, dt: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit ray directions (sensor frame) of one tick's slice of the sweep.

    Returns (dirs (channels * n, 3) channel-major, channel index per ray, end angle in degrees
    where the next tick starts). Horizontal angles run from `start_angle` relative to the
    beginning of the field of view, which is centred on the sensor's x axis.
    """
    n = points_per_laser(settings, dt)
    tick_angle = settings.rotation_frequency * settings.horizontal_fov * dt
    end_angle = float(np.fmod(start_angle + tick_angle, settings.horizontal_fov))
    if n <= 0:
        return np.zeros((0, 3), np.float32), np.zeros(0, np.int64), end_angle
    step = tick_angle / n
    horizontal = np.fmod(start_angle + step * np.arange(n), settings.horizontal_fov)
    horizontal = np.radians(horizontal - settings.horizontal_fov / 2.0)
    vertical = np.radians(settings.laser_angles())
    cv, sv = np.cos(vertical)[:, None], np.sin(vertical)[:, None]
    dirs = np.empty((settings.channels, n, 3), np.float32)
    dirs[..., 0] = cv * np.cos(horizontal)[None, :]
    dirs[..., 1] = cv * np.sin(horizontal)[None, :]
    dirs[..., 2] = sv
    channel = np.repeat(np.arange(settings.channels), n)
    return dirs.reshape(-1, 3), channel, end_angle


def lidar_header(angle_deg: float, counts: np.ndarray) -> bytes:
    angle = np.array([np.radians(angle_deg)], np.float32).view(np.uint32)
    header = np.concatenate([angle, np.array([len(counts)], np.uint32), counts.astype(np.uint32)])
    return header.astype("<u4").tobytes()


@dataclass
class LidarSensor:
    """One server-side lidar; keeps the rotation angle between ticks."""

    settings: LidarSettings
    semantic: bool = False
    sensor_tick: float = tick_attribute()
    type_id: int = field(init=False)
    angle: float = 0.0  # degrees into the horizontal fov where the next tick starts
    _last_time: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        name = "sensor.lidar.ray_cast_semantic" if self.semantic else "sensor.lidar.ray_cast"
        self.type_id = SENSOR_TYPE_IDS[name]
        self._rng = np.random.default_rng(self.settings.noise_seed)

    def _elapsed(self, scene: Scene) -> float:
        dt = scene.delta_seconds
        if self._last_time is not None and scene.timestamp > self._last_time:
            dt = scene.timestamp - self._last_time
        self._last_time = scene.timestamp
        return float(dt)

    def scan(self, scene: Scene, pose: SensorPose) -> tuple[np.ndarray, np.ndarray, float]:
        """This tick's detections (structured array), points per channel, start angle."""
        s = self.settings
        start = self.angle
        local, channel, self.angle = sweep_directions(s, start, self._elapsed(scene))
        point_type = SEMANTIC_LIDAR_POINT if self.semantic else LIDAR_POINT
        if len(local) == 0:
            return np.zeros(0, point_type), np.zeros(s.channels, np.uint32), start
        r = rotation_matrix(pose.rotation)
        world = local @ f32(r.T)
        boxes = boxes_of(scene)
        hits = cast_rays(pose.location, world, boxes, scene.ground, s.range)
        keep = np.flatnonzero(hits.box != HIT_NOTHING)
        dist = hits.t[keep]
        intensity = np.exp(-s.atmosphere_attenuation_rate * dist)  # of the true distance
        if not self.semantic:
            survive, dist = self._drop(dist, intensity)
            keep, dist, intensity = keep[survive], dist[survive], intensity[survive]
        points = np.zeros(len(keep), point_type)
        xyz = local[keep] * dist[:, None]
        points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        if self.semantic:
            normals = hits.surface_normals()[keep]
            points["cos_inc_angle"] = -np.einsum("ij,ij->i", world[keep], normals)
            points["object_idx"] = hits.actor_ids(boxes)[keep]
            points["object_tag"] = hits.labels(boxes)[keep]
        else:
            points["intensity"] = intensity
        counts = np.bincount(channel[keep], minlength=s.channels).astype(np.uint32)
        return points, counts, start

    def _drop(self, dist: np.ndarray, intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CARLA's range noise and random drop-off (ray_cast only): (survivors mask, distances)."""
        s = self.settings
        if s.noise_stddev > 0:
            dist = dist + self._rng.normal(0.0, s.noise_stddev, len(dist)).astype(np.float32)
        survive = np.ones(len(dist), bool)
        if s.dropoff_general_rate > 0:
            survive &= self._rng.random(len(dist)) >= s.dropoff_general_rate
        if s.dropoff_zero_intensity > 0 and s.dropoff_intensity_limit > 0:
            alpha = s.dropoff_zero_intensity / s.dropoff_intensity_limit
            beta = 1.0 - s.dropoff_zero_intensity
            weak = intensity <= s.dropoff_intensity_limit
            survive &= ~weak | (self._rng.random(len(dist)) < alpha * intensity + beta)
        return survive, dist

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        points, counts, _ = self.scan(scene, pose)
        return lidar_header(self.angle, counts) + points.tobytes()


@register_sensor("sensor.lidar.ray_cast", LidarSettings, LidarSensor)
def make_lidar(attributes: dict[str, str]) -> LidarSensor:
    settings = from_attributes(LidarSettings, attributes)
    return from_attributes(LidarSensor, attributes, settings=settings, semantic=False)


@register_sensor("sensor.lidar.ray_cast_semantic", LidarScan, LidarSensor)
def make_semantic_lidar(attributes: dict[str, str]) -> LidarSensor:
    settings = from_attributes(LidarSettings, attributes)  # the noise model stays unused
    return from_attributes(LidarSensor, attributes, settings=settings, semantic=True)
