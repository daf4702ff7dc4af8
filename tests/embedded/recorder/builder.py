"""Hand-made recorder files for the query and reader tests (packets written field by field)."""

from __future__ import annotations

import struct

from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder.format import PacketId, packet

DATE = 1637676528  # the date in scenario_runner's DistanceBetweenVehicles.log


def collection(record: struct.Struct, rows: list[tuple]) -> bytes:
    return fmt.U16.pack(len(rows)) + b"".join(record.pack(*r) for r in rows)


def event_add(
    actor_id: int,
    actor_type: int,
    blueprint: str,
    location=(0.0, 0.0, 0.0),
    attributes: tuple[tuple[str, str], ...] = (),
) -> bytes:
    head = fmt.EVENT_ADD_HEAD.pack(actor_id, actor_type, *location, 0.0, 0.0, 0.0, 0)
    body = fmt.pack_string(blueprint) + fmt.U16.pack(len(attributes))
    for key, value in attributes:
        body += fmt.ATTRIBUTE_TYPE.pack(4) + fmt.pack_string(key) + fmt.pack_string(value)
    return head + body


class Recording:
    """Frames appended in order; `bytes()` gives the file (durations as CARLA patches them)."""

    def __init__(self, map_name: str = "Town01", version: int = 2) -> None:
        self.head = fmt.U16.pack(version) + fmt.pack_string(fmt.MAGIC)
        self.head += fmt.I64.pack(DATE) + fmt.pack_string(map_name)
        self.frames: list[tuple[float, list[bytes]]] = []

    def frame(self, elapsed: float, *packets: bytes) -> Recording:
        self.frames.append((elapsed, list(packets)))
        return self

    def __bytes__(self) -> bytes:
        out = self.head
        for i, (elapsed, packets) in enumerate(self.frames):
            last = i == len(self.frames) - 1
            duration = -1.0 if last else self.frames[i + 1][0] - elapsed
            start = fmt.FRAME_START.pack(i + 1, duration, elapsed)
            out += packet(PacketId.FRAME_START, start) + b"".join(packets)
            out += packet(PacketId.FRAME_END, b"")
        return out


def adds(*records: bytes) -> bytes:
    return packet(PacketId.EVENT_ADD, fmt.U16.pack(len(records)) + b"".join(records))


def dels(*ids: int) -> bytes:
    return packet(PacketId.EVENT_DEL, collection(fmt.EVENT_DEL, [(i,) for i in ids]))


def collisions(*rows: tuple) -> bytes:
    return packet(PacketId.COLLISION, collection(fmt.COLLISION, list(rows)))


def positions(*rows: tuple) -> bytes:
    """Rows (id, x, y, z) in cm, no rotation."""
    full = [(i, x, y, z, 0.0, 0.0, 0.0) for i, x, y, z in rows]
    return packet(PacketId.POSITION, collection(fmt.POSITION, full))
