"""YAML sensor `type` -> sensor class, including the old import path of the bird's-eye view."""

from __future__ import annotations

import pytest

from rllib_integration.config import ConfigError, resolve_env_config
from rllib_integration.sensors.birdview.sensor import BirdViewSensor
from rllib_integration.sensors.carla_sensors import Gnss
from rllib_integration.sensors.registry import known_sensor_types, sensor_class

EXPERIMENT = "tests.integration.experiments:DriveStraight"
OLD_PATH = "rllib_integration.sensors.bird_view:BirdViewSensor"


def test_types_by_name_and_the_old_birdview_import_path():
    assert sensor_class("g", "sensor.other.gnss") is Gnss
    assert sensor_class("bev", "sensor.birdview") is BirdViewSensor
    assert sensor_class("bev", OLD_PATH) is BirdViewSensor
    assert "sensor.birdview" in known_sensor_types()
    sensors = {"bev": {"type": OLD_PATH, "size": 32}}
    config = resolve_env_config({"experiment": {"type": EXPERIMENT, "hero": {"sensors": sensors}}})
    assert config["experiment"]["hero"]["sensors"]["bev"]["type"] == OLD_PATH


@pytest.mark.parametrize(
    ("sensor_type", "error", "message"),
    [
        ("sensor.camera.rbg", ValueError, "sensor 'x': unknown type 'sensor.camera.rbg'; known:"),
        ("no_such_module:Sensor", ConfigError, "sensor 'x': cannot import module 'no_such_module'"),
        ("rllib_integration.sensors.carla_sensors:Gnss", ValueError, "is not a PseudoSensor"),
        ("rllib_integration.sensors.birdview.sensor:Nope", ConfigError, "has no class 'Nope'"),
    ],
)
def test_unknown_types_are_one_clear_error(sensor_type, error, message):
    with pytest.raises(error, match=message):
        sensor_class("x", sensor_type)
