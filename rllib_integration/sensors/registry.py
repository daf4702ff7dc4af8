"""Sensor registry: YAML `type` -> sensor attached to the hero, registered with the collector.

`type` is a CARLA sensor blueprint id, `sensor.birdview`, or the import path
"package.module:ClassName" of your own PseudoSensor subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rllib_integration.defaults import import_path
from rllib_integration.sensors.base import BaseSensor, CarlaSensor, PseudoSensor
from rllib_integration.sensors.birdview.sensor import BirdViewSensor
from rllib_integration.sensors.carla_sensors import CARLA_SENSOR_CLASSES
from rllib_integration.sensors.lane_state import LaneStateSensor
from rllib_integration.sensors.route_state import RouteStateSensor

if TYPE_CHECKING:
    from rllib_integration.sensors.collector import SensorCollector
    from rllib_integration.sim_view import SimulatorView

# Pseudo-sensors by type name.
PSEUDO_SENSORS: dict[str, type[PseudoSensor]] = {
    "sensor.birdview": BirdViewSensor,
    "sensor.lane_state": LaneStateSensor,
    "sensor.route_state": RouteStateSensor,
}


def known_sensor_types() -> list[str]:
    return sorted([*CARLA_SENSOR_CLASSES, *PSEUDO_SENSORS])


def sensor_class(name: str, sensor_type: object) -> type[CarlaSensor] | type[PseudoSensor]:
    """The class of YAML `type`; ValueError (a ConfigError for a bad import path) if none."""
    if isinstance(sensor_type, str) and sensor_type in CARLA_SENSOR_CLASSES:
        return CARLA_SENSOR_CLASSES[sensor_type]
    if isinstance(sensor_type, str) and sensor_type in PSEUDO_SENSORS:
        return PSEUDO_SENSORS[sensor_type]
    if not isinstance(sensor_type, str) or ":" not in sensor_type:
        known = ", ".join(known_sensor_types())
        raise ValueError(f"sensor '{name}': unknown type '{sensor_type}'; known: {known}")
    cls = import_path(sensor_type, f"sensor '{name}'")
    if not (isinstance(cls, type) and issubclass(cls, PseudoSensor)):
        raise ValueError(f"sensor '{name}': '{sensor_type}' is not a PseudoSensor subclass")
    return cls


def create_sensor(
    name: str, attributes: dict, view: SimulatorView, collector: SensorCollector
) -> BaseSensor:
    """Build the sensor `name` from its YAML entry, register it with `collector`, start it."""
    sensor = sensor_class(name, attributes.get("type"))(name, attributes, view)
    try:
        collector.register(sensor)
    except BaseException:
        sensor.destroy()
        raise
    sensor.start(collector.put)
    return sensor
