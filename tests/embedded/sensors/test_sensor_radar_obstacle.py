"""Radar detections and the obstacle detector's sweep."""

from __future__ import annotations

from dataclasses import replace

import msgpack
import numpy as np
import pytest

from rllib_integration.embedded.sensors import make_sensor
from rllib_integration.embedded.sensors.radar import RADAR_DETECTION, RadarSensor

CAR, STATIC = 14, 20


def test_radar_sees_an_approaching_car_with_negative_velocity(make_scene, make_pose):
    scene = make_scene([(5, CAR, (30.0, 0.0, 1.0), (2.0, 2.0, 1.0), 0.0, (-10.0, 0.0, 0.0))])
    radar = make_sensor(
        "sensor.other.radar",
        {"horizontal_fov": "20", "vertical_fov": "10", "range": "60", "points_per_second": "20000"},
    )
    assert radar.type_id == 9
    payload = radar.measure(scene, make_pose(location=(0, 0, 1.0), velocity=(5, 0, 0)))
    detections = np.frombuffer(payload, RADAR_DETECTION)
    assert 0 < len(detections) <= 1000  # 20000 pts/s * 0.05 s rays
    on_car = detections[
        np.abs(
            detections["depth"] * np.cos(detections["azimuth"]) * np.cos(detections["altitude"])
            - 28.0
        )
        < 0.01
    ]
    assert len(on_car) > 20
    # closing speed 15 m/s, projected on each ray
    expected = -15.0 * np.cos(on_car["azimuth"]) * np.cos(on_car["altitude"])
    np.testing.assert_allclose(on_car["velocity"], expected, atol=1e-3)
    assert (np.abs(detections["azimuth"]) <= np.radians(10) + 1e-6).all()
    assert (np.abs(detections["altitude"]) <= np.radians(5) + 1e-6).all()


def test_radar_ray_count_follows_points_per_second(make_scene, make_pose):
    radar = RadarSensor(range=100.0, points_per_second=1500)
    detections = radar.detect(make_scene(), make_pose(location=(0, 0, 0.5), rotation=(-20, 0, 0)))
    assert len(detections) == 75  # all rays pitched down hit the ground


def _encoder(actor_id: int) -> list:
    return [actor_id, 0, [0, "vehicle.test", []], [[0, 0, 0], [1, 1, 1], [0, 0, 0], 0], b"", b""]


def test_obstacle_reports_nearest_actor_ahead(make_scene, make_pose):
    scene = make_scene(
        [
            (1, CAR, (0.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0),  # the parent
            (2, CAR, (12.0, 0.6, 0.75), (2.0, 1.0, 0.75), 0.0),
            (3, STATIC, (7.0, -0.9, 0.5), (0.5, 0.5, 0.5), 0.0),
        ]
    )
    scene = replace(scene, describe=_encoder)  # the server's rpc::Actor encoder
    sensor = make_sensor("sensor.other.obstacle", {"distance": "20", "hit_radius": "0.5"})
    assert sensor.type_id == 7
    p = make_pose(location=(2.5, 0.0, 0.75), parent_id=1, actor_id=99)
    self_actor, other, distance = msgpack.unpackb(sensor.measure(scene, p))
    assert self_actor[0] == 99 and other[0] == 3  # the prop, whose side is within the radius
    assert distance == pytest.approx(7.0 - 0.5 - 0.5 - 2.5, abs=1e-4)
    sensor.only_dynamics = True
    _, other, distance = msgpack.unpackb(sensor.measure(scene, p))
    assert other[0] == 2 and distance == pytest.approx(12 - 2 - 0.5 - 2.5, abs=1e-4)


def test_obstacle_is_silent_when_nothing_is_in_range(make_scene, make_pose):
    scene = make_scene([(2, CAR, (30.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    scene = replace(scene, describe=_encoder)
    sensor = make_sensor("sensor.other.obstacle", {"distance": "5"})
    assert sensor.measure(scene, make_pose(location=(0, 0, 0.75))) is None


def test_obstacle_without_server_encoder_still_names_the_other_actor(make_scene, make_pose):
    scene = make_scene([(2, CAR, (10.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    sensor = make_sensor("sensor.other.obstacle", {"distance": "20"})
    self_actor, other, distance = msgpack.unpackb(
        sensor.measure(scene, make_pose(location=(0, 0, 0.75)))
    )
    assert other[0] == 2 and other[4] == bytes([CAR]) and other[3][1] == [2.0, 1.0, 0.75]
    assert distance == pytest.approx(10 - 2 - 0.5, abs=1e-4)
