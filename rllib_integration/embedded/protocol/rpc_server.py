"""msgpack-rpc over TCP (rpclib's framing): requests [0, id, method, params] -> [1, id, err, result].

Every request gets exactly one reply; nothing a client sends can raise out of `data_received`.
Bytes that are not msgpack-rpc requests close that connection only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from rllib_integration.embedded.log_limit import RateLimitedLog
from rllib_integration.embedded.protocol import codec, limits
from rllib_integration.embedded.protocol.episode_switch import EpisodeSwitch, LoadShield
from rllib_integration.embedded.protocol.tm_gate import TickGate, is_tm_control_batch

log = logging.getLogger(__name__)

REQUEST, RESPONSE, NOTIFY = 0, 1, 2
MAX_BUFFER = 256 * 1024 * 1024


@dataclass(frozen=True)
class Handler:
    fn: Callable[..., object]
    kind: str  # "value": Response<T>; "void": Response<void>; "raw": bare result


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

    def handle(self, message: object) -> bytes | None:
        """Reply bytes for one decoded message (None for notifications)."""
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
        result = self._call(method, handler, args)
        return None if msgid is None else self.reply(msgid, None, result)

    def _call(self, method: str, handler: Handler, args: list) -> object:
        try:
            value = handler.fn(*args)
        except Exception as exc:  # any failure becomes a Response error naming the call
            message = f"{method}: {exc}" if str(exc) else f"{method}: {type(exc).__name__}"
            message = message[:MAX_ERROR_CHARS]
            self.lines.log(logging.INFO, message, "RPC %s failed: %s", method, message)
            if handler.kind == "void":
                return codec.void_error(message)
            if handler.kind == "raw":
                return []
            return codec.error(message)
        if handler.kind == "void":
            return codec.VOID_OK
        if handler.kind == "raw":
            return value
        return codec.ok(value)

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


class RpcProtocol(asyncio.Protocol):
    def __init__(
        self,
        dispatcher: Dispatcher,
        gate: TickGate | None = None,
        episodes: EpisodeSwitch | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.gate = gate
        self.episodes = episodes
        self.transport: asyncio.Transport | None = None
        self.unpacker = msgpack.Unpacker(
            raw=False, max_buffer_size=MAX_BUFFER, strict_map_key=False
        )
        self.tm_batch_tick: int | None = None  # gate.ticks at the last TM control batch
        self.shield: LoadShield | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.episodes is not None:
            self.shield = LoadShield(self._write, self.episodes.client_ready)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.shield is not None:
            self.shield.close()

    def data_received(self, data: bytes) -> None:
        replies: list[bytes] = []
        try:
            self.unpacker.feed(data)
            for message in self.unpacker:
                if self._held_by_gate(message):
                    continue
                if self.shield is not None and _method(message) == "load_new_episode":
                    # Slow: never hold replies computed before it behind it.
                    self._write(b"".join(replies))
                    replies = []
                    self._load(message)
                    continue
                reply = self.dispatcher.handle(message)
                if reply is not None:
                    replies.extend(self._route(message, reply))
        except Exception as exc:  # garbage: drop this client, keep serving the others
            log.warning("closing RPC connection %s: %s", self._peer(), exc)
            self._write(b"".join(replies))
            self.transport.close()
            return
        self._write(replies[0] if len(replies) == 1 else b"".join(replies))

    def _load(self, message: list) -> None:
        """load_new_episode: a successful load's reply goes through the shield."""
        requests = self.episodes.requests
        reply = self.dispatcher.handle(message)
        if reply is None:
            return
        if self.episodes.requests != requests:
            self.shield.loaded(reply)
        else:
            self._write(reply)

    def _route(self, message: list, reply: bytes) -> list[bytes]:
        return self.shield.route(_method(message), reply) if self.shield is not None else [reply]

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _held_by_gate(self, message: object) -> bool:
        """Defer the TM worker's get_episode_settings (see tm_gate); track TM batches.

        The worker shares this connection with the client's main thread, so other requests may
        come between its control batch and its get_episode_settings.
        """
        if self.gate is None or not isinstance(message, list) or len(message) != 4:
            return False
        method, params = message[2], message[3]
        if method == "apply_batch":
            # The TM sends its batch with a synchronous call; client.apply_batch() is async.
            args = params[1:] if isinstance(params, list) else []
            synchronous = isinstance(params, list) and params[:1] == [[False]]
            if synchronous and is_tm_control_batch(method, args):
                self.tm_batch_tick = self.gate.ticks
            return False
        if method != "get_episode_settings" or self.tm_batch_tick is None:
            return False
        batch_tick, self.tm_batch_tick = self.tm_batch_tick, None
        if not self.gate.active():
            return False
        if self.dispatcher.debug:
            log.debug("holding the TM worker's get_episode_settings until after a tick")
        self.gate.hold_after(batch_tick, lambda: self._late_reply(message))
        return True

    def _late_reply(self, message: list) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        reply = self.dispatcher.handle(message)
        if reply is not None:
            self._write(b"".join(self._route(message, reply)))

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"


def _method(message: object) -> object:
    """The method name of a msgpack-rpc request (None for anything else)."""
    if isinstance(message, list) and len(message) == 4 and message[0] == REQUEST:
        return message[2]
    return None
