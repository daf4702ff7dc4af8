"""Change episodes in CarlaUE4's order, and shield the 0.9.16 client while it changes.

`client.load_world` in carla 0.9.16 (`Simulator::LoadEpisode`) drops its `Episode` right after
the `load_new_episode` reply and builds the next one two round trips later (`version`,
`get_episode_info`, then `get_sensor_token` when it listens). A Traffic Manager worker thread in
the same process reads that pointer without a lock, so if it runs in that window the process
segfaults. And an `Episode` that sees the new episode id *before* it is dropped resets the Traffic
Manager on the streaming thread while the main thread builds its replacement: a second crash.

So, as CarlaUE4 does, `load_new_episode` only loads the map and answers while the old episode stays
current (`get_episode_info` still gives the old id). `EpisodeSwitch` switches (new id, actors
cleared, first state with the MapChange bit) once the loading client's new `Episode` has subscribed
to the episode stream; that `Episode` then sees the id change and rebuilds the Traffic Manager on
the new map. A tick cue after that subscription switches at once, before it ticks: in synchronous
mode the loading client ticks while it waits for the new id (one tick per attempt, timeout/50 ms
attempts), so ticking the old world instead would spend its attempts at the server's tick rate.

`LoadShield` keeps the client's other threads out of the window (one per RPC connection, since all
threads of a client share it): the load's reply goes out only once another thread is parked in a
request whose reply is held (or nothing has been asked for `QUIET_S`), and until the client's
`get_sensor_token` only the requests of `GetReadyCurrentEpisode` are answered; the other replies
follow in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# What the loading client's main thread asks while its Episode is missing.
ANSWERED_DURING_LOAD = frozenset(
    {"version", "get_episode_info", "get_sensor_token", "get_available_maps"}
)
# Asked from inside a method of the client's Episode (Episode::GetActors fetching actors it has
# not seen, e.g. a Traffic Manager's first look at a map's traffic lights): a thread waiting for
# one of these must not be taken as parked, since the load's reply drops that very Episode under
# it; it is answered at once and the load's reply waits for a safe request.
INSIDE_EPISODE = frozenset({"get_actors_by_id"})
QUIET_S = 0.05  # no other thread asked for this long after the load: nothing is running there
HOLD_CAP_S = 5.0  # never hold replies longer (a client that never listens again)
SWITCH_DELAY_S = 0.02  # after the new Episode subscribed, let it finish settling in
SWITCH_FALLBACK_S = 3.0  # switch anyway if no client subscribes (raw RPC users)


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (direct calls): act at once
        callback()
        return None
    return loop.call_later(delay, callback)


class EpisodeSwitch:
    """The server's pending episode change, requested by `load_new_episode`."""

    def __init__(self, switch: Callable[[Any, bool], None]) -> None:
        self._switch = switch  # e.g. World.load_episode(world_map, reset_settings)
        self.requests = 0  # counts requests, so the RPC layer can tell a load succeeded
        self._pending: tuple[Any, bool] | None = None
        self._armed = False  # the loading client is ready: its next subscription switches
        self._subscribed = False  # ... and it has subscribed: its Episode is set up
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def request(self, world_map: Any, reset_settings: bool) -> None:
        """Switch to `world_map` later; the old episode stays current until then."""
        self._pending = (world_map, reset_settings)
        self.requests += 1
        self._armed = self._subscribed = False
        self._schedule(SWITCH_FALLBACK_S)

    def client_ready(self) -> None:
        """The loading client has its new Episode; its episode-stream subscription comes next."""
        if self._pending is not None:
            self._armed = True

    def on_episode_subscription(self) -> None:
        if self._pending is not None and self._armed:
            self._subscribed = True
            self._schedule(SWITCH_DELAY_S)

    def before_tick(self) -> None:
        """A tick cue: the loading client, set up, waits for the new id: switch now."""
        if self._subscribed:
            self.switch_now()

    def switch_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is None:
            return
        (world_map, reset_settings), self._pending = self._pending, None
        self._armed = self._subscribed = False
        self._switch(world_map, reset_settings)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer = _call_later(delay, self.switch_now)


class LoadShield:
    """One RPC connection's replies around a `load_new_episode` it sent (see the module doc)."""

    def __init__(self, write: Callable[[bytes], None], on_ready: Callable[[], None]) -> None:
        self._write = write
        self._on_ready = on_ready  # the client listens again (EpisodeSwitch.client_ready)
        self._load_reply: bytes | None = None  # waiting for the other threads to park
        self._held: list[bytes] | None = None  # None: not shielding
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def active(self) -> bool:
        return self._held is not None

    def loaded(self, reply: bytes) -> None:
        """The load succeeded: send `reply` once no other thread of the client is running."""
        self._finish()
        self._held = []
        self._load_reply = reply
        self._later(QUIET_S, self._send_load_reply)
        self._later(HOLD_CAP_S, self.release)

    def route(self, method: object, reply: bytes) -> list[bytes]:
        """The replies to write now, in order, for a request's `reply`."""
        if self._held is None:
            return [reply]
        if method in ANSWERED_DURING_LOAD:
            if method == "get_sensor_token" and self._load_reply is None:
                return [reply, *self._release()]
            return [reply]
        if method in INSIDE_EPISODE and self._load_reply is not None:
            return [reply]
        self._held.append(reply)
        if self._load_reply is not None:  # the thread that sent this now waits for its reply
            self._send_load_reply()
        return []

    def release(self) -> None:
        """Write every held reply (the cap is reached)."""
        replies = self._release()
        if replies:
            self._write(b"".join(replies))

    def close(self) -> None:
        """The connection is gone: drop what is held."""
        self._load_reply = None
        self._finish()

    def _send_load_reply(self) -> None:
        reply, self._load_reply = self._load_reply, None
        if reply is not None:
            self._write(reply)

    def _release(self) -> list[bytes]:
        held = self._held or []
        if self._load_reply is not None:
            held.insert(0, self._load_reply)
            self._load_reply = None
        was_active = self._held is not None
        self._finish()
        if was_active:
            self._on_ready()
        return held

    def _finish(self) -> None:
        self._held = None
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        timer = _call_later(delay, callback)
        if timer is not None:
            self._timers.append(timer)
