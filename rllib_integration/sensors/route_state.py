"""`sensor.route_state`: where the hero is on its route and what the route asks next.

YAML (every key optional except ``type``)::

    route:
      type: sensor.route_state
      lookahead: 8.0    # metres along the route ahead of the hero to the target point
      horizon: 50.0     # metres looked ahead along the route for the next decision

Each frame's reading is a float32 vector, its fields in `FIELDS` order:

====================  ====================================================================
lateral_offset        m from the route, positive to the right of its heading
heading_error         rad, the hero's yaw minus the route's, in [-pi, pi], positive = turned right
target_x, target_y    the route point `lookahead` m ahead, in the hero's frame (m, x forward,
                      y right): where to steer
left, right,          1 for the next decision within `horizon` (a turn at a junction where the
straight,             lane has a choice, or a lane change), else 0; all 0: follow the lane
change_left,
change_right
decision_distance     m along the route to that decision (0 inside it; `horizon` if none)
remaining             m of route left, up to `horizon`
speed                 m/s, the hero's speed
====================  ====================================================================

In a route episode the env gives the sensor the hero's route (`set_route`); it follows the
hero's progress along it as the route tracker does (a point counts as passed once the hero is
beyond it). Outside route episodes every field but the speed is 0 (remaining and the decision
distance: `horizon`). `RouteStateSensor.observation_space(attributes)` is the matching Box.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from gymnasium import spaces

from rllib_integration.routes.options import RoadOption
from rllib_integration.routes.progress import RouteProgress
from rllib_integration.sensors.base import PseudoSensor, positive_settings

if TYPE_CHECKING:
    import carla

    from rllib_integration.routes.route import Route
    from rllib_integration.sim_view import SimulatorView

DECISIONS = (
    RoadOption.LEFT,
    RoadOption.RIGHT,
    RoadOption.STRAIGHT,
    RoadOption.CHANGELANELEFT,
    RoadOption.CHANGELANERIGHT,
)
FIELDS = (
    "lateral_offset",
    "heading_error",
    "target_x",
    "target_y",
    "left",
    "right",
    "straight",
    "change_left",
    "change_right",
    "decision_distance",
    "remaining",
    "speed",
)
_FIRST_DECISION = FIELDS.index("left")


class RouteStateSensor(PseudoSensor):
    """One `FIELDS` vector per world tick (see the module docstring)."""

    ATTRIBUTES: ClassVar[dict[str, float]] = {"lookahead": 8.0, "horizon": 50.0}

    def __init__(self, name: str, attributes: dict, view: SimulatorView):
        super().__init__(name, attributes, view)
        settings = self.settings(attributes)
        self.lookahead, self.horizon = settings["lookahead"], settings["horizon"]
        self._progress: RouteProgress | None = None
        self._decisions = np.zeros(0, np.int64)  # indices where a decision starts

    @classmethod
    def check_attributes(cls, attributes: dict) -> None:
        cls.settings(attributes)

    @classmethod
    def settings(cls, attributes: dict) -> dict[str, float]:
        """The sensor's settings with their defaults; ValueError for a bad value."""
        return positive_settings("sensor.route_state", cls.ATTRIBUTES, attributes)

    @classmethod
    def observation_space(cls, attributes: dict | None = None) -> spaces.Box:
        settings = cls.settings(attributes or {})
        horizon = settings["horizon"]
        low = np.full(len(FIELDS), -np.inf, np.float32)
        high = np.full(len(FIELDS), np.inf, np.float32)
        low[1], high[1] = -np.pi, np.pi
        low[_FIRST_DECISION : _FIRST_DECISION + len(DECISIONS)] = 0
        high[_FIRST_DECISION : _FIRST_DECISION + len(DECISIONS)] = 1
        low[-3:], high[-3:-1] = 0, horizon
        return spaces.Box(low, high, dtype=np.float32)

    def set_route(self, route: Route) -> None:
        self._progress = RouteProgress(route)
        options = np.array([int(o) for o in route.options])
        decisive = np.isin(options, [int(d) for d in DECISIONS])
        # A decision starts where the option changes to one (or the junction changes).
        changed = np.ones(len(route), bool)
        changed[1:] = (options[1:] != options[:-1]) | (
            route.junction_ids[1:] != route.junction_ids[:-1]
        )
        self._decisions = np.flatnonzero(decisive & changed)

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> np.ndarray:
        hero = self.view.hero
        transform = hero.get_transform()
        speed = hero.get_velocity().length()
        reading = np.zeros(len(FIELDS), np.float32)
        reading[-1] = speed
        if self._progress is None:
            reading[-3:-1] = self.horizon
            return reading
        where = transform.location
        progress = self._progress
        progress.advance(where.x, where.y, True)
        route, index = progress.route, progress.index
        along = route.cumulative
        here = along[index]
        yaw = math.radians(transform.rotation.yaw)
        forward = np.array([math.cos(yaw), math.sin(yaw)])
        right = np.array([-forward[1], forward[0]])  # CARLA's y points right of the heading
        offset = np.array([where.x, where.y]) - route.positions[index, :2]
        route_right = np.array([-route.forward[index, 1], route.forward[index, 0]])
        reading[0] = float(offset @ route_right)
        reading[1] = _wrap(yaw - math.radians(route.yaws[index]))
        target = min(int(np.searchsorted(along, here + self.lookahead)), len(route) - 1)
        delta = route.positions[target, :2] - (where.x, where.y)
        reading[2], reading[3] = float(delta @ forward), float(delta @ right)
        reading[-2] = min(along[-1] - here, self.horizon)
        reading[-3] = self.horizon
        option = route.options[index]
        if option in DECISIONS:  # inside a decision: it is the next one, 0 m away
            reading[_FIRST_DECISION + DECISIONS.index(option)] = 1.0
            reading[-3] = 0.0
            return reading
        ahead = self._decisions[self._decisions > index]
        if len(ahead) and along[ahead[0]] - here <= self.horizon:
            reading[_FIRST_DECISION + DECISIONS.index(route.options[ahead[0]])] = 1.0
            reading[-3] = along[ahead[0]] - here
        return reading


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
