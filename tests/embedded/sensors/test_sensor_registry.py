"""The sensor registry: settings declared once as blueprint attributes; event sensors."""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import pytest

from rllib_integration.embedded.blueprints import SENSOR_BLUEPRINT_IDS, default_library
from rllib_integration.embedded.sensors import Contact, EventSensor, make_sensor, sensor_types
from rllib_integration.embedded.sensors.attributes import (
    Declared,
    SensorAttributeError,
    attribute,
    declared_attributes,
    from_attributes,
    tick_attribute,
)


@dataclass
class Example:
    name: str  # not an attribute: given by the factory
    size: int = attribute(800, "image_size_x")
    gain: float = attribute(0.5)
    enabled: bool = attribute(True)
    bias: tuple[float, float, float] = attribute((0.0, 0.0, 1.0), "noise_bias")
    sensor_tick: float = tick_attribute()


def test_declared_attributes_are_the_fields_under_their_blueprint_names():
    assert declared_attributes(Example) == (
        Declared("image_size_x", 800),
        Declared("gain", 0.5),
        Declared("enabled", True),
        Declared("noise_bias_x", 0.0),
        Declared("noise_bias_y", 0.0),
        Declared("noise_bias_z", 1.0),
        Declared("sensor_tick", 0.0),
    )


def test_from_attributes_parses_strings_by_the_default_type_and_keeps_defaults():
    parsed = from_attributes(
        Example,
        {"image_size_x": "64", "enabled": "false", "noise_bias_y": "2", "gain": ""},
        name="cam",
    )
    assert parsed == Example("cam", 64, 0.5, False, (0.0, 2.0, 1.0), 0.0)
    with pytest.raises(SensorAttributeError, match="'image_size_x'=6.5 is not an integer"):
        from_attributes(Example, {"image_size_x": "6.5"}, name="cam")
    with pytest.raises(SensorAttributeError, match="'sensor_tick'=-1.0 must be >= 0"):
        from_attributes(Example, {"sensor_tick": "-1"}, name="cam")


def test_every_server_sensor_has_a_blueprint_whose_defaults_build_it():
    library = default_library()
    assert set(sensor_types()) <= set(SENSOR_BLUEPRINT_IDS)
    for blueprint_id in sensor_types():
        defaults = library.get(blueprint_id).defaults()
        assert make_sensor(blueprint_id, defaults) is not None, blueprint_id


def test_a_blueprint_offers_what_its_sensor_reads():
    lidar = {a.id for a in default_library().get("sensor.lidar.ray_cast").attributes}
    semantic = {a.id for a in default_library().get("sensor.lidar.ray_cast_semantic").attributes}
    assert {"channels", "range", "noise_stddev", "dropoff_general_rate", "sensor_tick"} <= lidar
    assert "channels" in semantic and "noise_stddev" not in semantic  # no noise model
    imu = {a.id: a.value for a in default_library().get("sensor.other.imu").attributes}
    assert imu["noise_gyro_bias_z"] == "0.0" and imu["sensor_tick"] == "0.0"


def test_collision_sensor_reports_each_other_actor_once_per_tick():
    sensor = make_sensor("sensor.other.collision", {})
    assert isinstance(sensor, EventSensor) and sensor.type_id == 0
    contacts = [
        Contact(7, 9, (100.0, 0.0, 0.0)),
        Contact(7, 9, (50.0, 0.0, 0.0)),  # the same pair again this tick
        Contact(7, 0, (0.0, -3.0, 0.0)),  # the edge of the world
    ]
    events = [msgpack.unpackb(e) for e in sensor.report(contacts, lambda i: [i, "described"])]
    assert events == [
        [[7, "described"], [9, "described"], [100.0, 0.0, 0.0]],
        [[7, "described"], [0, "described"], [0.0, -3.0, 0.0]],
    ]
