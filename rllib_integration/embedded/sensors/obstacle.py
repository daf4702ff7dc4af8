"""`sensor.other.obstacle`: the first actor ahead of the sensor, within `distance`.

As CARLA's AObstacleDetectionSensor, a sphere of `hit_radius` is swept along the sensor's x axis
for `distance` metres; the first actor it touches (not the parent) is reported with the distance
travelled. `only_dynamics` restricts hits to vehicles and walkers. The sweep is computed as a ray
against the boxes grown by `hit_radius` (exact on faces, slightly generous at box corners). The
ground is not an obstacle. Wire layout (CARLA's ObstacleDetectionEventSerializer): msgpack of
`[self_actor: rpc::Actor, other_actor: rpc::Actor, distance: float]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import msgpack
import numpy as np

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import SENSOR_TYPE_IDS, register_sensor
from rllib_integration.embedded.sensors.attributes import (
    attribute,
    from_attributes,
    require,
    tick_attribute,
)
from rllib_integration.embedded.sensors.geometry import rotation_matrix
from rllib_integration.embedded.sensors.raycast import Boxes, boxes_of, intersect_boxes

# CityObjectLabels of actors CARLA treats as dynamic (walkers and vehicles).
DYNAMIC_LABELS = frozenset({12, 13, 14, 15, 16, 17, 18, 19})


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
    distance: float = attribute(5.0)
    hit_radius: float = attribute(0.5)
    only_dynamics: bool = attribute(False)
    sensor_tick: float = tick_attribute()
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.other.obstacle"], init=False)

    def __post_init__(self) -> None:
        require(self.distance > 0, f"obstacle attribute 'distance'={self.distance} must be > 0")
        require(
            self.hit_radius >= 0,
            f"obstacle attribute 'hit_radius'={self.hit_radius} must be >= 0",
        )

    def detect(self, scene: Scene, pose: SensorPose) -> tuple[int, float] | None:
        """(other actor id, distance) of this tick's obstacle, or None."""
        boxes = boxes_of(scene)
        forward = rotation_matrix(pose.rotation)[:, 0]
        ignore = tuple(i for i in (pose.parent_id, pose.actor_id) if i)
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
        # CARLA reports the sensor itself as the event's `actor`.
        describe = scene.describe or partial(scene_actor, scene)
        event = [describe(pose.actor_id), describe(other_id), float(distance)]
        return msgpack.packb(event, use_bin_type=True)


def scene_actor(scene: Scene, actor_id: int) -> list:
    """A minimal rpc::Actor built from the scene (id, box, semantic tag), for scenes without a
    server's `describe`: the client gets the right id; type_id and attributes are empty."""
    extent: tuple[float, ...] = (0.0, 0.0, 0.0)
    tags = b""
    where = np.flatnonzero(scene.ids == actor_id)
    if len(where):
        extent = tuple(float(v) for v in scene.extents[where[0]])
        tags = bytes([int(scene.tags[where[0]])])
    box = [[0.0, 0.0, 0.0], list(extent), [0.0, 0.0, 0.0], int(actor_id)]
    return [int(actor_id), 0, [0, "", []], box, tags, b""]


@register_sensor("sensor.other.obstacle", ObstacleSensor)
def make_obstacle(attributes: dict[str, str]) -> ObstacleSensor:
    return from_attributes(ObstacleSensor, attributes)
