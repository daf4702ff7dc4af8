"""sensor.other.collision: events collected by the world's collision step, one per contact."""

from __future__ import annotations

import msgpack

from rllib_integration.embedded.scene import Scene, SensorPose

COLLISION_TYPE_ID = 0


class CollisionSensor:
    """Streams msgpack [self_actor, other_actor, normal_impulse] for each contact of its parent.

    The world calls `record` during the physics step; `measure` drains one event per tick per
    other actor (CARLA's sensor also reports at most one event per actor pair and frame).
    """

    type_id = COLLISION_TYPE_ID
    sensor_tick = 0.0

    def __init__(self, attributes: dict[str, str]) -> None:
        self._events: list[bytes] = []
        self._seen: set[int] = set()

    def record(self, self_actor: list, other_actor: list, impulse: tuple) -> None:
        if other_actor[0] in self._seen:
            return
        self._seen.add(other_actor[0])
        self._events.append(
            msgpack.packb([self_actor, other_actor, [float(c) for c in impulse]], use_bin_type=True)
        )

    def clear(self) -> None:
        self._events.clear()
        self._seen.clear()

    def drain(self) -> list[bytes]:
        """All of this tick's event payloads (one stream message each)."""
        events, self._events = self._events, []
        self._seen.clear()
        return events

    def measure(self, scene: Scene | None, pose: SensorPose) -> bytes | None:
        """The ServerSensor form: this tick's first event (the world uses `drain`)."""
        events = self.drain()
        return events[0] if events else None
