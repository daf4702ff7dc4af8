"""Decoding CARLA's raw sensor buffers (byte layouts as the 0.9.16 client delivers them)."""

from __future__ import annotations

import struct

import numpy as np

from rllib_integration.sensors import parsing


def test_rgb_is_bgra_reordered_without_alpha():
    bgra = np.array([[[10, 20, 30, 255], [1, 2, 3, 255]]], dtype=np.uint8)
    rgb = parsing.rgb_from_bgra(parsing.bgra_image(bgra.tobytes(), 1, 2))
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8
    assert rgb.tolist() == [[[30, 20, 10], [3, 2, 1]]]
    assert rgb.flags.writeable and rgb.flags.c_contiguous  # a copy, not CARLA's buffer


def test_depth_is_decoded_to_metres():
    # CARLA encodes normalized depth d in 24 bits: R + G*256 + B*65536 = d * (2^24 - 1).
    def encode(metres):
        code = round(metres / 1000.0 * (256**3 - 1))
        r, g, b = code % 256, (code // 256) % 256, code // 65536
        return [b, g, r, 255]

    bgra = np.array([[encode(0.0), encode(12.5), encode(1000.0)]], dtype=np.uint8)
    depth = parsing.depth_from_bgra(bgra)
    assert depth.dtype == np.float32 and depth.shape == (1, 3)
    np.testing.assert_allclose(depth[0], [0.0, 12.5, 1000.0], atol=1e-3)


def test_semantic_tags_come_from_the_red_channel():
    bgra = np.array([[[0, 0, 14, 255], [0, 0, 1, 255]]], dtype=np.uint8)  # Car=14, Road=1
    assert parsing.semantic_tags_from_bgra(bgra).tolist() == [[14, 1]]


def test_lidar_points_are_n_by_4_float32():
    raw = struct.pack("<8f", 1, 2, 3, 0.5, -1, -2, -3, 0.25)
    points = parsing.lidar_points(raw)
    assert points.dtype == np.float32 and points.tolist() == [[1, 2, 3, 0.5], [-1, -2, -3, 0.25]]


def test_semantic_lidar_ids_and_tags_are_uint32_not_float():
    # The original read idx/tag as float32 (bug, PR #27): 70000 would come out as ~9.8e-41.
    raw = struct.pack("<4fII", 1.0, 2.0, 3.0, 0.9, 70000, 14)
    points = parsing.semantic_lidar_points(raw)
    assert points["idx"].dtype == np.uint32 and points["idx"][0] == 70000
    assert points["tag"][0] == 14
    assert points["cos"][0] == np.float32(0.9)


def test_radar_columns_are_depth_azimuth_altitude_velocity():
    raw = struct.pack(
        "<4f", 7.0, 0.1, 0.2, 35.0
    )  # CARLA's order: velocity, azimuth, altitude, depth
    assert parsing.radar_detections(raw).tolist() == [[35.0, np.float32(0.1), np.float32(0.2), 7.0]]


def test_dvs_events_become_an_event_image():
    raw = struct.pack("<HHq?", 1, 0, 100, True) + struct.pack("<HHq?", 0, 1, 200, False)
    events = parsing.dvs_events(raw)
    assert parsing.DVS_EVENT_DTYPE.itemsize == 13 and len(events) == 2
    image = parsing.dvs_image(events, 2, 2)
    assert image[0, 1].tolist() == [0, 0, 255] and image[1, 0].tolist() == [255, 0, 0]
    assert image.sum() == 2 * 255
