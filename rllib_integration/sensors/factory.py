"""Sensor factory: YAML `type` -> sensor object attached to the hero.

`type` is a CARLA sensor blueprint id, `sensor.birdview`, or the import path
"package.module:ClassName" of your own PseudoSensor subclass.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rllib_integration.sensors.base import BaseSensor, PseudoSensor

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore

# Pseudo-sensors by type name -> import path, imported only when used.
PSEUDO_SENSORS = {"sensor.birdview": "rllib_integration.sensors.bird_view:BirdViewSensor"}


def known_sensor_types() -> list[str]:
    from rllib_integration.sensors.carla_sensors import CARLA_SENSOR_CLASSES

    return sorted([*CARLA_SENSOR_CLASSES, *PSEUDO_SENSORS])


def create_sensor(name: str, attributes: dict, core: CarlaCore) -> BaseSensor:
    """Build the sensor `name` from its YAML entry; pseudo-sensors are registered here too."""
    from rllib_integration.sensors.carla_sensors import CARLA_SENSOR_CLASSES

    sensor_type = attributes.get("type")
    if sensor_type in CARLA_SENSOR_CLASSES:
        return CARLA_SENSOR_CLASSES[sensor_type](name, attributes, core)
    path = PSEUDO_SENSORS.get(sensor_type, sensor_type)
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(
            f"sensor '{name}': unknown type '{sensor_type}'; known: {', '.join(known_sensor_types())}"
        )
    cls = _import_class(path, name)
    if not (isinstance(cls, type) and issubclass(cls, PseudoSensor)):
        raise ValueError(f"sensor '{name}': '{path}' is not a PseudoSensor subclass")
    sensor = cls(name, attributes, core)
    core.sensor_interface.register(sensor)
    return sensor


def _import_class(path: str, sensor_name: str) -> type:
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"sensor '{sensor_name}': cannot import '{module_name}': {exc}") from None
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ValueError(f"sensor '{sensor_name}': '{module_name}' has no '{class_name}'") from None
