"""CARLA 0.9.16's recorder file format: header, packet ids and record layouts.

A file is a header (version, magic, date, map) followed by packets `id: u8, size: u32, payload`.
Everything is packed little-endian; strings are `u16 length + UTF-8`; lengths are centimetres and
rotations are (roll, pitch, yaw) degrees, as Unreal stores them (reference/carla_recorder.md §2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MAGIC = "CARLA_RECORDER"
# Version 2 tells a CARLA newer than 0.9.16 that attribute types are 1-based (Bool = 1), as the
# 0.9.16 wire numbers them; readers here accept 1 and 2 and ignore the attribute type.
VERSION = 2
NOT_AN_ACTOR = 0xFFFFFFFF  # the other side of a collision with the static world
MAX_STRING_BYTES = 32767  # CARLA computes string lengths through a signed 16-bit value


class PacketId(IntEnum):
    FRAME_START = 0
    FRAME_END = 1
    EVENT_ADD = 2
    EVENT_DEL = 3
    EVENT_PARENT = 4
    COLLISION = 5
    POSITION = 6
    STATE = 7
    ANIM_VEHICLE = 8
    ANIM_WALKER = 9
    VEHICLE_LIGHT = 10
    SCENE_LIGHT = 11
    KINEMATICS = 12
    BOUNDING_BOX = 13
    PLATFORM_TIME = 14
    PHYSICS_CONTROL = 15
    TRAFFIC_LIGHT_TIME = 16
    TRIGGER_VOLUME = 17
    FRAME_COUNTER = 18
    WALKER_BONES = 19
    VISUAL_TIME = 20
    ANIM_VEHICLE_WHEELS = 21
    ANIM_BIKER = 22
    VEHICLE_DOOR = 23


class ActorType(IntEnum):
    """FCarlaActor::ActorType, as EventAdd stores it."""

    OTHER = 0  # spectator, props, controllers
    VEHICLE = 1
    WALKER = 2
    TRAFFIC_LIGHT = 3
    TRAFFIC_SIGN = 4
    SENSOR = 5


PACKET_HEADER = struct.Struct("<BI")
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
I64 = struct.Struct("<q")
F64 = struct.Struct("<d")
FRAME_START = struct.Struct("<Qdd")  # frame id, duration (patched later), elapsed
DURATION_OFFSET = PACKET_HEADER.size + 8  # where a FrameStart packet keeps its duration
EVENT_ADD_HEAD = struct.Struct("<IB3f3fI")  # id, type, location, rotation, blueprint uid
EVENT_DEL = struct.Struct("<I")
EVENT_PARENT = struct.Struct("<II")  # child, parent
COLLISION = struct.Struct("<IIIBB")  # collision id, actor 1, actor 2, hero flags
POSITION = struct.Struct("<I3f3f")  # id, location (cm), rotation (roll, pitch, yaw)
STATE = struct.Struct("<IBfB")  # traffic light: id, frozen, elapsed in state, state
ANIM_VEHICLE = struct.Struct("<IfffBi")  # id, steer, throttle, brake, hand brake, gear
ANIM_WALKER = struct.Struct("<If")  # id, speed
VEHICLE_LIGHT = struct.Struct("<II")  # id, carla.VehicleLightState bits
SCENE_LIGHT = struct.Struct("<if4fBB")  # light id, intensity, colour RGBA, on, light type
KINEMATICS = struct.Struct("<I3f3f")  # id, linear velocity (m/s), angular velocity (deg/s)
BOX = struct.Struct("<I3f3f")  # id, origin (cm), extent (cm): bounding boxes, trigger volumes
TRAFFIC_LIGHT_TIME = struct.Struct("<Ifff")  # id, green, yellow, red (s)
VEHICLE_DOOR = struct.Struct("<IBB")  # vehicle id, door, open
BONE = struct.Struct("<3f3f")  # relative location, rotation
ATTRIBUTE_TYPE = struct.Struct("<B")
assert POSITION.size == 28 and STATE.size == 10 and ANIM_VEHICLE.size == 21
assert COLLISION.size == 14 and SCENE_LIGHT.size == 26


@dataclass(frozen=True)
class Header:
    version: int
    magic: str
    date: int  # Unix seconds
    map_name: str


def pack_string(text: str) -> bytes:
    data = text.encode("utf-8")[:MAX_STRING_BYTES]
    return U16.pack(len(data)) + data


def pack_header(map_name: str, date: int) -> bytes:
    return U16.pack(VERSION) + pack_string(MAGIC) + I64.pack(date) + pack_string(map_name)


def packet(packet_id: int, payload: bytes) -> bytes:
    return PACKET_HEADER.pack(packet_id, len(payload)) + payload


def is_recording_start(first_bytes: bytes) -> bool:
    """Whether a file begins with a recorder header (used before overwriting a file)."""
    return first_bytes[2:18] == pack_string(MAGIC)
