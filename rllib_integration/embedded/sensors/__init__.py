"""Registry of server-side sensors: blueprint id -> factory(attribute values) -> sensor.

Sensor modules in this package register themselves with `register_sensor`, naming the settings
dataclasses whose `attribute` fields are the blueprint's attributes (sensors/attributes.py);
every submodule is imported on first use of the registry (`sensor_types()`). Two kinds:

- a `ServerSensor` measures what it sees: the world calls `measure(scene, pose)` once per tick
  (respecting `sensor_tick`), after physics;
- an `EventSensor` reports what happened to its parent in the physics step (CARLA's collision
  sensor): the world calls `report(contacts, describe)` on ticks its parent touched something,
  and never builds a `Scene` for it (building one costs as much as the physics step).

The world prefixes each payload with the 48-byte sensor header (through the protocol layer).

    @register_sensor("sensor.other.gnss", GnssSensor)
    def make_gnss(attributes: dict[str, str]) -> GnssSensor: ...
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors.attributes import Declared, declared_attributes

log = logging.getLogger(__name__)


@runtime_checkable
class ServerSensor(Protocol):
    type_id: int  # CARLA sensor registry id (wire protocol doc §2.3)
    sensor_tick: float  # seconds; 0 = every world tick

    def measure(self, scene: Scene, pose: SensorPose) -> bytes | None:
        """Payload AFTER the 48-byte sensor header; None = nothing this tick."""
        ...


class Contact(NamedTuple):
    """One contact of an actor in this tick's physics step."""

    actor_id: int
    other_id: int  # 0: the static world (the edge of the map)
    impulse: tuple[float, float, float]


class EventSensor(ABC):
    """A sensor of its parent's contacts; one payload (stream message) per event."""

    type_id: int

    @abstractmethod
    def report(self, contacts: Sequence[Contact], describe: Callable[[int], Any]) -> list[bytes]:
        """Payloads for this tick's contacts of the parent; `describe(id)` is how the payload
        names an actor (rpc::Actor, made by the protocol layer)."""


SensorFactory = Callable[[dict[str, str]], ServerSensor | EventSensor]

# Blueprint id -> factory, and -> the attributes it reads. Filled by register_sensor.
SENSOR_TYPES: dict[str, SensorFactory] = {}
SENSOR_ATTRIBUTES: dict[str, tuple[Declared, ...]] = {}

# CARLA 0.9.16 sensor registry ids (the order of the wheel's CompositeSerializer).
SENSOR_TYPE_IDS: dict[str, int] = {
    "sensor.other.collision": 0,
    "sensor.camera.depth": 1,
    "sensor.camera.normals": 2,
    "sensor.camera.dvs": 3,
    "sensor.other.gnss": 4,
    "sensor.other.imu": 5,
    "sensor.other.lane_invasion": 6,
    "sensor.other.obstacle": 7,
    "sensor.camera.optical_flow": 8,
    "sensor.other.radar": 9,
    "sensor.lidar.ray_cast_semantic": 10,
    "sensor.lidar.ray_cast": 11,
    "sensor.other.rss": 12,
    "sensor.camera.rgb": 13,
    "sensor.camera.semantic_segmentation": 14,
    "sensor.camera.instance_segmentation": 15,
    "sensor.camera.cosmos_visualization": 16,
}
EPISODE_STATE_TYPE_ID = 17

_discovered = False


def register_sensor(blueprint_id: str, *settings: type) -> Callable[[SensorFactory], SensorFactory]:
    """Decorator: make `factory` build the server-side sensor for `blueprint_id`; the
    `attribute` fields of the `settings` dataclasses are the blueprint's attributes."""

    def decorate(factory: SensorFactory) -> SensorFactory:
        SENSOR_TYPES[blueprint_id] = factory
        SENSOR_ATTRIBUTES[blueprint_id] = declared_attributes(*settings)
        return factory

    return decorate


def sensor_types() -> dict[str, SensorFactory]:
    """The registry, after importing every sensor module of this package once."""
    global _discovered
    if not _discovered:
        _discovered = True
        for module in pkgutil.iter_modules(__path__):
            try:
                importlib.import_module(f"{__name__}.{module.name}")
            except Exception:  # one broken sensor module must not take the server down
                log.exception("could not import sensor module %s", module.name)
    return SENSOR_TYPES


def sensor_attributes(blueprint_id: str) -> tuple[Declared, ...]:
    """The attributes the server-side sensor of `blueprint_id` reads (none if there is none)."""
    sensor_types()
    return SENSOR_ATTRIBUTES.get(blueprint_id, ())


def make_sensor(blueprint_id: str, attributes: dict[str, str]) -> ServerSensor | EventSensor | None:
    """Build the server-side sensor for a spawned blueprint, or None if none is implemented."""
    factory = sensor_types().get(blueprint_id)
    return None if factory is None else factory(attributes)


__all__ = [
    "EPISODE_STATE_TYPE_ID",
    "SENSOR_ATTRIBUTES",
    "SENSOR_TYPES",
    "SENSOR_TYPE_IDS",
    "Contact",
    "EventSensor",
    "Scene",
    "SensorPose",
    "ServerSensor",
    "make_sensor",
    "register_sensor",
    "sensor_attributes",
    "sensor_types",
]
