"""`sensor.lane_state`: the hero's place in its lane and what lies ahead, computed in the client.

YAML (every key optional except ``type``)::

    lane:
      type: sensor.lane_state
      horizon: 50.0     # metres looked ahead along the lane for a junction or a traffic light
      step: 2.0         # metres between the waypoints of that look-ahead

Each frame's reading is a float32 vector, its fields in `FIELDS` order:

==================  =====================================================================
lateral_offset      m from the lane centre, positive to the right (in the lane's direction)
heading_error       rad, the hero's yaw minus the lane's, in [-pi, pi], positive = turned right
lane_width          m
speed_limit         m/s, the limit the hero is under (`Vehicle.get_speed_limit()`)
junction_distance   m along the lane to the next junction (0 inside one; `horizon` if none)
light_distance      m along the lane to the next traffic light (`horizon` if none)
light_state         that light's state: 0 none or off, 1 green, 2 yellow, 3 red
speed               m/s, the hero's speed
==================  =====================================================================

`LaneStateSensor.observation_space(attributes)` is the matching gymnasium Box, and
`FIELDS.index("lateral_offset")` finds a field. It reads only the client API (the map's
waypoints and landmarks, the hero, the world's traffic lights), so it gives the same on the
embedded server and on CarlaUE4; lights exist where the server has them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import carla
import numpy as np
from gymnasium import spaces

from rllib_integration.sensors.base import PseudoSensor, positive_settings

if TYPE_CHECKING:
    from rllib_integration.sim_view import SimulatorView

FIELDS = (
    "lateral_offset",
    "heading_error",
    "lane_width",
    "speed_limit",
    "junction_distance",
    "light_distance",
    "light_state",
    "speed",
)
LIGHT_STATES = {"Green": 1.0, "Yellow": 2.0, "Red": 3.0}  # anything else (Off, Unknown): 0
# OpenDRIVE signal types that CARLA makes traffic lights of (LibCarla's IsTrafficLight list).
TRAFFIC_LIGHT_TYPES = frozenset(
    [str(t) for t in (1000001, 1000002, *range(1000007, 1000021))] + ["F", "W", "A"]
)


class LaneStateSensor(PseudoSensor):
    """One `FIELDS` vector per world tick (see the module docstring)."""

    ATTRIBUTES: ClassVar[dict[str, float]] = {"horizon": 50.0, "step": 2.0}

    def __init__(self, name: str, attributes: dict, view: SimulatorView):
        super().__init__(name, attributes, view)
        settings = self.settings(attributes)
        self.horizon, self.step = settings["horizon"], settings["step"]

    @classmethod
    def check_attributes(cls, attributes: dict) -> None:
        cls.settings(attributes)

    @classmethod
    def settings(cls, attributes: dict) -> dict[str, float]:
        """The sensor's settings with their defaults; ValueError for a bad value."""
        values = positive_settings("sensor.lane_state", cls.ATTRIBUTES, attributes)
        if values["step"] > values["horizon"]:
            raise ValueError("step must not exceed horizon")
        return values

    @classmethod
    def observation_space(cls, attributes: dict | None = None) -> spaces.Box:
        horizon = cls.settings(attributes or {})["horizon"]
        low = np.array([-np.inf, -np.pi, 0, 0, 0, 0, 0, 0], np.float32)
        high = np.array([np.inf, np.pi, np.inf, np.inf, horizon, horizon, 3, np.inf], np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> np.ndarray:
        hero = self.view.hero
        transform = hero.get_transform()
        waypoint = self.view.map.get_waypoint(
            transform.location, project_to_road=True, lane_type=carla.LaneType.Driving
        )
        velocity = hero.get_velocity()
        speed = math.sqrt(velocity.x**2 + velocity.y**2 + velocity.z**2)
        speed_limit = float(hero.get_speed_limit()) / 3.6
        if waypoint is None:  # far off any road
            h = self.horizon
            return np.array([0, 0, 0, speed_limit, h, h, 0, speed], np.float32)
        lane = waypoint.transform
        offset = transform.location - lane.location
        right = lane.get_right_vector()
        lateral = offset.x * right.x + offset.y * right.y
        heading = _wrap(math.radians(transform.rotation.yaw - lane.rotation.yaw))
        light_distance, light_state = self._next_light(waypoint)
        return np.array(
            [
                lateral,
                heading,
                waypoint.lane_width,
                speed_limit,
                self._junction_distance(waypoint),
                light_distance,
                light_state,
                speed,
            ],
            np.float32,
        )

    def _junction_distance(self, waypoint: carla.Waypoint) -> float:
        travelled = 0.0
        while not waypoint.is_junction:
            if travelled >= self.horizon:
                return self.horizon
            ahead = waypoint.next(self.step)
            if not ahead:
                return self.horizon  # the road ends
            waypoint = ahead[0]
            travelled += self.step
        return min(travelled, self.horizon)

    def _next_light(self, waypoint: carla.Waypoint) -> tuple[float, float]:
        landmarks = [
            lm
            for lm in waypoint.get_landmarks(self.horizon, False)
            if lm.type in TRAFFIC_LIGHT_TYPES
        ]
        for landmark in sorted(landmarks, key=lambda lm: lm.distance):
            light = self.view.world.get_traffic_light(landmark)
            if light is not None:
                state = LIGHT_STATES.get(str(light.get_state()), 0.0)
                return min(float(landmark.distance), self.horizon), state
        return self.horizon, 0.0


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def reading_as_dict(reading: Any) -> dict[str, float]:
    """A reading as {field: value}, for logs and info."""
    return {name: float(value) for name, value in zip(FIELDS, reading, strict=True)}
