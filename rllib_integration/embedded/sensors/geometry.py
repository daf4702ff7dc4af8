"""Rotations in CARLA's (Unreal's) convention: x forward, y right, z up, angles in degrees.

`rotation_matrix` equals the 3x3 part of `carla.Transform.get_matrix()`: columns are the body's
forward, right and up axes in world coordinates, so `R @ v_body = v_world`.
"""

from __future__ import annotations

import numpy as np


def rotation_matrices(rotations: np.ndarray) -> np.ndarray:
    """(N, 3) pitch, yaw, roll in degrees -> (N, 3, 3) body-to-world rotation matrices."""
    pitch, yaw, roll = np.radians(np.asarray(rotations, dtype=np.float64)).T
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cr, sr = np.cos(roll), np.sin(roll)
    m = np.empty((len(cp), 3, 3))
    m[:, 0, 0] = cp * cy
    m[:, 0, 1] = cy * sp * sr - sy * cr
    m[:, 0, 2] = -cy * sp * cr - sy * sr
    m[:, 1, 0] = cp * sy
    m[:, 1, 1] = sy * sp * sr + cy * cr
    m[:, 1, 2] = -sy * sp * cr + cy * sr
    m[:, 2, 0] = sp
    m[:, 2, 1] = -cp * sr
    m[:, 2, 2] = cp * cr
    return m


def rotation_matrix(rotation: np.ndarray) -> np.ndarray:
    """(3,) pitch, yaw, roll in degrees -> (3, 3) body-to-world rotation matrix."""
    return rotation_matrices(np.asarray(rotation, dtype=np.float64).reshape(1, 3))[0]


def world_to_local(points: np.ndarray, location: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> the frame of a body at `location` with `rotation` (degrees)."""
    r = rotation_matrix(rotation)
    return (np.asarray(points, dtype=np.float64) - np.asarray(location, dtype=np.float64)) @ r
