"""`sensor.other.obstacle`: the first actor ahead of the sensor, within `distance`.

As CARLA's AObstacleDetectionSensor, a sphere of `hit_radius` is swept along the sensor's x axis
for `distance` metres; the first actor it touches (not the parent) is reported with the distance
travelled. `only_dynamics` restricts hits to vehicles and walkers. The sweep is computed as a ray
against the boxes grown by `hit_radius` (exact on faces, slightly generous at box corners). The
ground is not an obstacle. Wire layout (CARLA's ObstacleDetectionEventSerializer): msgpack of
`[self_actor: rpc::Actor, other_actor: rpc::Actor, distance: float]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import SENSOR_TYPE_IDS, register_sensor
from rllib_integration.embedded.sensors.attributes import get_bool, get_float, require, sensor_tick
from rllib_integration.embedded.sensors.geometry import rotation_matrix
from rllib_integration.embedded.sensors.raycast import Boxes, boxes_of, intersect_boxes

# CityObjectLabels of actors CARLA treats as dynamic (walkers and vehicles).
DYNAMIC_LABELS = frozenset({12, 13, 14, 15, 16, 17, 18, 19})

# Encodes an actor id as CARLA's rpc::Actor msgpack value; the server provides it.
ActorEncoder = Callable[[int], Any]


def find_obstacle(
    origin: np.ndarray,
    direction: np.ndarray,
    boxes: Boxes,
    distance: float,
    hit_radius: float,
    only_dynamics: bool = False,
    ignore_ids: tuple[int, ...] = (),
) -> tuple[int, float] | None:
    """(box index, distance) of the first box the swept sphere touches, or None."""
    if len(boxes) == 0:
        return None
    keep = ~np.isin(boxes.ids, np.asarray(ignore_ids, dtype=np.uint32))
    if only_dynamics:
        keep &= np.isin(boxes.tags, list(DYNAMIC_LABELS))
    index = np.flatnonzero(keep)
    if len(index) == 0:
        return None
    grown = Boxes(
        centers=boxes.centers[index],
        extents=boxes.extents[index] + hit_radius,
        axes=boxes.axes[index],
        ids=boxes.ids[index],
        tags=boxes.tags[index],
        velocities=boxes.velocities[index],
    )
    unit = np.asarray(direction, np.float32).reshape(1, 3)
    unit = unit / np.linalg.norm(unit)
    t, box, _ = intersect_boxes(
        origin, unit, grown, np.array([distance], np.float32), distance + hit_radius
    )
    if box[0] < 0:
        return None
    return int(index[box[0]]), float(t[0])


@dataclass
class ObstacleSensor:
    distance: float = 5.0
    hit_radius: float = 0.5
    only_dynamics: bool = False
    sensor_tick: float = 0.0
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.other.obstacle"], init=False)
    # Set by the server after spawning: how to encode an actor id as rpc::Actor, and this
    # sensor's own actor id (CARLA reports the sensor itself as the event's `actor`).
    actor_encoder: ActorEncoder | None = None
    self_id: int = 0

    def __post_init__(self) -> None:
        require(self.distance > 0, f"obstacle attribute 'distance'={self.distance} must be > 0")
        require(
            self.hit_radius >= 0,
            f"obstacle attribute 'hit_radius'={self.hit_radius} must be >= 0",
        )

    def bind(self, self_id: int, actor_encoder: ActorEncoder) -> None:
        """Called by the server after spawning: this sensor's actor id, and how to encode any
        actor id as rpc::Actor (so events carry full actor descriptions)."""
        self.self_id = int(self_id)
        self.actor_encoder = actor_encoder

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> ObstacleSensor:
        return cls(
            distance=get_float(attributes, "distance", 5.0),
            hit_radius=get_float(attributes, "hit_radius", 0.5),
            only_dynamics=get_bool(attributes, "only_dynamics", False),
            sensor_tick=sensor_tick(attributes),
        )

    def detect(self, scene: Scene, pose: SensorPose) -> tuple[int, float] | None:
        """(other actor id, distance) of this tick's obstacle, or None."""
        boxes = boxes_of(scene)
        forward = rotation_matrix(pose.rotation)[:, 0]
        ignore = tuple(i for i in (pose.parent_id, self.self_id) if i)
        found = find_obstacle(
            pose.location,
            forward,
            boxes,
            self.distance,
            self.hit_radius,
            self.only_dynamics,
            ignore,
        )
        if found is None:
            return None
        return int(boxes.ids[found[0]]), found[1]

    def measure(self, scene: Scene, pose: SensorPose) -> bytes | None:
        found = self.detect(scene, pose)
        if found is None:
            return None
        other_id, distance = found
        if self.actor_encoder is not None:
            self_actor, other_actor = self.actor_encoder(self.self_id), self.actor_encoder(other_id)
        else:
            self_actor, other_actor = scene_actor(scene, self.self_id), scene_actor(scene, other_id)
        return msgpack.packb([self_actor, other_actor, float(distance)], use_bin_type=True)


def scene_actor(scene: Scene, actor_id: int) -> list:
    """A minimal rpc::Actor built from the scene (id, box, semantic tag), for servers that do not
    provide an `actor_encoder`: the client gets the right id; type_id and attributes are empty."""
    extent, tags = (0.0, 0.0, 0.0), b""
    where = np.flatnonzero(scene.ids == actor_id)
    if len(where):
        extent = tuple(float(v) for v in scene.extents[where[0]])
        tags = bytes([int(scene.tags[where[0]])])
    box = [[0.0, 0.0, 0.0], list(extent), [0.0, 0.0, 0.0], int(actor_id)]
    return [int(actor_id), 0, [0, "", []], box, tags, b""]


@register_sensor("sensor.other.obstacle")
def make_obstacle(attributes: dict[str, str]) -> ObstacleSensor:
    return ObstacleSensor.from_attributes(attributes)
