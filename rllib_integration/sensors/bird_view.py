"""Old home of the bird's-eye view sensor, kept so that YAML files naming
"rllib_integration.sensors.bird_view:BirdViewSensor" still work; use `type: sensor.birdview`."""

from rllib_integration.sensors.birdview.sensor import BirdViewSensor

__all__ = ["BirdViewSensor"]
