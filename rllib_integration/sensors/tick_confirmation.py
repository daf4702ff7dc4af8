"""The frame up to which the client-side sensors of a world have run, for their collectors.

CARLA's client-side sensors (the lane-invasion detector) are world on_tick callbacks: the
client calls them on its streaming thread when a tick's episode state arrives, after it has
woken the world.tick() that waits for that state, so a step can ask for their events before
they are delivered. The client calls the on_tick callbacks one after the other, in the order
they were added: one added after every sensor of the episode has run for frame N only once
every sensor's has. One such callback a world (not one a sensor) keeps the cost of the Python
call, mostly the hand-over of the GIL between threads, to once a tick.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import carla

from rllib_integration.sensors.collector import SensorCollector


class TickConfirmation:
    """Confirms each tick's frame to the collectors that hold a client-side sensor."""

    def __init__(self, world: carla.World, collectors: Iterable[SensorCollector]):
        waiting = [c for c in collectors if c.has_client_side_sensors()]
        self._world = world
        self._callback_id: int | None = None
        if not waiting:
            return

        def confirm(snapshot: carla.WorldSnapshot) -> None:
            for collector in waiting:
                collector.confirm(snapshot.frame)

        # Added after the sensors started listening: runs after theirs for each tick.
        self._callback_id = world.on_tick(confirm)

    def remove(self) -> None:
        """Stop confirming (client-side only: no call to the server, which may be gone)."""
        callback_id, self._callback_id = self._callback_id, None
        if callback_id is not None:
            with contextlib.suppress(RuntimeError):
                self._world.remove_on_tick(callback_id)
