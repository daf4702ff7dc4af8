"""Registry of server-side sensors: blueprint id -> factory(attribute values) -> ServerSensor.

Sensor modules in this package register themselves with `register_sensor`; every submodule is
imported on first use of the registry (`sensor_types()`), so adding a sensor means adding a
module here, nothing else. The server calls `measure` once per world tick in synchronous mode
(respecting `sensor_tick`), after physics, and prefixes the 48-byte sensor header itself.

    @register_sensor("sensor.camera.rgb")
    def make_rgb(attributes: dict[str, str]) -> ServerSensor: ...
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rllib_integration.embedded.scene import Scene, SensorPose

log = logging.getLogger(__name__)


@runtime_checkable
class ServerSensor(Protocol):
    type_id: int  # CARLA sensor registry id (wire protocol doc §2.3)
    sensor_tick: float  # seconds; 0 = every world tick

    def measure(self, scene: Scene, pose: SensorPose) -> bytes | None:
        """Payload AFTER the 48-byte sensor header; None = nothing this tick."""
        ...


SensorFactory = Callable[[dict[str, str]], ServerSensor]

# Blueprint id -> factory. Filled by register_sensor (from the modules of this package).
SENSOR_TYPES: dict[str, SensorFactory] = {}

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
}
EPISODE_STATE_TYPE_ID = 17

_discovered = False


def register_sensor(blueprint_id: str) -> Callable[[SensorFactory], SensorFactory]:
    """Decorator: make `factory` build the server-side sensor for `blueprint_id`."""

    def decorate(factory: SensorFactory) -> SensorFactory:
        SENSOR_TYPES[blueprint_id] = factory
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


def make_sensor(blueprint_id: str, attributes: dict[str, str]) -> ServerSensor | None:
    """Build the server-side sensor for a spawned blueprint, or None if none is implemented."""
    factory = sensor_types().get(blueprint_id)
    return None if factory is None else factory(attributes)


__all__ = [
    "EPISODE_STATE_TYPE_ID",
    "SENSOR_TYPES",
    "SENSOR_TYPE_IDS",
    "Scene",
    "SensorPose",
    "ServerSensor",
    "make_sensor",
    "register_sensor",
    "sensor_types",
]
