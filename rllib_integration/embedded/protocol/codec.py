"""Encoders for CARLA 0.9.16 wire values (msgpack shapes and the binary stream layouts).

Shapes follow reference/carla_wire_protocol.md §1.2 and §2.4; all binary layouts are packed
little-endian. msgpack-c on the client is strict: bools must be bools, byte arrays must be bin.
"""

from __future__ import annotations

import struct

import numpy as np

SENSOR_HEADER = struct.Struct("<QQd3f3f")  # type, frame, timestamp, location, rotation: 48 B
EPISODE_HEADER = struct.Struct("<Qdf3iI")  # episode, platform time, delta, map origin, state: 36 B
IMAGE_HEADER = struct.Struct("<IIf")  # width, height, fov: 12 B
ACTOR_RECORD_SIZE = 119

# ActorDynamicState: id, actor_state, transform, velocity, angular velocity, acceleration, union.
ACTOR_DTYPE = np.dtype(
    {
        "names": [
            "id",
            "state",
            "transform",
            "velocity",
            "angular_velocity",
            "acceleration",
            "throttle",
            "steer",
            "brake",
            "hand_brake",
            "reverse",
            "manual_gear_shift",
            "gear",
            "speed_limit",
            "tl_state",
            "has_tl",
            "tl_id",
            "failure",
        ],
        "formats": [
            "<u4",
            "u1",
            ("<f4", 6),
            ("<f4", 3),
            ("<f4", 3),
            ("<f4", 3),
            "<f4",
            "<f4",
            "<f4",
            "u1",
            "u1",
            "u1",
            "<i4",
            "<f4",
            "u1",
            "u1",
            "<u4",
            "u1",
        ],
        "offsets": [0, 4, 5, 29, 41, 53, 65, 69, 73, 77, 78, 79, 80, 84, 88, 89, 90, 94],
        "itemsize": ACTOR_RECORD_SIZE,
    }
)
assert SENSOR_HEADER.size == 48 and EPISODE_HEADER.size == 36

TOKEN_PROTOCOL_TCP = 1
TOKEN_ADDRESS_UNSET = 0  # the client substitutes the host it connected to


def token(stream_id: int, port: int) -> bytes:
    """24-byte streaming token: stream id, port, TCP, address left for the client to fill."""
    return struct.pack("<IHBB16s", stream_id, port, TOKEN_PROTOCOL_TCP, TOKEN_ADDRESS_UNSET, b"")


def token_stream_id(data: bytes) -> int:
    return struct.unpack_from("<I", data)[0]


def ok(value: object) -> list:
    """Response<T> success."""
    return [[1, value]]


def error(message: str) -> list:
    """Response<T> error: the client raises RuntimeError(message)."""
    return [[0, [message]]]


VOID_OK: list = [[False]]


def void_error(message: str) -> list:
    """Response<void> error."""
    return [[True, [message]]]


def vec3(v: tuple[float, float, float] | list | np.ndarray) -> list:
    return [float(v[0]), float(v[1]), float(v[2])]


def transform(t: tuple[float, ...] | list | np.ndarray) -> list:
    """(x, y, z, pitch, yaw, roll) -> [[x, y, z], [pitch, yaw, roll]]."""
    return [
        [float(t[0]), float(t[1]), float(t[2])],
        [float(t[3]), float(t[4]), float(t[5])],
    ]


def parse_vec3(v: list) -> tuple[float, float, float]:
    x, y, z = v
    return float(x), float(y), float(z)


def parse_transform(t: list) -> tuple[float, float, float, float, float, float]:
    (x, y, z), (pitch, yaw, roll) = t
    return float(x), float(y), float(z), float(pitch), float(yaw), float(roll)


def bounding_box(center: tuple, extent: tuple, actor_id: int) -> list:
    return [vec3(center), vec3(extent), [0.0, 0.0, 0.0], int(actor_id)]


def sensor_header(type_id: int, frame: int, timestamp: float, pose: tuple = (0.0,) * 6) -> bytes:
    return SENSOR_HEADER.pack(type_id, frame, timestamp, *pose)


def framed(*parts: bytes) -> bytes:
    """One stream message: u32 total size, then the payload."""
    size = sum(len(p) for p in parts)
    return struct.pack("<I", size) + b"".join(parts)


# EpisodeSettings field order (11 fields in 0.9.16).
SETTINGS_FIELDS = (
    "synchronous_mode",
    "no_rendering_mode",
    "fixed_delta_seconds",
    "substepping",
    "max_substep_delta_time",
    "max_substeps",
    "max_culling_distance",
    "deterministic_ragdolls",
    "tile_stream_distance",
    "actor_active_distance",
    "spectator_as_ego",
)

WEATHER_FIELDS = (
    "cloudiness",
    "precipitation",
    "precipitation_deposits",
    "wind_intensity",
    "sun_azimuth_angle",
    "sun_altitude_angle",
    "fog_density",
    "fog_distance",
    "fog_falloff",
    "wetness",
    "scattering_intensity",
    "mie_scattering_scale",
    "rayleigh_scattering_scale",
    "dust_storm",
)

VEHICLE_CONTROL_FIELDS = (
    "throttle",
    "steer",
    "brake",
    "hand_brake",
    "reverse",
    "manual_gear_shift",
    "gear",
)
