"""`sensor.other.radar`: random rays inside an elliptic cone, one detection per hit.

As CARLA's ARadar: `int(points_per_second * dt)` rays per tick, each aimed at
`(range, tan(hfov/2) * range * r * cos(a), tan(vfov/2) * range * r * sin(a))` in the sensor frame
for uniform r in [0, 1) and a in [0, 2 pi). A detection is `velocity` (m/s, the target's velocity
relative to the radar's, projected on the line of sight: negative when approaching), `azimuth`
and `altitude` (radians, of the ray in the sensor frame) and `depth` (m). Wire layout (CARLA's
RadarSerializer): the detections only, 4 float32 each.
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

RADAR_DETECTION = np.dtype(
    [("velocity", "<f4"), ("azimuth", "<f4"), ("altitude", "<f4"), ("depth", "<f4")]
)


@dataclass
class RadarSensor:
    horizontal_fov: float = attribute(30.0)
    vertical_fov: float = attribute(30.0)
    range: float = attribute(100.0)
    points_per_second: int = attribute(1500, maximum=100_000)
    noise_seed: int = attribute(0)
    sensor_tick: float = tick_attribute()
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.other.radar"], init=False)

    def __post_init__(self) -> None:
        require(
            0 < self.horizontal_fov < 180,
            f"radar attribute 'horizontal_fov'={self.horizontal_fov} must be in (0, 180)",
        )
        require(
            0 < self.vertical_fov < 180,
            f"radar attribute 'vertical_fov'={self.vertical_fov} must be in (0, 180)",
        )
        require(self.range > 0, f"radar attribute 'range'={self.range} must be > 0")
        require(
            self.points_per_second >= 0,
            f"radar attribute 'points_per_second'={self.points_per_second} must be >= 0",
        )
        self._rng = np.random.default_rng(self.noise_seed)
        self._last_time: float | None = None

    def _elapsed(self, scene: Scene) -> float:
        dt = scene.delta_seconds
        if self._last_time is not None and scene.timestamp > self._last_time:
            dt = scene.timestamp - self._last_time
        self._last_time = scene.timestamp
        return float(dt)

    def ray_directions(self, n: int) -> np.ndarray:
        """(n, 3) unit ray directions in the sensor frame."""
        radius = self._rng.random(n)
        angle = self._rng.uniform(0.0, 2.0 * np.pi, n)
        max_y = np.tan(np.radians(self.horizontal_fov / 2.0)) * self.range
        max_z = np.tan(np.radians(self.vertical_fov / 2.0)) * self.range
        end = np.stack(
            [
                np.full(n, self.range),
                max_y * radius * np.cos(angle),
                max_z * radius * np.sin(angle),
            ],
            axis=1,
        )
        return (end / np.linalg.norm(end, axis=1, keepdims=True)).astype(np.float32)

    def detect(self, scene: Scene, pose: SensorPose) -> np.ndarray:
        """This tick's detections as a RADAR_DETECTION structured array."""
        n = int(self.points_per_second * self._elapsed(scene))
        if n <= 0:
            return np.zeros(0, RADAR_DETECTION)
        local = self.ray_directions(n)
        world = local @ f32(rotation_matrix(pose.rotation).T)
        boxes = boxes_of(scene)
        hits = cast_rays(pose.location, world, boxes, scene.ground, self.range)
        keep = np.flatnonzero(hits.box != HIT_NOTHING)
        target_velocity = np.zeros((len(keep), 3))
        on_actor = hits.box[keep] >= 0
        target_velocity[on_actor] = boxes.velocities[hits.box[keep][on_actor]]
        relative = target_velocity - np.asarray(pose.velocity, dtype=np.float64)
        out = np.zeros(len(keep), RADAR_DETECTION)
        out["velocity"] = np.einsum("ij,ij->i", relative, world[keep])
        out["azimuth"] = np.arctan2(local[keep, 1], local[keep, 0])
        out["altitude"] = np.arctan2(local[keep, 2], np.hypot(local[keep, 0], local[keep, 1]))
        out["depth"] = hits.t[keep]
        return out

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        return self.detect(scene, pose).tobytes()


@register_sensor("sensor.other.radar", RadarSensor)
def make_radar(attributes: dict[str, str]) -> RadarSensor:
    return from_attributes(RadarSensor, attributes)
