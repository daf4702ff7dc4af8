"""`sensor.camera.dvs`: an event camera built on the rgb renderer.

As CARLA's ADVSCamera (the ESIM model): each pixel keeps a reference log intensity; when the
current log intensity differs from it by at least the positive (negative) contrast threshold,
it fires one event per threshold crossed, time-stamped by linear interpolation between the two
frames, and the reference moves by the thresholds crossed. The first frame only sets the
references. Wire layout (CARLA's DVSEventArraySerializer): width u32, height u32, fov f32, then
13-byte events `x u16, y u16, t i64 (ns of simulation time), pol bool`.
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
from rllib_integration.embedded.sensors.camera import IMAGE_HEADER, CameraSensor

DVS_EVENT = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("pol", "u1")])
MAX_EVENTS_PER_PIXEL = 16  # bounds the burst of a pixel that jumps from black to white


def log_intensity(bgra: np.ndarray, use_log: bool = True, eps: float = 0.001) -> np.ndarray:
    """(H, W) float32 (log) grey level in [0, 1] of a BGRA8 image."""
    grey = (0.114 * bgra[..., 0] + 0.587 * bgra[..., 1] + 0.299 * bgra[..., 2]) / 255.0
    grey = grey.astype(np.float32)
    return np.log(np.float32(eps) + grey) if use_log else grey


def dvs_events(
    reference: np.ndarray,
    current: np.ndarray,
    t0_ns: int,
    t1_ns: int,
    positive_threshold: float,
    negative_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Events between two log-intensity frames; returns (events sorted by time, new reference)."""
    delta = current - reference
    pos = np.floor(np.maximum(delta, 0) / positive_threshold)
    neg = np.floor(np.maximum(-delta, 0) / negative_threshold)
    count = np.minimum(pos + neg, MAX_EVENTS_PER_PIXEL).astype(np.int64).ravel()
    step = np.where(delta >= 0, positive_threshold, -negative_threshold).ravel()
    new_reference = reference.ravel() + count * step
    pixels = np.repeat(np.arange(count.size), count)
    k = np.arange(len(pixels)) - np.repeat(np.cumsum(count) - count, count) + 1  # 1..count
    crossing = k * np.abs(step[pixels])  # log change at which the k-th event fires
    fraction = np.clip(crossing / np.maximum(np.abs(delta.ravel()[pixels]), 1e-12), 0.0, 1.0)
    events = np.zeros(len(pixels), DVS_EVENT)
    width = reference.shape[1]
    events["x"] = pixels % width
    events["y"] = pixels // width
    events["t"] = t0_ns + np.rint(fraction * (t1_ns - t0_ns)).astype(np.int64)
    events["pol"] = delta.ravel()[pixels] > 0
    order = np.argsort(events["t"], kind="stable")
    return events[order], new_reference.reshape(reference.shape)


@dataclass
class DvsSensor:
    camera: CameraSensor  # an rgb camera, from the same attributes
    positive_threshold: float = attribute(0.3)
    negative_threshold: float = attribute(0.3)
    use_log: bool = attribute(True)
    log_eps: float = attribute(0.001)
    refractory_period_ns: int = attribute(0)  # accepted; no refractory model
    sensor_tick: float = tick_attribute()
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.camera.dvs"], init=False)

    def __post_init__(self) -> None:
        require(self.positive_threshold > 0, "dvs attribute 'positive_threshold' must be > 0")
        require(self.negative_threshold > 0, "dvs attribute 'negative_threshold' must be > 0")
        self._reference: np.ndarray | None = None
        self._last_ns = 0
        self._header = IMAGE_HEADER.pack(self.camera.width, self.camera.height, self.camera.fov)

    def events(self, scene: Scene, pose: SensorPose) -> np.ndarray:
        current = log_intensity(self.camera.image(scene, pose), self.use_log, self.log_eps)
        now_ns = int(round(scene.timestamp * 1e9))
        if self._reference is None:
            self._reference, self._last_ns = current, now_ns
            return np.zeros(0, DVS_EVENT)
        events, self._reference = dvs_events(
            self._reference,
            current,
            self._last_ns,
            now_ns,
            self.positive_threshold,
            self.negative_threshold,
        )
        self._last_ns = now_ns
        return events

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        return self._header + self.events(scene, pose).tobytes()


@register_sensor("sensor.camera.dvs", CameraSensor, DvsSensor)
def make_dvs(attributes: dict[str, str]) -> DvsSensor:
    camera = from_attributes(CameraSensor, attributes, kind="rgb")
    return from_attributes(DvsSensor, attributes, camera=camera)
