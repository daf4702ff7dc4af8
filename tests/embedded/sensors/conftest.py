"""Fixtures for the server-side sensor tests: a flat test ground and scene/pose builders."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rllib_integration.embedded.scene import Scene, SensorPose


class FlatGround:
    """A flat ground at `z`: road for |y| < half_width, a white line at |y| in [w-0.15, w], terrain
    beyond. Same query interface as embedded.maps GroundModel; geometry known in closed form."""

    def __init__(self, z: float = 0.0, half_width: float = 3.5) -> None:
        self.z = z
        self.half_width = half_width
        self.geo_reference = (42.0, 2.0, 10.0)
        self.bounds = (-100.0, -100.0, 100.0, 100.0)  # as GroundModel: sensors sample a grid

    def height(self, x, y, z=None) -> np.ndarray:
        return np.full(np.shape(x), self.z, dtype=np.float64)

    def surface(self, x, y) -> np.ndarray:
        ay = np.abs(np.asarray(y))
        out = np.where(ay < self.half_width, 1, 0)
        out = np.where((ay >= self.half_width - 0.15) & (ay < self.half_width), 4, out)
        return out.astype(np.uint8)


class SlopedGround(FlatGround):
    """Ground rising `slope` metres per metre along +x (a ramp), road everywhere."""

    def __init__(self, slope: float = 0.05) -> None:
        super().__init__()
        self.slope = slope

    def height(self, x, y, z=None) -> np.ndarray:
        return self.slope * np.asarray(x, dtype=np.float64)


class BridgeGround(FlatGround):
    """A flat road at 0 with a 6 m high deck over it for |x| < 10 (two levels, as GroundModel)."""

    def height(self, x, y, z=None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        upper = np.where(np.abs(x) < 10.0, 6.0, 0.0)
        if z is None:
            return upper
        return np.where(np.abs(upper - np.asarray(z)) < np.abs(np.asarray(z)), upper, 0.0)


@pytest.fixture
def flat_ground() -> FlatGround:
    return FlatGround()


SceneBuilder = Callable[..., Scene]


@pytest.fixture
def make_scene(flat_ground: FlatGround) -> SceneBuilder:
    """make_scene(actors=[(id, tag, center, extent, yaw[, velocity])], ground=..., t=..., dt=...)."""

    def build(actors=(), ground=None, timestamp=1.0, delta_seconds=0.05, frame=20) -> Scene:
        n = len(actors)
        return Scene(
            frame=frame,
            timestamp=timestamp,
            delta_seconds=delta_seconds,
            ids=np.array([a[0] for a in actors], np.uint32),
            tags=np.array([a[1] for a in actors], np.uint8),
            centers=np.array([a[2] for a in actors], float).reshape(n, 3),
            extents=np.array([a[3] for a in actors], float).reshape(n, 3),
            rotations=np.array([(0.0, a[4], 0.0) for a in actors], float).reshape(n, 3),
            velocities=np.array(
                [a[5] if len(a) > 5 else (0.0, 0.0, 0.0) for a in actors], float
            ).reshape(n, 3),
            ground=flat_ground if ground is None else ground,
        )

    return build


def pose(
    location=(0.0, 0.0, 0.0),
    rotation=(0.0, 0.0, 0.0),
    parent_id: int = 0,
    velocity=(0.0, 0.0, 0.0),
    acceleration=(0.0, 0.0, 0.0),
    angular_velocity=(0.0, 0.0, 0.0),
    actor_id: int = 0,
) -> SensorPose:
    return SensorPose(
        location=np.array(location, float),
        rotation=np.array(rotation, float),
        parent_id=parent_id,
        velocity=np.array(velocity, float),
        acceleration=np.array(acceleration, float),
        angular_velocity=np.array(angular_velocity, float),
        actor_id=actor_id,
    )


@pytest.fixture
def make_pose() -> Callable[..., SensorPose]:
    return pose
