"""Sensor base classes: CARLA sensors (server-side actors) and pseudo-sensors (computed client-side).

A sensor is built from its YAML attributes and a `SimulatorView`, and knows nothing of who
collects its readings: `start(deliver)` hands it the callback that files one reading under the
frame it belongs to (the registry passes the collector's `put`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import carla

from rllib_integration.defaults import parse_transform

if TYPE_CHECKING:
    from rllib_integration.routes.route import Route
    from rllib_integration.sim_view import SimulatorView

# deliver(sensor name, frame, reading)
Deliver = Callable[[str, int, Any], None]


class BaseSensor:
    """A named source of per-frame readings."""

    # Event sensors (collision, lane invasion, obstacle) report only when something happens;
    # a step then gives the list of that frame's events, possibly empty.
    is_event: ClassVar[bool] = False
    # True for an event sensor computed in the client (CARLA's lane invasion): it runs as a
    # world on_tick callback when the tick's episode state arrives, which may be after
    # world.tick() has returned. A step then waits until an on_tick callback added after it has
    # run for the step's frame (`sensors.tick_confirmation`), so no event comes a step late.
    client_side: ClassVar[bool] = False
    # False for sensors that do not report every frame (sensor_tick > timestep): a step then
    # returns their latest reading, whose frame says how old it is, instead of waiting for one.
    every_frame: bool = True

    def __init__(self, name: str):
        self.name = name

    def start(self, deliver: Deliver) -> None:
        """Begin sending readings to `deliver` (once the collector knows the sensor)."""

    def actor_ids(self) -> list[int]:
        """Ids of the server-side actors this sensor holds (none for pseudo-sensors)."""
        return []

    def abandon(self) -> None:
        """Drop server-side resources without calling the server (it is dead or hung)."""

    def destroy(self) -> bool | None:
        """Release what the sensor holds; called once when the hero is destroyed. False if a
        server-side actor could not be destroyed (the server may be lost)."""
        return None


class PseudoSensor(BaseSensor):
    """A sensor computed in the client from what the simulator shows, e.g. `sensor.birdview` or
    `sensor.lane_state`: how an experiment gets anything that is not a CARLA sensor (the hero's
    state, its lane, the road ahead), since `get_observation` sees sensor data only.

    Write one by subclassing, and name it in the YAML by import path::

        class Heading(PseudoSensor):
            def tick(self, frame, snapshot):
                return np.float32(self.view.hero.get_transform().rotation.yaw)

        hero: {sensors: {heading: {type: my_package.sensors:Heading, any_key: 1}}}

    The contract:

    - `__init__(name, attributes, view)`: `attributes` is the YAML entry (with its `type`),
      `view` the read-only `SimulatorView` (client, world, map, hero, timestep, frame). Built
      once per episode, after the hero is spawned; the hero is `view.hero`.
    - `tick(frame, snapshot)`: called by the core right after every world tick (in the stepping
      thread: keep it fast; it cannot tick the world). `snapshot` is that tick's
      `carla.WorldSnapshot`. What it returns is the experiment's `sensor_data[name] ==
      (frame, reading)` of the same step: at reset, then at every step.
    - `tick_all(sensors, frame, snapshot)` (classmethod, optional): the readings of several
      sensors of this class (one per hero of a multi-agent world) for one tick, in their
      order. The default calls each one's `tick`; override it to share work between heroes
      (the bird's-eye view reads the snapshot once for all of them).
    - `check_attributes(attributes)` (classmethod, optional): raise ValueError for a bad YAML
      entry; it runs when the config is loaded, so a typo is an error naming the file and line
      before any server starts. The default accepts anything.
    - `set_route(route)` (optional): in a route episode, the hero's `routes.Route`, given once
      before the sensor's first `tick` (e.g. the bird's-eye view draws it); not called otherwise.
    - `destroy()` (optional): release what the sensor holds; called when the hero is destroyed.

    By convention a sensor whose reading is an array also offers a classmethod
    `observation_space(attributes)` giving its gymnasium space (both shipped ones do).
    """

    def __init__(self, name: str, attributes: dict, view: SimulatorView):
        super().__init__(name)
        self.attributes = dict(attributes)
        self.view = view

    @classmethod
    def check_attributes(cls, attributes: dict) -> None:
        """Raise ValueError for a bad YAML entry (checked at config load); accepts anything."""

    def set_route(self, route: Route) -> None:
        """Optional: the route of this route episode, before the first `tick`."""

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define tick()")

    @classmethod
    def tick_all(
        cls, sensors: Sequence[PseudoSensor], frame: int, snapshot: carla.WorldSnapshot
    ) -> list[Any]:
        """The readings of `sensors` (all of this class, one world) for this tick, in order."""
        return [sensor.tick(frame, snapshot) for sensor in sensors]


class CarlaSensor(BaseSensor):
    """A CARLA sensor actor attached to the hero; subclasses define `parse(data)`."""

    blueprint_id: ClassVar[str] = ""
    # Keys of the YAML entry that are ours, not blueprint attributes.
    _OWN_KEYS = ("type", "transform")

    def __init__(self, name: str, attributes: dict, view: SimulatorView):
        super().__init__(name)
        blueprint = view.blueprint_library.find(attributes["type"])
        if blueprint.has_attribute("role_name"):
            blueprint.set_attribute("role_name", name)
        for key, value in attributes.items():
            if key in self._OWN_KEYS:
                continue
            if not blueprint.has_attribute(key):
                raise ValueError(f"sensor '{name}': {attributes['type']} has no attribute '{key}'")
            blueprint.set_attribute(key, _attribute_text(value))
        sensor_tick = float(attributes.get("sensor_tick", 0.0))
        self.every_frame = sensor_tick <= view.timestep
        transform = make_transform(attributes.get("transform", "0,0,0,0,0,0"))
        self.actor: carla.Sensor | None = view.world.spawn_actor(
            blueprint, transform, attach_to=view.hero
        )

    def parse(self, data: Any) -> Any:
        raise NotImplementedError

    def start(self, deliver: Deliver) -> None:
        name = self.name

        def on_data(data: Any) -> None:
            # Runs in the client's streaming thread: parse (copying out of CARLA's buffer), file.
            deliver(name, data.frame, self.parse(data))

        if self.actor is not None:
            self.actor.listen(on_data)

    def actor_ids(self) -> list[int]:
        return [self.actor.id] if self.actor is not None else []

    def abandon(self) -> None:
        actor, self.actor = self.actor, None
        if actor is not None and actor.is_listening:
            actor.stop()  # client-side unsubscribe; no RPC to the dead server

    def destroy(self) -> bool:
        if self.actor is None:
            return True
        actor, self.actor = self.actor, None
        try:
            if actor.is_listening:
                actor.stop()
            return bool(actor.destroy())
        except RuntimeError:
            return False  # the server is gone; nothing left to release there


def positive_settings(kind: str, defaults: Mapping[str, float], attributes: dict) -> dict:
    """A pseudo-sensor's numeric settings: `defaults` updated by the YAML `attributes` (but
    ``type``), each a finite number > 0; ValueError naming the first bad or unknown one."""
    values = {**defaults, **{k: v for k, v in attributes.items() if k != "type"}}
    for key in values:
        if key not in defaults:
            raise ValueError(f"{kind} has no attribute '{key}'")
        number = values[key]
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ValueError(f"{key} must be a number > 0, got {number!r}")
        if not math.isfinite(number):
            raise ValueError(f"{key} must be finite, got {number!r}")
        values[key] = float(number)
    return values


def make_transform(value: Any) -> carla.Transform:
    """ "x,y,z,roll,pitch,yaw" (the original's order) -> carla.Transform."""
    x, y, z, roll, pitch, yaw = parse_transform(value)
    return carla.Transform(carla.Location(x, y, z), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll))


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
