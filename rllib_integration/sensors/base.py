"""Sensor base classes: CARLA sensors (server-side actors) and pseudo-sensors (computed client-side).

Both deliver one reading per frame to the core's SensorInterface, keyed by the frame it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import carla

from rllib_integration.config import parse_transform

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore


class BaseSensor:
    """A named source of per-frame readings."""

    # Event sensors (collision, lane invasion, obstacle) report only when something happens;
    # a step then gives the list of that frame's events, possibly empty.
    is_event: ClassVar[bool] = False
    # False for sensors that do not report every frame (sensor_tick > timestep): a step then
    # returns their latest reading, whose frame says how old it is, instead of waiting for one.
    every_frame: bool = True

    def __init__(self, name: str):
        self.name = name

    def destroy(self) -> None:
        """Release what the sensor holds; called once when the hero is destroyed."""


class PseudoSensor(BaseSensor):
    """A sensor computed in the client, e.g. the bird's-eye view.

    CarlaCore calls `tick(frame, snapshot)` right after every world tick and hands the returned
    reading to the experiment as this frame's data.
    """

    def __init__(self, name: str, attributes: dict, core: CarlaCore):
        super().__init__(name)
        self.attributes = dict(attributes)
        self.core = core

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define tick()")


class CarlaSensor(BaseSensor):
    """A CARLA sensor actor attached to the hero; subclasses define `parse(data)`."""

    blueprint_id: ClassVar[str] = ""
    # Keys of the YAML entry that are ours, not blueprint attributes.
    _OWN_KEYS = ("type", "transform")

    def __init__(self, name: str, attributes: dict, core: CarlaCore):
        super().__init__(name)
        self.interface = core.sensor_interface
        blueprint = core.world.get_blueprint_library().find(attributes["type"])
        if blueprint.has_attribute("role_name"):
            blueprint.set_attribute("role_name", name)
        for key, value in attributes.items():
            if key in self._OWN_KEYS:
                continue
            if not blueprint.has_attribute(key):
                raise ValueError(f"sensor '{name}': {attributes['type']} has no attribute '{key}'")
            blueprint.set_attribute(key, _attribute_text(value))
        sensor_tick = float(attributes.get("sensor_tick", 0.0))
        self.every_frame = sensor_tick <= core.timestep
        transform = make_transform(attributes.get("transform", "0,0,0,0,0,0"))
        self.actor = core.world.spawn_actor(blueprint, transform, attach_to=core.hero)
        self.interface.register(self)
        self.actor.listen(self._on_data)

    def parse(self, data: Any) -> Any:
        raise NotImplementedError

    def _on_data(self, data: Any) -> None:
        # Runs in the client's streaming thread: parse (copying out of CARLA's buffer) and queue.
        self.interface.put(self.name, data.frame, self.parse(data))

    def destroy(self) -> None:
        if self.actor is None:
            return
        actor, self.actor = self.actor, None
        try:
            if actor.is_listening:
                actor.stop()
            actor.destroy()
        except RuntimeError:
            pass  # the server is gone; nothing left to release there


def make_transform(value: Any) -> carla.Transform:
    """ "x,y,z,roll,pitch,yaw" (the original's order) -> carla.Transform."""
    x, y, z, roll, pitch, yaw = parse_transform(value)
    return carla.Transform(carla.Location(x, y, z), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll))


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
