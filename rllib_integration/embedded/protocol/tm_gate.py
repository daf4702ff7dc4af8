"""Narrow the window of a lost wake-up in carla 0.9.16's client-side Traffic Manager (sync mode).

The TM worker thread ends each step with `apply_batch(commands, False)`, then asks for
`get_episode_settings` and goes to wait for the next `world.tick()`. `world.tick()` wakes it by
setting a flag and notifying a condition variable *without holding its mutex*, so if the
notification lands between the worker's flag check and its wait, it is lost and `world.tick()`
blocks forever (carla-simulator/carla#9172; rare against CarlaUE4, whose tick state arrives
milliseconds after `tick_cue` when the worker is long asleep; frequent against a fast server,
where both threads wake together).

The gate holds that one `get_episode_settings` reply until just after the next tick (or a cap),
so `world.tick()` has usually set the flag before the worker checks it. It narrows the window, it
cannot close it (the race lives in the client library), and it delays the worker's step by the
release delay and more. tm_watchdog.py recognises the TM's steps, decides what to hold, and
recovers the wake-ups the gate misses. Off by default (`--tm-gate` turns it on): that recovery
alone (a 200 ms pause about once per thousand ticks) costs fewer ticks/s than the gate's hold on
every tick (benchmarks/tm_stall.py runs both).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# After the tick, world.tick() sets its flag within this; a plain sleep because event-loop timers
# round up to whole milliseconds (epoll), which would cost a millisecond per tick.
RELEASE_DELAY_S = 0.0003
HOLD_CAP_S = 0.5  # never hold longer (the TM's RPC timeout is seconds)


class TickGate:
    """Callbacks held until shortly after the next world tick (or HOLD_CAP_S)."""

    def __init__(self, delay: float = RELEASE_DELAY_S) -> None:
        self.delay = delay
        self.ticks = 0  # ticks seen, so a late request can tell whether its tick already came
        self._held: list[Callable[[], None]] = []
        self._cap: asyncio.TimerHandle | None = None

    def hold_after(self, tick: int, release: Callable[[], None]) -> None:
        """Release after the first tick later than `tick` (at once if that tick already came)."""
        if self.ticks > tick:
            asyncio.get_running_loop().call_soon(self._pause_then, release)
        else:
            self.hold(release)

    def _pause_then(self, release: Callable[[], None]) -> None:
        time.sleep(self.delay)
        release()

    def hold(self, release: Callable[[], None]) -> None:
        self._held.append(release)
        if self._cap is None:
            self._cap = asyncio.get_running_loop().call_later(HOLD_CAP_S, self.release)

    def after_tick(self) -> None:
        self.ticks += 1
        if self._held:
            asyncio.get_running_loop().call_soon(self._release_after_pause)

    def _release_after_pause(self) -> None:
        time.sleep(self.delay)  # the tick's reply is already on its way
        self.release()

    def release(self) -> None:
        held, self._held = self._held, []
        if self._cap is not None:
            self._cap.cancel()
            self._cap = None
        for callback in held:
            callback()
