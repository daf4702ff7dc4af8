"""Recover a client Traffic Manager's lost wake-up (carla#9172) by poking the TM's own RPC port.

carla 0.9.16's synchronous TM can miss a wake-up: `world.tick()` sets `step_begin` and notifies
while the TM worker is between its flag test and its wait, and then both threads wait forever
(TrafficManagerLocal.cpp:158 and :257). No order of replies can rule that out (the client sends
nothing in between; tm_gate.py only narrows the window). But the TM serves rpclib on the port its
client registered with `add_traffic_manager_running`, and its `set_synchronous_mode(false)` sets
the flag and notifies again: a waiting worker wakes and runs exactly the step it missed, and
`world.tick()` returns; `set_synchronous_mode(true)` restores the mode microseconds later.

Per RPC connection (the TM worker shares its client's connection):
- the TM's step is recognised by its calls, `get_vehicle_light_states` and
  `get_weather_parameters`, and (synchronous TM) the `apply_batch(commands, do_tick=False)` that
  ends it, whatever the commands are (controls, lights, hybrid-mode teleports);
- after a synchronous tick from a connection that registered a TM, if no TM step call arrives
  within `poke_after`, the server pokes that connection's TMs, and again, backing off, until the
  TM steps. Every poke is logged.

A poke that finds the worker awake but slow (no step call within `poke_after` of the tick) leaves
one surplus wake-up: the TM runs one extra step, then lags one tick behind `world.tick()`. It
never hangs; the server logs it when it sees that extra step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgpack

from rllib_integration.embedded.protocol.tm_gate import TickGate

log = logging.getLogger(__name__)

TM_STEP_CALLS = frozenset({"get_vehicle_light_states", "get_weather_parameters"})
POKE_AFTER_S = 0.2
POKE_TIMEOUT_S = 1.0
STEADY_POKES = 5  # then the pokes back off (a stopped client), up to MAX_POKE_INTERVAL_S apart
MAX_POKE_INTERVAL_S = 5.0
REQUEST = 0


async def poke_traffic_manager(host: str, port: int) -> None:
    """`set_synchronous_mode(false)` then `(true)` on a client TM's rpclib port, in one write: the
    TM gets both or neither (a poke cut short must never leave it asynchronous)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            msgpack.packb([REQUEST, 0, "set_synchronous_mode", [False]])
            + msgpack.packb([REQUEST, 1, "set_synchronous_mode", [True]])
        )
        unpacker = msgpack.Unpacker(raw=False)
        replies: list = []
        while len(replies) < 2:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("the Traffic Manager closed the connection")
            unpacker.feed(data)
            replies.extend(unpacker)
        errors = [reply[2] for reply in replies if reply[2] is not None]
        if errors:
            raise ConnectionError(f"set_synchronous_mode failed: {errors[0]}")
    finally:
        writer.close()


class TrafficManagerShield:
    """Server-wide: the tick gate (also the tick counter), whether it holds, the poke delay."""

    def __init__(
        self,
        gate: TickGate,
        synchronous: Callable[[], bool],
        frame: Callable[[], int],
        hold: bool = True,
        poke_after: float | None = POKE_AFTER_S,
    ) -> None:
        self.gate = gate
        self.synchronous = synchronous
        self.frame = frame
        self.hold = hold
        self.poke_after = poke_after or None
        self.pokes = 0  # over the server's life, for tests and benchmarks

    def connection(self, peer_host: str, late_reply: Callable[[list], None]) -> TmConnection:
        return TmConnection(self, peer_host, late_reply)


class TmConnection:
    """One RPC connection's Traffic Managers: their steps, the gate's hold and the poke."""

    def __init__(
        self, shield: TrafficManagerShield, peer_host: str, late_reply: Callable[[list], None]
    ) -> None:
        self.shield = shield
        self.peer_host = peer_host
        self.late_reply = late_reply
        self.tm_ports: list[int] = []  # registered through this connection
        self.step_calls: set[str] = set()  # TM step calls since its last step-end batch
        self.batch_tick: int | None = None  # gate.ticks at the TM's last step-end batch
        self.step_tick: int | None = None  # gate.ticks when the TM's last step began
        self._ticks_before = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._tick_frame = 0
        self._pokes = 0  # for the tick in progress
        self._poking: set[int] = set()  # ports with a poke in flight
        self._lag_watch_until = -1  # after a poke, for a few ticks: was the worker only slow?

    # ------------------------------------------------------------ called by RpcProtocol

    def before(self, message: object) -> bool:
        """Note a request before it is dispatched; True if the gate holds it (answered later)."""
        gate = self.shield.gate
        self._ticks_before = gate.ticks
        if not isinstance(message, list) or len(message) != 4:
            return False
        method, params = message[2], message[3]
        if not isinstance(params, list):
            return False
        if method in TM_STEP_CALLS:
            self._step_call(method)
        elif method == "apply_batch":
            self._batch(params)
        elif method == "get_episode_settings":
            return self._maybe_hold(message)
        elif method == "add_traffic_manager_running":
            self._register(params[1:])
        elif method == "destroy_traffic_manager" and len(params) > 1:
            self._forget(params[1])
        return False

    def after(self) -> None:
        """After a dispatch: a synchronous tick from here arms the poke."""
        shield = self.shield
        if shield.gate.ticks == self._ticks_before:
            return
        if self.step_calls and self._watching_lag():  # a tick while its TM is mid-step
            self._report_lag()
        if shield.poke_after and self.tm_ports and shield.synchronous():
            self._arm(shield.poke_after)

    def close(self) -> None:
        self._cancel()

    # ------------------------------------------------------------ step signature

    def _step_call(self, method: str) -> None:
        ticks = self.shield.gate.ticks
        if not self.step_calls:  # the first call of a step
            if self._watching_lag() and self.step_tick == ticks:  # a second step for one tick
                self._report_lag()
            self.step_tick = ticks
        self.step_calls.add(method)
        if self._timer is not None:
            if self._pokes:
                log.info(
                    "the Traffic Manager stepped %.0f ms after tick %d (%d poke(s))",
                    (time.monotonic() - self._armed_at) * 1000.0,
                    self._tick_frame,
                    self._pokes,
                )
            self._cancel()

    def _watching_lag(self) -> bool:
        return self.shield.gate.ticks <= self._lag_watch_until

    def _report_lag(self) -> None:
        self._lag_watch_until = -1
        log.warning(
            "TM lag: a poke found the Traffic Manager awake but slow; it ran one extra step and "
            "now steps one tick behind world.tick() (it cannot hang)"
        )

    def _batch(self, params: list) -> None:
        # The TM ends its step with a synchronous call (metadata [False]), without a tick.
        synchronous = params[:1] == [[False]]
        ticks = len(params) > 2 and params[2] is True
        if synchronous and not ticks and self.step_calls >= TM_STEP_CALLS:
            self.batch_tick = self.shield.gate.ticks
            self.step_calls.clear()

    def _maybe_hold(self, message: list) -> bool:
        """Hold the TM worker's loop-top get_episode_settings until just after the next tick."""
        if self.batch_tick is None:
            return False
        batch_tick, self.batch_tick = self.batch_tick, None
        shield = self.shield
        if not (shield.hold and self.tm_ports and shield.synchronous()):
            return False
        shield.gate.hold_after(batch_tick, lambda: self.late_reply(message))
        return True

    # ------------------------------------------------------------ registry

    def _register(self, args: list) -> None:
        try:
            port = int(args[0][1])
        except (IndexError, TypeError, ValueError):
            return  # the handler answers the malformed call
        if port not in self.tm_ports:
            self.tm_ports.append(port)

    def _forget(self, port: Any) -> None:  # as the client sent it
        try:
            self.tm_ports.remove(int(port))
        except (TypeError, ValueError):
            pass

    # ------------------------------------------------------------ the poke

    def _arm(self, delay: float) -> None:
        self._cancel()
        self._pokes = 0
        self._armed_at = time.monotonic()
        self._tick_frame = self.shield.frame()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        shield = self.shield
        if not self.tm_ports or not shield.synchronous():
            return
        self._pokes += 1
        shield.pokes += 1
        self._lag_watch_until = shield.gate.ticks + 3
        waited = (time.monotonic() - self._armed_at) * 1000.0
        for port in list(self.tm_ports):
            if port in self._poking:
                continue  # the last poke has not been answered (a stopped client)
            log.warning(
                "TM poke: no Traffic Manager step %.0f ms after tick %d; poking the TM at %s:%d "
                "(set_synchronous_mode false, true) to recover a lost wake-up (carla#9172)",
                waited,
                self._tick_frame,
                self.peer_host,
                port,
            )
            asyncio.ensure_future(self._poke(port))
        # Again until it steps (never give up: a stopped client may resume), less and less often.
        backoff = max(self._pokes - STEADY_POKES, 0)
        interval = min(shield.poke_after * 2**backoff, MAX_POKE_INTERVAL_S)
        self._timer = asyncio.get_running_loop().call_later(interval, self._fire)

    async def _poke(self, port: int) -> None:
        self._poking.add(port)
        try:
            await asyncio.wait_for(
                poke_traffic_manager(self.peer_host, port), timeout=POKE_TIMEOUT_S
            )
        except ConnectionRefusedError:
            log.warning(
                "the Traffic Manager at %s:%d is gone; no longer watching it", self.peer_host, port
            )
            self._forget(port)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning(
                "poking the Traffic Manager at %s:%d failed: %s",
                self.peer_host,
                port,
                str(exc) or type(exc).__name__,
            )
        finally:
            self._poking.discard(port)
