"""SensorCollector: frame-matched collection of sensor readings.

Each sensor has its own store keyed by frame. `get_data(frame)` waits for exactly that frame's
reading from every sensor that reports each frame, and until the client-side sensors have run
for that frame (`TickConfirmation`); drops older readings, and gives each event sensor the list
of its events up to that frame not delivered before: this frame's, but for a late event of a
server-side event sensor (collision, obstacle), whose stream sends nothing when nothing happens,
so that there is nothing to wait for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rllib_integration.sensors.base import BaseSensor


class SensorTimeoutError(RuntimeError):
    """A sensor did not deliver the requested frame in time (the server may be hung or dead)."""


class SensorCollector:
    """The readings of the hero's sensors, filed by frame; `get_data(frame)` hands out one frame."""

    def __init__(self) -> None:
        self._sensors: dict[str, BaseSensor] = {}
        self._readings: dict[str, dict[int, Any]] = {}
        self._delivered: set[str] = set()
        # The latest frame every client-side sensor has run for (`TickConfirmation`).
        self._confirmed = -1
        self._changed = threading.Condition()

    @property
    def sensors(self) -> dict[str, BaseSensor]:
        return dict(self._sensors)

    def register(self, sensor: BaseSensor) -> None:
        with self._changed:
            if sensor.name in self._sensors:
                raise ValueError(f"a sensor named '{sensor.name}' is already registered")
            self._sensors[sensor.name] = sensor
            self._readings[sensor.name] = {}

    def put(self, name: str, frame: int, data: Any) -> None:
        """Store one reading (thread-safe; called from CARLA's callback threads)."""
        with self._changed:
            store = self._readings.get(name)
            if store is None:
                return  # a late reading from a sensor already destroyed
            sensor = self._sensors[name]
            self._delivered.add(name)
            if sensor.is_event:
                store.setdefault(frame, []).append(data)
            else:
                store[frame] = data
            self._changed.notify_all()

    def has_client_side_sensors(self) -> bool:
        with self._changed:
            return any(sensor.client_side for sensor in self._sensors.values())

    def confirm(self, frame: int) -> None:
        """The client-side sensors have run for `frame` (thread-safe; from CARLA's thread)."""
        with self._changed:
            if frame > self._confirmed:
                self._confirmed = frame
                self._changed.notify_all()

    def all_delivered(self) -> bool:
        """True once every sensor that reports each frame has delivered at least one reading."""
        with self._changed:
            return all(
                name in self._delivered
                for name, sensor in self._sensors.items()
                if not sensor.is_event and sensor.every_frame
            )

    def get_data(self, frame: int, timeout: float) -> dict[str, tuple[int, Any]]:
        """name -> (frame, reading) for `frame`; raises SensorTimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            for name, sensor in self._sensors.items():
                if sensor.client_side:
                    while self._confirmed < frame:
                        self._wait(
                            deadline,
                            f"client-side sensor '{name}' has not run for frame {frame} within"
                            f" {timeout} s (latest frame it ran for: {self._confirmed})",
                        )
                elif not sensor.is_event and sensor.every_frame:
                    store = self._readings[name]
                    while frame not in store:
                        self._wait(
                            deadline,
                            f"sensor '{name}' sent no data for frame {frame} within {timeout} s"
                            f" (latest frame it sent: {max(store, default=None)})",
                        )
            return {name: self._take(name, frame) for name in self._sensors}

    def _wait(self, deadline: float, timed_out: str) -> None:
        """Wait for a change (the lock held); SensorTimeoutError(timed_out) past `deadline`."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SensorTimeoutError(timed_out)
        self._changed.wait(remaining)

    def _take(self, name: str, frame: int) -> tuple[int, Any]:
        sensor = self._sensors[name]
        store = self._readings[name]
        if sensor.is_event:
            events = []
            for earlier in sorted(f for f in store if f <= frame):
                events.extend(store.pop(earlier))
            return frame, events
        if sensor.every_frame:
            data = store[frame]
        else:
            past = [f for f in store if f <= frame]
            if not past:
                return -1, None  # no reading yet from a sensor with a long sensor_tick
            frame = max(past)
            data = store[frame]
        for stale in [f for f in store if f < frame]:
            del store[stale]
        return frame, data

    def destroy(self, failed: Callable[[], None] | None = None) -> None:
        """Destroy every sensor and forget it and its readings. `failed()` runs after a sensor
        whose destroy failed; if it raises, the sensors not destroyed yet stay registered."""
        for name, sensor in list(self._sensors.items()):
            released = sensor.destroy()
            with self._changed:
                del self._sensors[name], self._readings[name]
                self._delivered.discard(name)
            if released is False and failed is not None:
                failed()
