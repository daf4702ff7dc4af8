"""The server process: binds the RPC and streaming ports and runs the world on one event loop.

Everything runs on a single asyncio thread, so handlers never need locks and a tick can never
interleave with an RPC. In asynchronous mode a timer ticks the world; in synchronous mode only
`tick_cue` and `apply_batch(do_tick=True)` do.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from rllib_integration.embedded import map_source
from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.log_limit import RateLimitedLog
from rllib_integration.embedded.protocol import limits
from rllib_integration.embedded.protocol.episode_switch import EpisodeSwitch
from rllib_integration.embedded.protocol.handlers import RpcApi
from rllib_integration.embedded.protocol.rpc_server import (
    ConnectionLimits,
    Dispatcher,
    RpcProtocol,
)
from rllib_integration.embedded.protocol.stream_server import StreamHub, StreamProtocol
from rllib_integration.embedded.protocol.tm_gate import RELEASE_DELAY_S, TickGate
from rllib_integration.embedded.protocol.tm_watchdog import POKE_AFTER_S, TrafficManagerShield
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.recorder.service import RecorderConfig
from rllib_integration.embedded.world import ASYNC_DEFAULT_DELTA, EPISODE_STREAM_ID, World

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    rpc_port: int = 2000
    stream_port: int | None = None  # default: rpc_port + 1
    map: str = "Loop01"
    map_dir: str | None = None
    seed: int = 0
    # Off: the poke alone keeps world.tick() from hanging, and the gate costs ticks/s where it
    # holds (protocol/tm_gate.py; benchmarks/tm_stall.py measures both).
    tm_gate: bool = False
    tm_gate_delay: float = RELEASE_DELAY_S
    tm_poke_after: float = POKE_AFTER_S  # see protocol/tm_watchdog.py; 0: never poke
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    partial_message_timeout: float = limits.PARTIAL_MESSAGE_TIMEOUT_S


class EmbeddedServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stream_port = config.stream_port or config.rpc_port + 1
        self.hub = StreamHub()
        self.streams = WorldStreams(self.hub, self.stream_port)
        initial_map = map_source.load_map(config.map, config.map_dir)
        self.map_files = map_source.operator_files(config.map)  # clients load it by name
        self.world = World(default_library(), initial_map, self.streams, config.seed)
        self.gate = TickGate(config.tm_gate_delay)
        self.tm_shield = TrafficManagerShield(
            self.gate,
            lambda: self.world.settings.synchronous_mode,
            lambda: self.world.frame,
            hold=config.tm_gate,
            poke_after=config.tm_poke_after,
        )
        self.episodes = EpisodeSwitch(self.world.load_episode)
        self.api = RpcApi(
            self.world,
            self.streams,
            self.load_map,
            self.available_maps,
            self._tick,
            self.episodes.request,
            config.recorder,
        )
        self.dispatcher = Dispatcher(self.api.handlers())
        self.hub.on_subscribe = self._on_subscribe
        self.hub.valid_stream = self._valid_stream
        self._stopping: asyncio.Event | None = None
        # Handlers' blocking work (map loading, TM probes): two at a time, off the event loop.
        self.blocking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="blocking")
        self.connection_limits = ConnectionLimits(
            blocking=self.blocking, partial_timeout_s=config.partial_message_timeout
        )
        self._async_timer: asyncio.TimerHandle | None = None
        self._last_async_tick = 0.0  # event-loop time of the last asynchronous-mode timer
        self.tick_failures = RateLimitedLog(log)

    def _tick(self) -> int:
        self.episodes.before_tick()
        frame = self.world.tick()
        self.gate.after_tick()
        return frame

    def load_map(self, spec: str) -> map_source.ServerMap:
        """What a client may load (never a path of its choosing)."""
        return map_source.load_client_map(spec, self.config.map_dir, self.map_files)

    def available_maps(self) -> list[str]:
        return map_source.available_maps(self.config.map_dir, self.map_files)

    def _valid_stream(self, stream_id: int) -> bool:
        if self.hub.resolve(stream_id) == EPISODE_STREAM_ID:
            return True
        return any(a.stream_id == stream_id for a in self.world.actors.values())

    def _on_subscribe(self, stream_id: int, transport: asyncio.Transport) -> None:
        # A new episode-stream subscriber gets the current state at once, so that `get_world`
        # in asynchronous mode and `apply_settings` never wait for the next tick.
        if stream_id != EPISODE_STREAM_ID:
            return
        if self.streams.last_state is not None:
            transport.write(self.streams.last_state)
        self.episodes.on_episode_subscription()

    def _schedule_async_tick(self) -> None:
        """(Re)arm the asynchronous-mode timer for one step after the last tick; called again
        whenever the settings change, so a shorter step or a return to asynchronous mode takes
        effect at once rather than after the step that was set before."""
        loop = asyncio.get_running_loop()
        if self._async_timer is not None:
            self._async_timer.cancel()
        step = self.world.settings.fixed_delta_seconds or ASYNC_DEFAULT_DELTA
        self._async_timer = loop.call_at(self._last_async_tick + step, self._async_tick)

    def _async_tick(self) -> None:
        self._last_async_tick = asyncio.get_running_loop().time()
        # While a new episode is pending the old one holds still (see episode_switch).
        if not self.world.settings.synchronous_mode and not self.episodes.pending:
            try:
                self.world.tick()
            except Exception:
                self.tick_failures.exception("asynchronous tick failed")
        self._schedule_async_tick()

    async def serve(self, ready: Callable[[str], object] = print) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        host = self.config.host
        rpc = await loop.create_server(
            lambda: RpcProtocol(
                self.dispatcher,
                self.tm_shield,
                self.episodes,
                self.connection_limits,
            ),
            host,
            self.config.rpc_port,
            reuse_address=True,
        )
        stream = await loop.create_server(
            lambda: StreamProtocol(self.hub), host, self.stream_port, reuse_address=True
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        self.world.publish_state()
        self._last_async_tick = loop.time()
        self._schedule_async_tick()
        self.world.on_settings.append(self._schedule_async_tick)
        ready(
            f"embedded CARLA server ready: rpc {host}:{self.config.rpc_port} "
            f"stream {host}:{self.stream_port} map {self.world.map.name}"
        )
        try:
            await self._stopping.wait()
        finally:
            self.world.on_settings.remove(self._schedule_async_tick)
            if self._async_timer is not None:
                self._async_timer.cancel()
            self.api.recorder.close()
            rpc.close()
            stream.close()
            self.blocking.shutdown(wait=False, cancel_futures=True)
            for transports in list(self.hub.subscribers.values()):
                for t in list(transports):
                    t.close()
        log.info("embedded CARLA server stopped")
