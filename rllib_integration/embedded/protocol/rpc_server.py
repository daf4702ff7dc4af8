"""msgpack-rpc over TCP (rpclib's framing): requests [0, id, method, params] -> [1, id, err, result].

Every request gets exactly one reply; nothing a client sends can raise out of `data_received`.
Bytes that are not msgpack-rpc requests close that connection only.

One client cannot hold up the others (protocol/limits.py has the figures): a connection's
pipelined requests are answered for at most a turn's budget, then the other connections have a
turn; a handler's blocking part (`Offload`: map loading, probes of other hosts) runs in a worker
thread while this connection's next requests wait; a message larger than MAX_MESSAGE_BYTES, or
half-sent and stalled for PARTIAL_MESSAGE_TIMEOUT_S, closes its connection; and a connection
whose replies pile up unread is not read from until they drain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import msgpack

from rllib_integration.embedded.log_limit import RateLimitedLog
from rllib_integration.embedded.protocol import codec, limits
from rllib_integration.embedded.protocol.episode_switch import EpisodeSwitch, LoadShield
from rllib_integration.embedded.protocol.tm_watchdog import TmConnection, TrafficManagerShield

log = logging.getLogger(__name__)

REQUEST, RESPONSE, NOTIFY = 0, 1, 2


@dataclass(frozen=True)
class Handler:
    fn: Callable[..., object]
    kind: str  # "value": Response<T>; "void": Response<void>; "raw": bare result


T = TypeVar("T")


@dataclass(frozen=True)
class Offload(Generic[T]):
    """What a handler returns when its work would block: `work()` runs in a worker thread, then
    `then(its result)`, back on the event loop, gives the handler's value."""

    work: Callable[[], T]
    then: Callable[[T], object] = lambda result: result


@dataclass(frozen=True)
class Pending:
    """A request whose reply waits for an Offload: `finish(outcome)` makes the reply bytes (None
    for a notification) from `outcome()`, the work's result (or its exception, raised)."""

    work: Callable[[], object]
    finish: Callable[[Callable[[], object]], bytes | None]

    def run_here(self) -> bytes | None:
        """The reply, with the work done in this thread (for callers without an event loop)."""
        return self.finish(self.work)


class Dispatcher:
    """Method name -> handler, with CARLA's Response wrapping and error encoding."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        # Unknown method names (truncated) -> calls; at most MAX_UNKNOWN_NAMES names, the
        # calls of any others counted under OTHER_UNKNOWN.
        self.unknown_calls: Counter[str] = Counter()
        self.lines = RateLimitedLog(log)  # what clients can trigger at will
        self.debug = log.isEnabledFor(logging.DEBUG)
        self._packer = msgpack.Packer(use_bin_type=True)

    def reply(self, msgid: int, error: object, result: object) -> bytes:
        return self._packer.pack([RESPONSE, msgid, error, result])

    def handle(self, message: object) -> bytes | Pending | None:
        """Reply bytes for one decoded message (None for notifications; Pending while an
        Offload's work is to be done)."""
        if not isinstance(message, list | tuple) or len(message) not in (3, 4):
            raise ProtocolError(f"not a msgpack-rpc message: {message!r:.80}")
        if message[0] == NOTIFY and len(message) == 3:
            _, method, params = message
            msgid = None
        elif message[0] == REQUEST and len(message) == 4:
            _, msgid, method, params = message
        else:
            raise ProtocolError(f"not a msgpack-rpc request: {message!r:.80}")
        if not isinstance(method, str):
            return None if msgid is None else self.reply(msgid, "method name is not a string", None)
        handler = self.handlers.get(method)
        if handler is None:
            self._count_unknown(method[: limits.LOGGED_NAME_CHARS])
            name = _shortened(method)
            self.lines.log(logging.WARNING, "unknown:" + name, "unknown RPC %s", name)
            return None if msgid is None else self.reply(msgid, f"unknown RPC {name}", None)
        args = params[1:] if isinstance(params, list | tuple) else []
        if self.debug:
            log.debug("RPC %s%r", method, tuple(args))
        try:
            value = handler.fn(*args)
        except Exception as exc:  # any failure becomes a Response error naming the call
            result = self._failed(method, handler, exc)
        else:
            if isinstance(value, Offload):
                offload = value
                return Pending(
                    offload.work,
                    lambda outcome: self._finish(msgid, method, handler, offload, outcome),
                )
            result = self._wrap(handler, value)
        return None if msgid is None else self.reply(msgid, None, result)

    def _finish(
        self,
        msgid: int | None,
        method: str,
        handler: Handler,
        offload: Offload,
        outcome: Callable[[], object],
    ) -> bytes | None:
        try:
            result = self._wrap(handler, offload.then(outcome()))
        except Exception as exc:
            result = self._failed(method, handler, exc)
        return None if msgid is None else self.reply(msgid, None, result)

    @staticmethod
    def _wrap(handler: Handler, value: object) -> object:
        if handler.kind == "void":
            return codec.VOID_OK
        if handler.kind == "raw":
            return value
        return codec.ok(value)

    def _failed(self, method: str, handler: Handler, exc: Exception) -> object:
        message = f"{method}: {exc}" if str(exc) else f"{method}: {type(exc).__name__}"
        message = message[:MAX_ERROR_CHARS]
        self.lines.log(logging.INFO, message, "RPC %s failed: %s", method, message)
        if handler.kind == "void":
            return codec.void_error(message)
        if handler.kind == "raw":
            return []
        return codec.error(message)

    def _count_unknown(self, name: str) -> None:
        if name not in self.unknown_calls and len(self.unknown_calls) >= limits.MAX_UNKNOWN_NAMES:
            name = OTHER_UNKNOWN
        self.unknown_calls[name] += 1


OTHER_UNKNOWN = "<other names>"
MAX_ERROR_CHARS = 1000  # of an error reply and its log line


def _shortened(name: str) -> str:
    """A client-chosen name as it may appear in a log line or a reply: quoted, control
    characters escaped, at most LOGGED_NAME_CHARS characters of it."""
    if len(name) <= limits.LOGGED_NAME_CHARS:
        return repr(name)
    return f"{name[: limits.LOGGED_NAME_CHARS]!r}... ({len(name)} characters)"


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class ConnectionLimits:
    """How much one RPC connection may take (protocol/limits.py says why these values)."""

    blocking: Executor | None = None  # where Offload work runs (None: the loop's default)
    turn_budget_s: float = limits.TURN_BUDGET_S
    partial_timeout_s: float = limits.PARTIAL_MESSAGE_TIMEOUT_S
    max_message_bytes: int = limits.MAX_MESSAGE_BYTES


_connection_lines = RateLimitedLog(log)  # connection-level lines any client can trigger


class RpcProtocol(asyncio.Protocol):
    def __init__(
        self,
        dispatcher: Dispatcher,
        tm: TrafficManagerShield | None = None,
        episodes: EpisodeSwitch | None = None,
        connection: ConnectionLimits | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.tm_shield = tm
        self.tm: TmConnection | None = None  # this connection's client Traffic Managers
        self.episodes = episodes
        self.limits = connection or ConnectionLimits()
        self.transport: asyncio.Transport | None = None
        # Bytes received after the last complete message. Each array takes at least a byte:
        # once they are more than a message may hold arrays, an unpacker that counts them
        # (msgpack's list_hook, ~0.15 us per array) parses them again.
        self._pending = bytearray()
        self._consumed = 0  # stream offset after the last complete message
        self._base = 0  # stream offset at which the current unpacker started
        self._arrays_left = limits.MAX_ARRAYS_PER_MESSAGE  # in the message being parsed
        self.unpacker = self._unpacker(counting=False)
        self.shield: LoadShield | None = None
        self._busy = False  # an Offload runs, or the rest of the turn is scheduled
        self._writes_paused = False  # the client is not reading its replies
        self._reading_paused = False
        self._partial_timer: asyncio.TimerHandle | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream server's transports
        if self.episodes is not None:
            self.shield = LoadShield(self._write, self.episodes.client_ready)
        if self.tm_shield is not None:
            peer = transport.get_extra_info("peername")
            host = peer[0] if peer else "127.0.0.1"
            self.tm = self.tm_shield.connection(host, self._late_reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_partial_timer()
        if self.shield is not None:
            self.shield.close()
        if self.tm is not None:
            self.tm.close()

    def pause_writing(self) -> None:
        self._writes_paused = True

    def resume_writing(self) -> None:
        self._writes_paused = False
        self._serve()

    def data_received(self, data: bytes) -> None:
        if self._partial_timer is not None:
            self._cancel_partial_timer()
        pending = self._pending
        pending += data
        try:
            if self._counting or len(pending) <= limits.MAX_ARRAYS_PER_MESSAGE:
                self.unpacker.feed(data)
            else:  # each array takes at least one byte: only now can there be too many
                self.unpacker = self._unpacker(counting=True)
        except msgpack.BufferFull:
            mib = self.limits.max_message_bytes // 2**20
            self._close(f"a message over the {mib} MiB limit")
            return
        if not self._busy:
            self._serve()

    def _serve(self) -> None:
        """Answer the complete requests received, within this turn's budget."""
        if self._busy or self._closed:
            return
        unpacker, base, counting = self.unpacker, self._base, self._counting
        received = self._consumed + len(self._pending)  # stream offset of the last byte
        boundary = -1  # unpacker offset after the last complete message
        replies: list[bytes] = []
        requests = 0  # episode requests before a load_new_episode
        deadline = 0.0  # of this turn, set once a second message waits (most data is one)
        try:
            for message in unpacker:
                boundary = unpacker.tell()
                if counting:
                    self._arrays_left = limits.MAX_ARRAYS_PER_MESSAGE
                if self.tm is not None and self.tm.before(message):
                    continue  # held by the tick gate, answered by _late_reply
                loading = self.shield is not None and _method(message) == "load_new_episode"
                if loading:  # slow: never hold replies computed before it behind it
                    self._write(b"".join(replies))
                    replies = []
                    assert self.episodes is not None  # a shield exists only with episodes
                    requests = self.episodes.requests
                reply = self.dispatcher.handle(message)
                if self.tm is not None:
                    self.tm.after()  # a tick from here arms the poke
                if isinstance(reply, Pending):
                    self._write(b"".join(replies))
                    self._taken(base + boundary)
                    self._offload(message, reply, requests if loading else None)
                    return
                if loading:
                    self._loaded(reply, requests)
                elif reply is not None:
                    replies.extend(self._route(message, reply))
                if self._writes_paused or base + boundary < received:  # more has arrived
                    now = time.perf_counter()
                    if not deadline and not self._writes_paused:
                        deadline = now + self.limits.turn_budget_s
                    elif self._writes_paused or now > deadline:
                        self._write(b"".join(replies))
                        self._taken(base + boundary)
                        self._next_turn()
                        return
        except Exception as exc:  # garbage: drop this client, keep serving the others
            self._write(b"".join(replies))
            self._close(str(exc))
            return
        self._write(replies[0] if len(replies) == 1 else b"".join(replies))
        if boundary >= 0:
            del self._pending[: base + boundary - self._consumed]
            self._consumed = base + boundary
        if self._reading_paused:
            self._set_reading(True)
        if counting and len(self._pending) <= limits.MAX_ARRAYS_PER_MESSAGE:
            self.unpacker = self._unpacker(counting=False)  # the big message is done
        if self._pending:  # a message has begun: it must go on arriving
            self._cancel_partial_timer()
            self._partial_timer = asyncio.get_running_loop().call_later(
                self.limits.partial_timeout_s, self._partial_timeout
            )

    def _taken(self, offset: int) -> None:
        """The messages up to stream `offset` are taken out: drop their bytes."""
        del self._pending[: offset - self._consumed]
        self._consumed = offset

    def _unpacker(self, counting: bool) -> msgpack.Unpacker:
        """A new unpacker, fed what is pending; `counting`: with the array count."""
        unpacker = msgpack.Unpacker(
            raw=False,
            max_buffer_size=self.limits.max_message_bytes,
            max_array_len=limits.MAX_ARRAYS_PER_MESSAGE,
            strict_map_key=False,
            list_hook=self._count_array if counting else None,
        )
        self._counting = counting
        self._base = self._consumed
        if self._pending:
            unpacker.feed(bytes(self._pending))
        return unpacker

    def _count_array(self, items: list) -> list:
        """list_hook: an array costs 56+ bytes of memory per byte on the wire, and parsing a
        message cannot be interrupted, so a message may hold only so many."""
        self._arrays_left -= 1
        if self._arrays_left < 0:
            raise ValueError(f"a message of over {limits.MAX_ARRAYS_PER_MESSAGE} arrays")
        return items

    def _next_turn(self) -> None:
        """Stop reading; carry on after the other connections (or once the client reads)."""
        self._set_reading(False)
        if self._writes_paused:
            return  # resume_writing serves again
        self._busy = True
        asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        self._busy = False
        self._serve()

    def _offload(self, message: list, pending: Pending, load_requests: int | None) -> None:
        """Run `pending`'s work in a worker thread; this connection waits, the others do not."""
        self._busy = True
        self._set_reading(False)
        future = asyncio.get_running_loop().run_in_executor(self.limits.blocking, pending.work)
        future.add_done_callback(
            lambda done: self._offloaded(message, pending, load_requests, done)
        )

    def _offloaded(
        self, message: list, pending: Pending, load_requests: int | None, done: asyncio.Future
    ) -> None:
        if done.cancelled():  # the server is stopping
            return
        reply = pending.finish(done.result)
        if load_requests is not None:
            self._loaded(reply, load_requests)
        elif reply is not None:
            self._write(b"".join(self._route(message, reply)))
        self._busy = False
        self._serve()

    def _loaded(self, reply: bytes | None, requests: int) -> None:
        """load_new_episode's reply: a successful load's goes through the shield."""
        if reply is None:
            return
        assert self.episodes is not None and self.shield is not None  # only after a load
        if self.episodes.requests != requests:
            self.shield.loaded(reply)
        else:
            self._write(reply)

    def _partial_timeout(self) -> None:
        self._partial_timer = None
        pending = len(self._pending)
        self._close(
            f"no complete message for {self.limits.partial_timeout_s:g} s "
            f"({pending} bytes of one received)"
        )

    def _cancel_partial_timer(self) -> None:
        if self._partial_timer is not None:
            self._partial_timer.cancel()
            self._partial_timer = None

    def _set_reading(self, reading: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self._reading_paused != reading:  # already as asked
            return
        self._reading_paused = not reading
        if reading:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def _close(self, reason: str) -> None:
        _connection_lines.log(
            logging.WARNING, reason, "closing RPC connection %s: %s", self._peer(), reason
        )
        self._closed = True
        assert self.transport is not None  # only a connected protocol receives data to refuse
        self.transport.close()

    def _route(self, message: list, reply: bytes) -> list[bytes]:
        return self.shield.route(_method(message), reply) if self.shield is not None else [reply]

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _late_reply(self, message: list) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        reply = self.dispatcher.handle(message)  # get_episode_settings: never Pending
        if isinstance(reply, bytes):
            self._write(b"".join(self._route(message, reply)))

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"


def _method(message: object) -> object:
    """The method name of a msgpack-rpc request (None for anything else)."""
    if isinstance(message, list) and len(message) == 4 and message[0] == REQUEST:
        return message[2]
    return None
