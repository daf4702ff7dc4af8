"""The DVS event camera: events where the rendered image changes, CARLA's payload layout."""

from __future__ import annotations

import struct

import numpy as np

from rllib_integration.embedded.sensors import make_sensor
from rllib_integration.embedded.sensors.dvs import DVS_EVENT, dvs_events

CAR = 14


def test_threshold_crossings_become_interpolated_events():
    reference = np.zeros((1, 3), np.float32)
    current = np.array([[0.65, -0.31, 0.1]], np.float32)
    events, new_reference = dvs_events(reference, current, 1000, 2000, 0.3, 0.3)
    assert [(int(e["x"]), bool(e["pol"])) for e in events] == [(0, True), (0, True), (1, False)]
    np.testing.assert_allclose(events["t"], [1462, 1923, 1968], atol=1)  # 1000 + 1000 k C / delta
    np.testing.assert_allclose(new_reference, [[0.6, -0.3, 0.0]], atol=1e-6)


def test_moving_car_fires_events_and_static_scene_does_not(make_scene, make_pose):
    dvs = make_sensor("sensor.camera.dvs", {"image_size_x": "64", "image_size_y": "48"})
    assert dvs.type_id == 3
    p = make_pose(location=(0.0, 0.0, 1.5))
    car = (5, CAR, (12.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)
    first = dvs.measure(make_scene([car], timestamp=1.0), p)
    assert struct.unpack("<IIf", first[:12]) == (64, 48, 90.0) and len(first) == 12
    still = dvs.measure(make_scene([car], timestamp=1.05), p)
    assert len(still) == 12  # nothing changed, no events
    moved = (5, CAR, (12.0, 1.5, 0.75), (2.0, 1.0, 0.75), 0.0)
    payload = dvs.measure(make_scene([moved], timestamp=1.1), p)
    events = np.frombuffer(payload, DVS_EVENT, offset=12)
    assert (len(payload) - 12) % 13 == 0 and len(events) > 10
    assert set(events["pol"].tolist()) == {0, 1}
    assert (events["t"] >= 1_050_000_000).all() and (events["t"] <= 1_100_000_000).all()
    assert (np.diff(events["t"]) >= 0).all()
    assert events["x"].max() < 64 and events["y"].max() < 48
