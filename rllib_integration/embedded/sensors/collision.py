"""sensor.other.collision: one event per contact of its parent in the world's physics step.

Wire layout (CARLA's CollisionEventSerializer): msgpack of
`[self_actor: rpc::Actor, other_actor: rpc::Actor, normal_impulse: [x, y, z]]`, where
`self_actor` is the parent (the actor that collided).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from rllib_integration.embedded.sensors import (
    SENSOR_TYPE_IDS,
    Contact,
    EventSensor,
    register_sensor,
)


class CollisionSensor(EventSensor):
    """At most one event per other actor and tick, as CARLA's sensor reports per actor pair
    and frame."""

    type_id = SENSOR_TYPE_IDS["sensor.other.collision"]

    def report(self, contacts: Sequence[Contact], describe: Callable[[int], Any]) -> list[bytes]:
        events, seen = [], set()
        for contact in contacts:
            if contact.other_id in seen:
                continue
            seen.add(contact.other_id)
            impulse = [float(c) for c in contact.impulse]
            event = [describe(contact.actor_id), describe(contact.other_id), impulse]
            events.append(msgpack.packb(event, use_bin_type=True))
        return events


@register_sensor("sensor.other.collision")
def make_collision(attributes: dict[str, str]) -> CollisionSensor:
    return CollisionSensor()
