"""GNSS (CARLA's geo projection, noise) and IMU (gravity, braking, gyroscope, compass)."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest

from rllib_integration.embedded.sensors import make_sensor
from rllib_integration.embedded.sensors.gnss import to_geolocation
from rllib_integration.embedded.sensors.imu import compass


def test_geolocation_matches_the_carla_client_projection():
    carla = pytest.importorskip("carla")
    from rllib_integration.embedded.maps.towns import builtin_xodr

    carla_map = carla.Map("Loop01", builtin_xodr("Loop01"))  # geoReference lat_0=49, lon_0=8
    for x, y, z in [(0, 0, 0), (100, 50, 3), (-2500, 1800, -7.5), (12345, -6789, 120)]:
        expected = carla_map.transform_to_geolocation(carla.Location(x, y, z))
        lat, lon, alt = to_geolocation((49.0, 8.0, 0.0), (x, y, z))
        assert lat == pytest.approx(expected.latitude, abs=1e-9)
        assert lon == pytest.approx(expected.longitude, abs=1e-9)
        assert alt == pytest.approx(expected.altitude, abs=1e-4)


def test_gnss_payload_moves_with_the_sensor(make_scene, make_pose):
    gnss = make_sensor("sensor.other.gnss", {})
    assert gnss.type_id == 4
    scene = make_scene()  # FlatGround geo_reference (42, 2, 10)
    here = msgpack.unpackb(gnss.measure(scene, make_pose(location=(0, 0, 1))))
    there = msgpack.unpackb(gnss.measure(scene, make_pose(location=(0, 111.0, 1))))
    assert here == pytest.approx([42.0, 2.0, 11.0])
    assert there[0] - here[0] == pytest.approx(111.0 / 111_000, rel=0.02)  # ~1e-3 deg north
    assert there[1] == pytest.approx(here[1])


def test_gnss_noise_bias_and_seed(make_scene, make_pose):
    attrs = {"noise_lat_bias": "0.5", "noise_lat_stddev": "0.01", "noise_seed": "7"}
    a, b = make_sensor("sensor.other.gnss", attrs), make_sensor("sensor.other.gnss", attrs)
    scene, p = make_scene(), make_pose()
    ra = [msgpack.unpackb(a.measure(scene, p))[0] for _ in range(200)]
    rb = [msgpack.unpackb(b.measure(scene, p))[0] for _ in range(200)]
    assert ra == rb  # same seed, same noise
    assert np.mean(ra) == pytest.approx(42.5, abs=0.003)
    assert np.std(ra) == pytest.approx(0.01, rel=0.2)


def imu_reading(payload: bytes) -> tuple[np.ndarray, np.ndarray, float]:
    accelerometer, gyroscope, heading = msgpack.unpackb(payload)
    return np.array(accelerometer), np.array(gyroscope), heading


def test_imu_reads_gravity_at_rest_and_deceleration_when_braking(make_scene, make_pose):
    imu = make_sensor("sensor.other.imu", {})
    assert imu.type_id == 5
    accel, gyro, _ = imu_reading(imu.measure(make_scene(), make_pose(rotation=(0, 30, 0))))
    np.testing.assert_allclose(accel, (0, 0, 9.81), atol=1e-9)
    np.testing.assert_allclose(gyro, 0, atol=1e-12)
    # braking at 6 m/s^2 while heading along world +y (yaw 90)
    braking = make_pose(rotation=(0, 90, 0), velocity=(0, 10, 0), acceleration=(0, -6, 0))
    accel, _, _ = imu_reading(imu.measure(make_scene(), braking))
    np.testing.assert_allclose(accel, (-6, 0, 9.81), atol=1e-9)


def test_imu_gyroscope_in_radians_in_sensor_frame(make_scene, make_pose):
    imu = make_sensor("sensor.other.imu", {"noise_gyro_bias_z": "0.1"})
    turning = make_pose(rotation=(0, 45, 0), angular_velocity=(0, 0, 90.0))
    _, gyro, _ = imu_reading(imu.measure(make_scene(), turning))
    np.testing.assert_allclose(gyro, (0, 0, math.pi / 2 + 0.1), atol=1e-9)


@pytest.mark.parametrize(
    "yaw, expected",
    [(-90, 0.0), (0, math.pi / 2), (90, math.pi), (180, 3 * math.pi / 2), (-45, math.pi / 4)],
)
def test_compass_is_clockwise_from_carla_north(yaw, expected):
    assert compass((0, yaw, 0)) == pytest.approx(expected, abs=1e-6)
