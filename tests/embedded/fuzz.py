"""Seeded malformed input for the embedded server, and a runner that counts what it did to it.

Used by tests/embedded/test_server_fuzz.py (a few hundred probes, in the default suite) and
benchmarks/fuzz_server.py (thousands). Each probe is one of: garbage bytes, a truncated or
oversized frame, an unknown method, a known method with wrong argument types, a known method
with valid arguments but one value made hostile (NaN, inf, beyond float32, huge ints, wrong
types, long strings), a notification or response instead of a request, or junk on the
streaming port. Every `check_every` probes, and at the end, the server must answer `version`
on a new connection within `answer_within` seconds ("wedged" otherwise) and still run ("crash"
otherwise).
"""

from __future__ import annotations

import math
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.handlers import RpcApi
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.world import EpisodeSettings, World

NAN, INF = math.nan, math.inf
HOSTILE: list[object] = [
    NAN, INF, -INF, 1e39, -1e39, 3.4e38, 1e308, -0.0, 2**63 - 1, -(2**63), 2**64 - 1, 2**31,
    -1, 0, True, None, "", "1.0", "nan", "x" * 5000, b"\x00\xff" * 8, [], [[]], {"a": 1},
]  # fmt: skip
SENSOR_ATTRIBUTES = {
    "sensor.camera.rgb": ["image_size_x", "image_size_y", "fov", "sensor_tick"],
    "sensor.camera.depth": ["image_size_x", "image_size_y", "fov"],
    "sensor.lidar.ray_cast": ["channels", "range", "points_per_second", "rotation_frequency",
                              "upper_fov", "lower_fov", "horizontal_fov"],
    "sensor.other.radar": ["horizontal_fov", "vertical_fov", "range", "points_per_second"],
    "sensor.other.obstacle": ["distance", "hit_radius"],
    "sensor.other.gnss": ["noise_lat_stddev", "noise_seed"],
}  # fmt: skip
HOSTILE_ATTRIBUTES = ["1e9", "1e39", "nan", "inf", "-1", "0", "abc", "", "65536", "1e-30"]


@dataclass(frozen=True)
class Probe:
    kind: str
    payload: bytes
    stream_port: bool = False  # else the RPC port
    shared: bool = False  # a request on the shared RPC connection: its reply is awaited


@dataclass
class FuzzResult:
    probes: int = 0
    crashes: int = 0
    wedged: int = 0
    kinds: Counter = field(default_factory=Counter)
    replies: int = 0

    def line(self) -> str:
        return f"fuzz: {self.probes} probes, {self.crashes} crashes, {self.wedged} wedged"


def server_methods() -> list[str]:
    """Every RPC name the server answers (its handler tables)."""
    streams = WorldStreams(StreamHub(), 2001)
    world = World(default_library(), None, streams)
    api = RpcApi(world, streams, lambda name: None, lambda: [], world.tick)
    return sorted(api.handlers())


def _request(method: object, args: list, msgid: int) -> bytes:
    return msgpack.packb([0, msgid, method, [[False], *args]], use_bin_type=True)


class ProbeMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.methods = server_methods()
        self.msgid = 0
        car = default_library().get("vehicle.audi.a2")
        assert car is not None  # a blueprint of the default library
        self.physics = codec.default_physics_control(car)

    def __iter__(self) -> Iterator[Probe]:
        makers = [
            (self.garbage, 8), (self.truncated, 8), (self.oversized, 4), (self.unknown, 6),
            (self.wrong_types, 20), (self.hostile_value, 40), (self.sensor_attributes, 6),
            (self.not_a_request, 4), (self.stream_junk, 6),
        ]  # fmt: skip
        kinds, weights = zip(*makers, strict=True)
        while True:
            yield self.rng.choices(kinds, weights)[0]()

    # ------------------------------------------------------------ bytes

    def garbage(self) -> Probe:
        size = self.rng.choice([1, 3, 64, 4096])
        return Probe("garbage", self.rng.randbytes(size))

    def truncated(self) -> Probe:
        method, args = self._valid_call()
        data = _request(method, args, self._next_id())
        return Probe("truncated", data[: self.rng.randrange(1, len(data))])

    def oversized(self) -> Probe:
        claim = self.rng.choice([2**24, 2**31, 2**32 - 1])
        header = self.rng.choice([b"\xdb", b"\xc6", b"\xdd", b"\xdf"])  # str32 bin32 arr32 map32
        return Probe("oversized", b"\x94\x00\x01" + header + struct.pack(">I", claim) + b"ab")

    def stream_junk(self) -> Probe:
        choice = self.rng.randrange(4)
        if choice == 0:
            payload = self.rng.randbytes(self.rng.choice([1, 2, 3]))
        elif choice == 1:
            payload = struct.pack("<I", self.rng.choice([1, 2, 7, 2**31, 2**32 - 1]))
        elif choice == 2:
            payload = struct.pack("<I", 1) + self.rng.randbytes(16)
        else:
            payload = self.rng.randbytes(512)
        return Probe("stream junk", payload, stream_port=True)

    # ------------------------------------------------------------ requests

    def unknown(self) -> Probe:
        length = self.rng.choice([1, 12, 300, 100_000])
        name = "".join(chr(self.rng.randrange(1, 0x2FF)) for _ in range(min(length, 300)))
        name = (name * (length // len(name) + 1))[:length]
        return Probe("unknown method", _request(name, [1, "x"], self._next_id()), shared=True)

    def wrong_types(self) -> Probe:
        method = self.rng.choice(self.methods)
        args = [self._random_value(2) for _ in range(self.rng.randrange(0, 6))]
        return Probe("wrong types", _request(method, args, self._next_id()), shared=True)

    def hostile_value(self) -> Probe:
        method, args = self._valid_call()
        if args:
            i = self.rng.randrange(len(args))
            args = [*args[:i], self._mutate(args[i]), *args[i + 1 :]]
        return Probe("hostile value", _request(method, args, self._next_id()), shared=True)

    def sensor_attributes(self) -> Probe:
        blueprint = self.rng.choice(list(SENSOR_ATTRIBUTES))
        names = self.rng.sample(SENSOR_ATTRIBUTES[blueprint], 2)
        attributes = [[n, 2, self.rng.choice(HOSTILE_ATTRIBUTES)] for n in names]
        description = [0, blueprint, attributes]
        args = [description, [[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]]
        return Probe(
            "sensor attributes", _request("spawn_actor", args, self._next_id()), shared=True
        )

    def not_a_request(self) -> Probe:
        message = self.rng.choice([
            [2, "tick_cue", [[False]]],  # a notification
            [1, 5, None, [[1, 2]]],  # a response
            [0, 1, "version"],  # too short
            [0, -1, "version", [[False]]],
            [0, 1, None, []],
            [7, 1, "version", []],
            "version",
        ])  # fmt: skip
        return Probe("not a request", msgpack.packb(message, use_bin_type=True))

    # ------------------------------------------------------------ helpers

    def _next_id(self) -> int:
        self.msgid = (self.msgid + 1) % 2**32
        return self.msgid

    def _actor(self) -> int:
        return self.rng.choice([0, 1, 2, 3, 5, 8, 13, 40, 2**32 - 1])

    def _pose(self) -> list:
        r = self.rng
        return [[r.uniform(-100, 100), r.uniform(-100, 100), 0.5], [0.0, r.uniform(-180, 180), 0.0]]

    def _valid_call(self) -> tuple[str, list]:
        r, actor = self.rng, self._actor()
        control = [r.random(), r.uniform(-1, 1), 0.0, False, False, False, 0]
        vector = [r.uniform(-5, 5) for _ in range(3)]
        settings = codec.settings_to_wire(EpisodeSettings(fixed_delta_seconds=0.05))
        vehicle = [
            0,
            r.choice(["vehicle.audi.a2", "vehicle.tesla.model3"]),
            [["role_name", 4, "f"]],
        ]
        walker = [0, "walker.pedestrian.0001", []]
        commands = [
            [[codec.CMD_VEHICLE_CONTROL, [actor, control]]],
            [[codec.CMD_TRANSFORM, [actor, self._pose()]]],
            [[codec.CMD_SPAWN, [vehicle, self._pose(), [False], 0, "", []]]],
            [[codec.CMD_DESTROY, [actor]]],
            [[codec.CMD_LIGHT_STATE, [actor, [3]]]],
            [[codec.CMD_TARGET_VELOCITY, [actor, vector]]],
        ]
        calls: list[tuple[str, list[Any]]] = [
            ("spawn_actor", [r.choice([vehicle, walker]), self._pose()]),
            ("set_actor_transform", [actor, self._pose()]),
            ("set_actor_location", [actor, vector]),
            ("set_actor_target_velocity", [actor, vector]),
            ("enable_actor_constant_velocity", [actor, vector]),
            ("add_actor_impulse", [actor, vector]),
            ("apply_control_to_vehicle", [actor, control]),
            ("apply_ackermann_control_to_vehicle", [actor, [0.1, 0.0, 5.0, 0.0, 0.0]]),
            ("apply_control_to_walker", [actor, [[1.0, 0.0, 0.0], 1.0, False]]),
            ("set_walker_state", [actor, self._pose(), 1.0]),
            ("apply_physics_control", [actor, self.physics]),
            ("set_weather_parameters", [[float(r.randrange(100)) for _ in range(14)]]),
            ("set_episode_settings", [settings]),
            ("set_vehicle_light_state", [actor, [r.randrange(256)]]),
            ("set_actor_simulate_physics", [actor, r.random() < 0.5]),
            ("apply_batch", [r.sample(commands, 3), r.random() < 0.5]),
            ("load_new_episode", [r.choice(["Loop01", "Grid01", "/etc/passwd", "Town99"]), False]),
            ("get_actor_bounding_box", [actor]),
            ("get_actors_by_id", [[actor, 1, 2]]),
            ("get_sensor_token", [actor]),
            ("destroy_actor", [actor]),
            ("add_traffic_manager_running", [["127.0.0.1", r.choice([1, 8000, 65535])]]),
            ("is_traffic_manager_running", [8000]),
            ("tick_cue", []),
            ("get_map_data", []),
        ]
        return r.choice(calls)

    def _mutate(self, value: object) -> object:
        """`value` with one leaf replaced by a hostile one (lists are copied on the way down)."""
        if isinstance(value, list) and value and self.rng.random() < 0.85:
            i = self.rng.randrange(len(value))
            copy = list(value)
            copy[i] = self._mutate(value[i])
            return copy
        return self.rng.choice(HOSTILE)

    def _random_value(self, depth: int) -> object:
        r = self.rng
        kind = r.randrange(6 if depth > 0 else 4)
        if kind == 0:
            return r.choice(HOSTILE)
        if kind == 1:
            return r.choice([r.randrange(-10, 10), r.uniform(-1e3, 1e3), r.random() < 0.5])
        if kind == 2:
            return "".join(chr(r.randrange(32, 127)) for _ in range(r.randrange(0, 20)))
        if kind == 3:
            return None
        return [self._random_value(depth - 1) for _ in range(r.randrange(0, 5))]


def _send(host: str, port: int, payload: bytes) -> None:
    """A connection of its own: send, look for an answer very briefly, close."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(payload)
            s.settimeout(0.02)
            try:
                s.recv(65536)
            except (TimeoutError, OSError):
                pass
    except OSError:
        pass  # refused or reset: the server closed on us, as it may


def answers(host: str, port: int, within: float) -> bool:
    """Whether the server answers `version` on a new connection within `within` seconds."""
    deadline = time.monotonic() + within
    try:
        with socket.create_connection((host, port), timeout=within) as s:
            s.sendall(_request("version", [], 1))
            unpacker = msgpack.Unpacker(raw=False)
            while time.monotonic() < deadline:
                s.settimeout(max(deadline - time.monotonic(), 0.01))
                data = s.recv(65536)
                if not data:
                    return False
                unpacker.feed(data)
                for message in unpacker:
                    return message[3] == [[1, "0.9.16"]]
    except OSError:
        return False
    return False


class SharedConnection:
    """The RPC connection that well-formed requests go over; reopened when the server drops it."""

    def __init__(self, host: str, port: int, reply_within: float) -> None:
        self.address = (host, port)
        self.reply_within = reply_within
        self.sock: socket.socket | None = None
        self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=2**30)

    def ask(self, payload: bytes) -> bool:
        """Send one request; True when its reply came (False: the server closed the connection,
        or no reply in time)."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=self.reply_within)
                self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=2**30)
            self.sock.sendall(payload)
            deadline = time.monotonic() + self.reply_within
            while time.monotonic() < deadline:
                self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                self.unpacker.feed(data)
                for _ in self.unpacker:
                    return True
        except OSError:
            pass
        self.close()
        return False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def run_fuzz(
    host: str,
    rpc_port: int,
    stream_port: int,
    alive: Callable[[], bool],
    count: int,
    seed: int,
    check_every: int = 25,
    answer_within: float = 15.0,
    progress: Callable[[FuzzResult], None] | None = None,
) -> FuzzResult:
    """Send `count` seeded probes; count crashes (the process died) and wedges (no answer)."""
    result = FuzzResult()
    shared = SharedConnection(host, rpc_port, answer_within)
    try:
        for probe in ProbeMaker(seed):
            if result.probes >= count:
                break
            result.probes += 1
            result.kinds[probe.kind] += 1
            if probe.shared:
                result.replies += shared.ask(probe.payload)
            else:
                _send(host, stream_port if probe.stream_port else rpc_port, probe.payload)
            if result.probes % check_every == 0 or result.probes == count:
                if not _healthy(host, rpc_port, alive, answer_within, result):
                    break
                if progress is not None:
                    progress(result)
    finally:
        shared.close()
    return result


def _healthy(
    host: str, port: int, alive: Callable[[], bool], within: float, result: FuzzResult
) -> bool:
    if not alive():
        result.crashes += 1
        return False
    if not answers(host, port, within):
        if not alive():
            result.crashes += 1
            return False
        result.wedged += 1
    return True
