"""Reading recorder files: the header, the packet sequence and each packet's records.

Files come from clients' paths and from CarlaUE4 itself, so every length is checked against the
data before it is used: a count that overruns its packet, or a packet that overruns the file,
raises `RecordingError` (the readers treat it as the end of the file). Unknown packet ids are
skipped by their size, so files from newer CARLA versions read too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from rllib_integration.embedded.recorder.format import (
    ATTRIBUTE_TYPE,
    BONE,
    EVENT_ADD_HEAD,
    F64,
    FRAME_START,
    I64,
    PACKET_HEADER,
    U16,
    U32,
    Header,
)


class RecordingError(ValueError):
    """Malformed recorder data."""


@dataclass(frozen=True)
class EventAdd:
    id: int
    type: int
    location: tuple[float, float, float]  # cm
    rotation: tuple[float, float, float]  # roll, pitch, yaw (deg)
    uid: int
    blueprint: str
    attributes: tuple[tuple[str, str], ...]  # (id, value); the stored type is not needed

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class FrameStart:
    id: int
    duration: float  # -1 in the last frame
    elapsed: float


@dataclass(frozen=True)
class WalkerBones:
    id: int
    bones: tuple[tuple[str, tuple[float, ...]], ...]  # name, (location, rotation)


@dataclass(frozen=True)
class PhysicsControl:
    id: int
    engine: tuple[float, ...]  # max_rpm, moi, the three damping rates
    use_gear_autobox: bool
    body: tuple[float, ...]  # clutch_strength, final_ratio, mass, drag_coefficient
    center_of_mass: tuple[float, float, float]
    torque_curve: tuple[tuple[float, ...], ...]
    forward_gears: tuple[tuple[float, ...], ...]
    steering_curve: tuple[tuple[float, ...], ...]
    wheels: tuple[tuple[float, ...], ...]  # 9 values then position (x, y, z)


class _Cursor:
    """Bounds-checked reads from a buffer."""

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = data
        self.offset = 0
        self.what = what

    def take(self, s: struct.Struct) -> tuple:
        end = self.offset + s.size
        if end > len(self.data):
            raise RecordingError(f"{self.what}: record runs past the end of its data")
        values = s.unpack_from(self.data, self.offset)
        self.offset = end
        return values

    def string(self) -> str:
        (length,) = self.take(U16)
        end = self.offset + length
        if end > len(self.data):
            raise RecordingError(f"{self.what}: string runs past the end of its data")
        raw = bytes(self.data[self.offset : end])
        self.offset = end
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    def curve(self, width: int) -> tuple[tuple[float, ...], ...]:
        (count,) = self.take(U32)
        s = struct.Struct(f"<{width}f")
        if count * s.size > len(self.data) - self.offset:
            raise RecordingError(f"{self.what}: curve runs past the end of its data")
        return tuple(self.take(s) for _ in range(count))


def read_header(data: bytes) -> tuple[Header, int]:
    """The header and where the packets start; a file too short to hold a header reads as an
    empty magic ("not a recorder")."""
    cursor = _Cursor(data, "header")
    try:
        (version,) = cursor.take(U16)
        magic = cursor.string()
        (date,) = cursor.take(I64)
        map_name = cursor.string()
    except RecordingError:
        return Header(0, "", 0, ""), len(data)
    return Header(version, magic, date, map_name), cursor.offset


def packets(data: bytes, start: int) -> Iterator[tuple[int, memoryview]]:
    """(packet id, payload) from `start` to the end; RecordingError on a packet cut short."""
    view = memoryview(data)
    offset, end = start, len(data)
    header_size_ = PACKET_HEADER.size
    while offset < end:
        if offset + header_size_ > end:
            raise RecordingError(f"packet header cut short at byte {offset}")
        packet_id, size = PACKET_HEADER.unpack_from(data, offset)
        offset += header_size_
        if offset + size > end:
            raise RecordingError(f"packet {packet_id} at byte {offset} runs past the end of file")
        yield packet_id, view[offset : offset + size]
        offset += size


def records(payload: memoryview, record: struct.Struct, what: str) -> list[tuple]:
    """A collection: `u16 count` then fixed-size records."""
    if len(payload) < 2:
        raise RecordingError(f"{what}: packet too short for its count")
    (count,) = U16.unpack_from(payload, 0)
    end = 2 + count * record.size
    if end > len(payload):
        raise RecordingError(f"{what}: {count} records do not fit in {len(payload)} bytes")
    return list(record.iter_unpack(payload[2:end]))


def frame_start(payload: memoryview) -> FrameStart:
    if len(payload) < FRAME_START.size:
        raise RecordingError("frame start: packet too short")
    return FrameStart(*FRAME_START.unpack_from(payload, 0))


def float64(payload: memoryview, what: str) -> float:
    if len(payload) < F64.size:
        raise RecordingError(f"{what}: packet too short")
    return F64.unpack_from(payload, 0)[0]


def event_adds(payload: memoryview) -> list[EventAdd]:
    cursor = _Cursor(payload, "actor creation")
    (count,) = cursor.take(U16)
    events = []
    for _ in range(count):
        actor_id, actor_type, lx, ly, lz, rx, ry, rz, uid = cursor.take(EVENT_ADD_HEAD)
        blueprint = cursor.string()
        (n_attributes,) = cursor.take(U16)
        attributes = []
        for _ in range(n_attributes):
            cursor.take(ATTRIBUTE_TYPE)
            key = cursor.string()
            attributes.append((key, cursor.string()))
        events.append(
            EventAdd(
                actor_id,
                actor_type,
                (lx, ly, lz),
                (rx, ry, rz),
                uid,
                blueprint,
                tuple(attributes),
            )
        )
    return events


def walker_bones(payload: memoryview) -> list[WalkerBones]:
    cursor = _Cursor(payload, "walker bones")
    (count,) = cursor.take(U16)
    walkers = []
    for _ in range(count):
        (walker_id,) = cursor.take(U32)
        (n_bones,) = cursor.take(U16)
        bones = []
        for _ in range(n_bones):
            name = cursor.string()
            bones.append((name, cursor.take(BONE)))
        walkers.append(WalkerBones(walker_id, tuple(bones)))
    return walkers


_ENGINE = struct.Struct("<5fB4f3f")


def physics_controls(payload: memoryview) -> list[PhysicsControl]:
    cursor = _Cursor(payload, "physics control")
    (count,) = cursor.take(U16)
    controls = []
    for _ in range(count):
        (vehicle_id,) = cursor.take(U32)
        values = cursor.take(_ENGINE)
        torque = cursor.curve(2)
        gears = cursor.curve(3)
        steering = cursor.curve(2)
        wheels = cursor.curve(12)
        controls.append(
            PhysicsControl(
                vehicle_id,
                values[:5],
                bool(values[5]),
                values[6:10],
                values[10:13],
                torque,
                gears,
                steering,
                wheels,
            )
        )
    return controls
