"""Recover this process's Traffic Manager from a lost wake-up (carla#9172), on any server.

carla 0.9.16's synchronous Traffic Manager can miss the wake-up `world.tick()` sends its worker
thread, and then both wait forever (a race in TrafficManagerLocal, fixed upstream after 0.9.16 but
in no wheel). The embedded server recovers it from its side; CarlaUE4 does not, so the process
that owns the TM watches its own ticks: `world.tick()` releases the GIL, so a thread can see a
tick whose new frame has arrived (the tick is in its TM phase) and that still has not returned
`after` seconds later. It then pokes the TM through the TM's own RPC port on loopback:
`set_synchronous_mode(false)` sets the worker's flag and notifies again, so the stranded worker
runs the step it missed; `set_synchronous_mode(true)` restores the mode.

Not through `carla.TrafficManager.set_synchronous_mode`: that takes the TrafficManager's static
mutex, which the stuck `world.tick()` holds, and would hang the watchdog too. And never tick a
synchronous TM through `client.apply_batch_sync(..., True)`: that holds the GIL, so no Python
thread (this one included) can run while it is stuck.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import msgpack

logger = logging.getLogger(__name__)

# Longer than the embedded server's own poke (0.2 s after the tick), so that only one of them
# fires there; against CarlaUE4 a lost wake-up costs this much instead of the env's timeout.
POKE_AFTER_S = 1.0
REQUEST = 0


def poke_traffic_manager(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> None:
    """`set_synchronous_mode(false)` then `(true)` on a TM's rpclib port, in one write (the TM
    gets both or neither: a cut-short poke must not leave it asynchronous)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(
            msgpack.packb([REQUEST, 0, "set_synchronous_mode", [False]])
            + msgpack.packb([REQUEST, 1, "set_synchronous_mode", [True]])
        )
        unpacker = msgpack.Unpacker(raw=False)
        replies: list = []
        while len(replies) < 2:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError(f"the Traffic Manager on port {port} closed the connection")
            unpacker.feed(data)
            replies.extend(unpacker)
    errors = [reply[2] for reply in replies if reply[2] is not None]
    if errors:
        raise ConnectionError(f"set_synchronous_mode on port {port} failed: {errors[0]}")


class TickWatchdog:
    """`tick()` is `world.tick()`, with a thread that pokes the TM on `tm_port` if it strands."""

    def __init__(self, world: Any, tm_port: int, after: float = POKE_AFTER_S) -> None:
        self.world = world
        self.tm_port = tm_port
        self.after = after
        self.pokes = 0
        self._tick: tuple[int, int] | None = None  # (tick number, frame before it) while ticking
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tm-watchdog", daemon=True)
        self._thread.start()

    def tick(self, seconds: float) -> int:
        self._count += 1
        self._tick = (self._count, self.world.get_snapshot().frame)
        try:
            return self.world.tick(seconds)
        finally:
            self._tick = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _watch(self) -> None:
        stranded_since: tuple[int, float] | None = None  # (tick number, when its frame came)
        while not self._stop.wait(self.after / 5):
            tick = self._tick
            if tick is None or self.world.get_snapshot().frame <= tick[1]:
                stranded_since = None  # not ticking, or still waiting for the server's frame
                continue
            now = time.monotonic()
            if stranded_since is None or stranded_since[0] != tick[0]:
                stranded_since = (tick[0], now)
            elif now - stranded_since[1] >= self.after:
                self._poke(now - stranded_since[1])
                stranded_since = (tick[0], now)  # and again, if it is still stuck

    def _poke(self, waited: float) -> None:
        self.pokes += 1
        logger.warning(
            "TM poke: world.tick() has waited %.1f s for the Traffic Manager after its frame came; "
            "poking the TM on port %d (set_synchronous_mode false, true) to recover a lost "
            "wake-up (carla#9172)",
            waited,
            self.tm_port,
        )
        try:
            poke_traffic_manager(self.tm_port)
        except OSError as exc:
            logger.warning("poking the Traffic Manager on port %d failed: %s", self.tm_port, exc)
