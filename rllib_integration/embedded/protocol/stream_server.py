"""CARLA's streaming protocol: a client connects, sends its u32 stream id, then only receives.

Each message is `u32 size` + payload (already framed by the caller). A stream id may have
several subscribers; messages for a subscriber whose socket is badly backed up are dropped
rather than buffered without bound.

A stream can also be subscribed under an alias, a fresh id that stands for it. The 0.9.16 client
keeps one subscription per stream id and drops it by id, so two of its Episodes listening to the
one episode stream under the same id drop each other's subscription (one being destroyed while
the other starts, around `load_world`); under their own aliases they cannot.

A client announces a subscription (`expect`, on its `get_sensor_token`) a moment before its
connection arrives. Messages published in between are kept (a few) and written when it does, so
`sensor.listen()` followed at once by `world.tick()` gets that tick's reading, as from CarlaUE4,
whose ticks take long enough for the connection to be there.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from typing import cast

from rllib_integration.embedded.log_limit import RateLimitedLog
from rllib_integration.embedded.protocol.limits import PARTIAL_MESSAGE_TIMEOUT_S

log = logging.getLogger(__name__)
_lines = RateLimitedLog(log)  # what any client can trigger, at most once per kind and interval

MAX_BACKLOG = 64 * 1024 * 1024
ALIAS_BASE = 1 << 31  # far above the ids the world gives sensors
MAX_ALIASES = 1 << 16  # the oldest are forgotten (their Episodes are long gone)
EXPECT_S = 2.0  # an announced subscription that does not arrive within this is forgotten
MAX_KEPT = 16  # messages kept for an announced subscription


class StreamHub:
    """stream id -> subscribed transports."""

    def __init__(self) -> None:
        self.subscribers: dict[int, set[asyncio.Transport]] = {}
        self.on_subscribe: Callable[[int, asyncio.Transport], None] | None = None
        self.valid_stream: Callable[[int], bool] = lambda stream_id: True
        self._aliases: dict[int, int] = {}  # alias -> stream id
        self._next_alias = ALIAS_BASE
        self._expected: dict[int, float] = {}  # stream id -> deadline (time.monotonic)
        self._kept: dict[int, list[bytes]] = {}  # messages for an announced subscriber

    def alias(self, stream_id: int) -> int:
        """A new id whose subscribers receive what is published on `stream_id`."""
        alias, self._next_alias = self._next_alias, self._next_alias + 1
        self._aliases[alias] = stream_id
        if len(self._aliases) > MAX_ALIASES:
            del self._aliases[next(iter(self._aliases))]
        return alias

    def resolve(self, stream_id: int) -> int:
        """The stream an id stands for (itself unless it is an alias)."""
        return self._aliases.get(stream_id, stream_id)

    def expect(self, stream_id: int) -> None:
        """A subscriber to `stream_id` is on its way: keep what is published until it comes."""
        if stream_id not in self._aliases:  # an alias's stream has its own first message
            self._expected[stream_id] = time.monotonic() + EXPECT_S

    def has_subscribers(self, stream_id: int) -> bool:
        return bool(self.subscribers.get(stream_id)) or self._is_expected(stream_id)

    def publish(self, stream_id: int, message: bytes) -> None:
        targets = self.subscribers.get(stream_id)
        if not targets:
            if self._is_expected(stream_id):
                kept = self._kept.setdefault(stream_id, [])
                if len(kept) < MAX_KEPT:
                    kept.append(message)
            return
        for transport in tuple(targets):
            if transport.is_closing():
                targets.discard(transport)
            elif transport.get_write_buffer_size() < MAX_BACKLOG:
                transport.write(message)

    def subscribe(self, stream_id: int, transport: asyncio.Transport) -> None:
        stream_id = self.resolve(stream_id)
        self.subscribers.setdefault(stream_id, set()).add(transport)
        self._expected.pop(stream_id, None)
        for message in self._kept.pop(stream_id, ()):
            transport.write(message)
        if self.on_subscribe is not None:
            self.on_subscribe(stream_id, transport)

    def _is_expected(self, stream_id: int) -> bool:
        deadline = self._expected.get(stream_id)
        if deadline is not None and time.monotonic() > deadline:
            del self._expected[stream_id]
            self._kept.pop(stream_id, None)
            deadline = None
        return deadline is not None

    def unsubscribe(self, transport: asyncio.Transport) -> None:
        for stream_id, targets in list(self.subscribers.items()):
            targets.discard(transport)
            if not targets:
                del self.subscribers[stream_id]


class StreamProtocol(asyncio.Protocol):
    def __init__(self, hub: StreamHub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.stream_id: int | None = None
        self._unsubscribed: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream server's transports
        # A client sends its stream id at once; a connection that never does is closed.
        self._unsubscribed = asyncio.get_running_loop().call_later(
            PARTIAL_MESSAGE_TIMEOUT_S, self._never_subscribed
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None  # connection_made ran
        if self.stream_id is not None:
            _lines.log(
                logging.WARNING, "unexpected", "stream client sent %d unexpected bytes; closing",
                len(data),
            )  # fmt: skip
            self.transport.close()
            return
        self.buffer += data
        if len(self.buffer) < 4:
            return
        stream_id = struct.unpack_from("<I", self.buffer)[0]
        if len(self.buffer) > 4 or not self.hub.valid_stream(stream_id):
            _lines.log(
                logging.WARNING, "bad subscription",
                "bad stream subscription (%d bytes, id %d); closing", len(self.buffer), stream_id,
            )  # fmt: skip
            self.transport.close()
            return
        self.stream_id = stream_id
        self._cancel_timer()
        self.hub.subscribe(stream_id, self.transport)

    def _never_subscribed(self) -> None:
        self._unsubscribed = None
        assert self.transport is not None  # the timer starts in connection_made
        _lines.log(
            logging.WARNING, "no subscription",
            "stream client sent no stream id in %.0f s (%d bytes); closing",
            PARTIAL_MESSAGE_TIMEOUT_S, len(self.buffer),
        )  # fmt: skip
        self.transport.close()

    def _cancel_timer(self) -> None:
        if self._unsubscribed is not None:
            self._unsubscribed.cancel()
            self._unsubscribed = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.hub.unsubscribe(self.transport)
