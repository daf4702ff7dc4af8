"""Lidars: sweep slicing per tick, geometry of the points, semantic fields, wire layout."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_integration.embedded.sensors import make_sensor
from rllib_integration.embedded.sensors.attributes import SensorAttributeError
from rllib_integration.embedded.sensors.lidar import (
    LIDAR_POINT,
    SEMANTIC_LIDAR_POINT,
    LidarSensor,
    LidarSettings,
    sweep_directions,
)

CAR = 14


def parse(payload: bytes, point_type: np.dtype) -> tuple[float, np.ndarray, np.ndarray]:
    """The way CARLA's LidarHeaderView reads a payload."""
    channels = int(np.frombuffer(payload, "<u4", count=2)[1])
    header = np.frombuffer(payload, "<u4", count=2 + channels)
    angle = float(header[:1].view("<f4")[0])
    points = np.frombuffer(payload, point_type, offset=4 * (2 + channels))
    return angle, header[2:], points


def test_one_tick_covers_its_slice_of_the_sweep():
    s = LidarSettings(channels=4, points_per_second=8000, rotation_frequency=10.0)
    dirs, channel, end = sweep_directions(s, 0.0, 0.05)
    assert len(dirs) == 4 * 100 and (np.bincount(channel) == 100).all()
    assert end == pytest.approx(180.0)  # 10 Hz * 360 deg * 0.05 s
    vertical = np.degrees(np.arcsin(dirs[::100, 2]))
    np.testing.assert_allclose(vertical, [10.0, -3.333333, -16.666667, -30.0], atol=1e-4)
    azimuth = np.degrees(np.arctan2(dirs[:100, 1], dirs[:100, 0]))
    assert azimuth[0] == pytest.approx(-180.0) and azimuth[-1] == pytest.approx(-1.8, abs=1e-3)
    _, _, end2 = sweep_directions(s, end, 0.05)
    assert end2 == pytest.approx(0.0)  # a full turn in two ticks


def test_points_hit_a_car_ahead_at_the_right_range(make_scene, make_pose):
    scene = make_scene([(42, CAR, (10.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    lidar = make_sensor(
        "sensor.lidar.ray_cast",
        {
            "channels": "16",
            "range": "50",
            "points_per_second": "64000",
            "upper_fov": "5",
            "lower_fov": "-15",
            "dropoff_general_rate": "0",
            "dropoff_zero_intensity": "0",
        },
    )
    assert lidar.type_id == 11
    payloads = [lidar.measure(scene, make_pose(location=(0.0, 0.0, 1.0))) for _ in range(2)]
    points = np.concatenate([parse(p, LIDAR_POINT)[2] for p in payloads])
    ahead = points[(np.abs(points["y"]) < 0.9) & (points["x"] > 0) & (points["z"] > -0.9)]
    assert len(ahead) > 10
    np.testing.assert_allclose(ahead["x"], 8.0, atol=0.02)  # rear face 8 m ahead
    ground = points[points["z"] < -0.99]
    np.testing.assert_allclose(ground["z"], -1.0, atol=1e-3)  # the ground 1 m below the sensor
    r = np.sqrt(points["x"] ** 2 + points["y"] ** 2 + points["z"] ** 2)
    assert r.max() <= 50.0 + 1e-3
    np.testing.assert_allclose(points["intensity"], np.exp(-0.004 * r), rtol=1e-5)


def test_header_counts_and_angle(make_scene, make_pose):
    lidar = LidarSensor(
        LidarSettings(channels=8, points_per_second=16000, range=30.0, dropoff_general_rate=0.0)
    )
    payload = lidar.measure(make_scene(), make_pose(location=(0.0, 0.0, 2.0)))
    angle, counts, points = parse(payload, LIDAR_POINT)
    assert angle == pytest.approx(np.pi)  # half a turn in 0.05 s at 10 Hz, in radians
    assert len(counts) == 8 and counts.sum() == len(points)
    assert counts[0] == 0  # the top laser (+10 deg) never reaches the ground
    assert counts[-1] == 100  # the bottom laser (-30 deg) always does


def test_dropoff_removes_about_the_general_rate(make_scene, make_pose):
    lidar = LidarSensor(
        LidarSettings(
            channels=4,
            points_per_second=80000,
            upper_fov=-20,
            lower_fov=-40,
            range=100,
            dropoff_general_rate=0.45,
            dropoff_zero_intensity=0.0,
        )
    )
    _, counts, _ = parse(lidar.measure(make_scene(), make_pose(location=(0, 0, 2))), LIDAR_POINT)
    assert counts.sum() == pytest.approx(4000 * 0.55, rel=0.08)


def test_semantic_lidar_reports_tag_index_and_incidence(make_scene, make_pose):
    scene = make_scene([(42, CAR, (10.0, 0.0, 1.0), (2.0, 1.0, 1.0), 0.0)])
    lidar = make_sensor(
        "sensor.lidar.ray_cast_semantic",
        {
            "channels": "8",
            "range": "40",
            "points_per_second": "40000",
            "upper_fov": "2",
            "lower_fov": "-20",
        },
    )
    assert lidar.type_id == 10
    points = np.concatenate(
        [
            parse(lidar.measure(scene, make_pose(location=(0, 0, 1))), SEMANTIC_LIDAR_POINT)[2]
            for _ in range(2)
        ]
    )
    car = points[points["object_tag"] == CAR]
    assert len(car) > 0 and (car["object_idx"] == 42).all()
    front = car[np.abs(car["x"] - 8.0) < 1e-3]
    r = np.sqrt(front["x"] ** 2 + front["y"] ** 2 + front["z"] ** 2)
    np.testing.assert_allclose(front["cos_inc_angle"], front["x"] / r, atol=1e-4)
    road = points[points["object_tag"] == 1]
    assert len(road) > 0 and (road["object_idx"] == 0).all()


def test_lidar_attribute_errors_are_named():
    with pytest.raises(SensorAttributeError, match="channels"):
        make_sensor("sensor.lidar.ray_cast", {"channels": "0"})
    with pytest.raises(SensorAttributeError, match="upper_fov"):
        make_sensor("sensor.lidar.ray_cast", {"upper_fov": "-40", "lower_fov": "10"})


def test_a_slower_sensor_tick_scans_the_time_elapsed_since_its_last_measurement(
    make_scene, make_pose
):
    settings = LidarSettings(channels=2, points_per_second=2000, range=30.0, dropoff_general_rate=0)
    lidar = LidarSensor(settings)
    p = make_pose(location=(0.0, 0.0, 2.0))
    lidar.scan(make_scene(timestamp=1.0), p)  # first measurement: one world tick (0.05 s)
    assert lidar.angle == pytest.approx(180.0)
    _, counts, start = lidar.scan(make_scene(timestamp=1.1), p)  # sensor_tick 0.1: 0.1 s later
    assert start == pytest.approx(180.0)
    assert lidar.angle == pytest.approx(180.0)  # a full turn at 10 Hz
    assert counts.tolist() == [0, 100]  # 2000 pts/s * 0.1 s over 2 lasers; the upper one misses


def test_range_noise_moves_points_along_their_ray(make_scene, make_pose):
    settings = LidarSettings(
        channels=1,
        upper_fov=-30,
        points_per_second=20000,
        range=50.0,
        dropoff_general_rate=0.0,
        dropoff_zero_intensity=0.0,
        noise_stddev=0.05,
        noise_seed=3,
    )
    payload = LidarSensor(settings).measure(make_scene(), make_pose(location=(0, 0, 2.0)))
    points = parse(payload, LIDAR_POINT)[2]
    r = np.sqrt(points["x"] ** 2 + points["y"] ** 2 + points["z"] ** 2)
    assert np.std(r - 4.0) == pytest.approx(0.05, rel=0.2)  # true range 2 / sin(30) = 4 m
    np.testing.assert_allclose(points["z"] / r, -0.5, atol=1e-5)  # still on the -30 deg ray
    np.testing.assert_allclose(points["intensity"], np.exp(-0.004 * 4.0), rtol=1e-5)
