"""`sensor.other.imu`: accelerometer, gyroscope and compass in the sensor frame.

As CARLA's AInertialMeasurementUnit: the accelerometer reads the parent's acceleration plus
gravity (so +9.81 m/s^2 on z at rest, level), expressed in the sensor frame; the gyroscope the
parent's angular velocity in rad/s in the sensor frame, plus bias; the compass the heading in
radians clockwise from north, where CARLA's north is the world -y axis. Gaussian noise per
component, seeded by `noise_seed`. Wire layout (CARLA 0.9.16's IMUSerializer): msgpack of
`[[ax, ay, az], [gx, gy, gz], compass]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgpack
import numpy as np

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import SENSOR_TYPE_IDS, register_sensor
from rllib_integration.embedded.sensors.attributes import attribute, from_attributes, tick_attribute
from rllib_integration.embedded.sensors.geometry import rotation_matrix

GRAVITY = 9.81  # m/s^2, CARLA's default IMU gravity


def compass(rotation: np.ndarray) -> float:
    """Heading in [0, 2 pi) radians from north (world -y), turning towards east (+x)."""
    forward = rotation_matrix(rotation)[:, 0]
    norm = math.hypot(forward[0], forward[1])
    if norm < 1e-9:  # pointing straight up or down: no heading, as CARLA's zero vector case
        return 0.0
    fx, fy = forward[0] / norm, forward[1] / norm
    cos_north = -fy
    if cos_north >= 1.0:
        return 0.0
    angle = math.acos(max(-1.0, cos_north))
    return 2.0 * math.pi - angle if fx < 0.0 else angle


@dataclass
class ImuSensor:
    # Each triple is three attributes: noise_accel_stddev_x, _y, _z, and so on.
    accel_stddev: tuple[float, float, float] = attribute((0.0, 0.0, 0.0), "noise_accel_stddev")
    gyro_stddev: tuple[float, float, float] = attribute((0.0, 0.0, 0.0), "noise_gyro_stddev")
    gyro_bias: tuple[float, float, float] = attribute((0.0, 0.0, 0.0), "noise_gyro_bias")
    noise_seed: int = attribute(0)
    sensor_tick: float = tick_attribute()
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.other.imu"], init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.noise_seed)

    def _noise(self, stddev: tuple[float, float, float]) -> np.ndarray:
        if not any(stddev):
            return np.zeros(3)
        return self._rng.normal(0.0, 1.0, 3) * np.asarray(stddev)

    def reading(self, scene: Scene, pose: SensorPose) -> tuple[np.ndarray, np.ndarray, float]:
        """(accelerometer m/s^2, gyroscope rad/s, compass rad) in the sensor frame."""
        r = rotation_matrix(pose.rotation)
        specific_force = np.asarray(pose.acceleration, dtype=np.float64) + (0.0, 0.0, GRAVITY)
        accelerometer = specific_force @ r + self._noise(self.accel_stddev)
        omega = np.radians(np.asarray(pose.angular_velocity, dtype=np.float64))
        gyroscope = omega @ r + np.asarray(self.gyro_bias) + self._noise(self.gyro_stddev)
        return accelerometer, gyroscope, compass(pose.rotation)

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        accelerometer, gyroscope, heading = self.reading(scene, pose)
        payload = [[float(v) for v in accelerometer], [float(v) for v in gyroscope], heading]
        return msgpack.packb(payload, use_bin_type=True)


@register_sensor("sensor.other.imu", ImuSensor)
def make_imu(attributes: dict[str, str]) -> ImuSensor:
    return from_attributes(ImuSensor, attributes)
