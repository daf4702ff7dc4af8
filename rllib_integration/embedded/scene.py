"""What server-side sensors see each tick: a frozen, vectorised view of the world after physics.

The world builds one `Scene` per tick (only when some sensor needs it) and one `SensorPose` per
sensor; sensors must treat both as read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the ground model lives in embedded/maps
    from rllib_integration.embedded.maps import GroundModel


@dataclass(frozen=True)
class Scene:
    """All physical actors (vehicles, walkers, props) at the end of one tick, in world frame."""

    frame: int
    timestamp: float
    delta_seconds: float
    ids: np.ndarray  # (N,) uint32 actor ids
    tags: (
        np.ndarray
    )  # (N,) uint8 CARLA CityObjectLabel (Car=14, Truck=15, Bus=16, Pedestrians=12, ...)
    centers: np.ndarray  # (N, 3) float64 world bounding-box centres
    extents: np.ndarray  # (N, 3) float64 half sizes
    rotations: np.ndarray  # (N, 3) float64 pitch, yaw, roll in degrees
    velocities: np.ndarray  # (N, 3) float64 world m/s
    ground: GroundModel | None  # height/surface/speed_limit queries of the map (None: no map)
    # Extension (not in the original contract): the map's name, for sensors that cache per map.
    map_name: str = ""
    weather: dict[str, float] = field(default_factory=dict)
    # How a payload names an actor id (rpc::Actor, made by the server's protocol layer); None
    # where there is no server (sensor tests).
    describe: Callable[[int], Any] | None = None

    @classmethod
    def empty(cls, ground: Any = None) -> Scene:
        """A scene with no actors (useful in tests)."""
        return cls(
            frame=0,
            timestamp=0.0,
            delta_seconds=0.05,
            ids=np.zeros(0, np.uint32),
            tags=np.zeros(0, np.uint8),
            centers=np.zeros((0, 3)),
            extents=np.zeros((0, 3)),
            rotations=np.zeros((0, 3)),
            velocities=np.zeros((0, 3)),
            ground=ground,
        )


@dataclass(frozen=True)
class SensorPose:
    """Where a sensor is this tick, and how its parent moves (for IMU/GNSS/radar)."""

    location: np.ndarray  # (3,) world, of the sensor
    rotation: np.ndarray  # (3,) pitch, yaw, roll degrees, of the sensor
    parent_id: int  # 0 if none
    velocity: np.ndarray  # (3,) parent's world m/s
    acceleration: np.ndarray  # (3,) parent's world m/s^2
    angular_velocity: np.ndarray  # (3,) parent's world deg/s (as CARLA reports it)
    actor_id: int = 0  # the sensor's own actor id
