"""Decoders from CARLA's raw sensor buffers to numpy arrays (pure functions, no carla objects).

They fix the original's parsing bugs: depth in metres, semantic tags decoded, semantic-lidar ids
and tags as uint32, radar columns in the documented order.
"""

from __future__ import annotations

import numpy as np

# Semantic LiDAR point: x, y, z, cos(incidence) as float32, object index and tag as uint32.
SEMANTIC_LIDAR_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("cos", "<f4"), ("idx", "<u4"), ("tag", "<u4")]
)
# DVS event as packed in CARLA (13 bytes): x, y as uint16, t as int64 (ns), polarity as bool.
DVS_EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("pol", "?")])
# Farthest depth a CARLA depth camera encodes (m).
DEPTH_FAR = 1000.0


def bgra_image(raw: bytes | memoryview, height: int, width: int) -> np.ndarray:
    """CARLA's BGRA8 buffer -> a read-only (H, W, 4) view."""
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)


def rgb_from_bgra(bgra: np.ndarray) -> np.ndarray:
    """(H, W, 4) BGRA -> (H, W, 3) uint8 RGB (a copy)."""
    return np.ascontiguousarray(bgra[:, :, 2::-1])


def depth_from_bgra(bgra: np.ndarray) -> np.ndarray:
    """(H, W, 4) BGRA depth encoding -> (H, W) float32 metres: (R + G*256 + B*65536) / (2^24 - 1) * 1000."""
    b = bgra[:, :, 0].astype(np.float32)
    g = bgra[:, :, 1].astype(np.float32)
    r = bgra[:, :, 2].astype(np.float32)
    normalized = (r + g * 256.0 + b * 65536.0) / (256.0**3 - 1.0)
    return normalized * np.float32(DEPTH_FAR)


def semantic_tags_from_bgra(bgra: np.ndarray) -> np.ndarray:
    """(H, W, 4) BGRA semantic image -> (H, W) uint8 CityObjectLabel tags (CARLA puts them in R)."""
    return np.ascontiguousarray(bgra[:, :, 2])


def lidar_points(raw: bytes | memoryview) -> np.ndarray:
    """LiDAR buffer -> (N, 4) float32 x, y, z, intensity."""
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 4).copy()


def semantic_lidar_points(raw: bytes | memoryview) -> np.ndarray:
    """Semantic LiDAR buffer -> (N,) structured array (SEMANTIC_LIDAR_DTYPE)."""
    return np.frombuffer(raw, dtype=SEMANTIC_LIDAR_DTYPE).copy()


def radar_detections(raw: bytes | memoryview) -> np.ndarray:
    """Radar buffer (velocity, azimuth, altitude, depth) -> (N, 4) float32 (depth, azimuth, altitude, velocity)."""
    raw_columns = np.frombuffer(raw, dtype="<f4").reshape(-1, 4)
    return raw_columns[:, [3, 1, 2, 0]].copy()


def dvs_events(raw: bytes | memoryview) -> np.ndarray:
    """DVS buffer -> (N,) structured array (DVS_EVENT_DTYPE)."""
    return np.frombuffer(raw, dtype=DVS_EVENT_DTYPE).copy()


def dvs_image(events: np.ndarray, height: int, width: int) -> np.ndarray:
    """DVS events -> (H, W, 3) uint8: positive polarity in channel 2, negative in channel 0."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[events["y"], events["x"], np.where(events["pol"], 2, 0)] = 255
    return image
