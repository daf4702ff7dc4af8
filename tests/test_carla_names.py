"""The library's own lists of `carla` names are exactly the installed client's.

They are written out (not read from `carla` at run time) so that config validation needs no
client import; these tests keep them from drifting when the client is upgraded.
"""

from __future__ import annotations

import carla

from rllib_integration.defaults import WEATHER_PARAMETERS, WEATHER_PRESETS
from rllib_integration.traffic.host_client import CONTROL_FIELDS, control_to_dict


def _properties(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and isinstance(getattr(cls, n), property)}


def test_control_fields_are_every_field_of_carla_vehicle_control():
    assert set(CONTROL_FIELDS) == _properties(carla.VehicleControl)


def test_a_control_survives_the_trip_to_the_traffic_helper():
    control = carla.VehicleControl(
        throttle=0.5, steer=-0.25, brake=0.125, hand_brake=True, reverse=True, gear=2
    )
    control.manual_gear_shift = True
    assert carla.VehicleControl(**control_to_dict(control)) == control


def test_weather_parameters_and_presets_are_carla_weather_parameters():
    weather = carla.WeatherParameters
    assert set(WEATHER_PARAMETERS) == _properties(weather)
    presets = {n for n in dir(weather) if isinstance(getattr(weather, n), weather)}
    assert set(WEATHER_PRESETS) == presets
