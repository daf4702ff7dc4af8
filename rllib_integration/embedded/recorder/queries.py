"""The text replies of `show_recorder_file_info`, `show_recorder_collisions` and
`show_recorder_actors_blocked`, character for character as CarlaUE4 0.9.16 prints them.

The rules are in reference/carla_recorder.md §3: C++ stream number formatting (`%g`), the header
with the local-time date, a blank line per frame (and one more for the last FrameEnd, which
CARLA's read loop handles twice), the fixed-point `Duration` after a collision row, the order of
blocked actors. CARLA's quirks that change the output are kept on purpose: an EventDel forgets
the actor of the last EventAdd read (not the deleted one), and the last frame's -1 duration is
added to a blocked actor's time. Each query starts fresh (CARLA reuses state between calls).
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder import reader
from rllib_integration.embedded.recorder.format import PacketId
from rllib_integration.embedded.recorder.reader import RecordingError

log = logging.getLogger(__name__)

NOT_A_RECORDER = "File is not a CARLA recorder\n"
CATEGORIES = "ovwtha"  # indexed by the EventAdd actor type
DOOR_NAMES = ("Front Left", "Front Right", "Rear Left", "Rear Right", "Hood", "Trunk", "All")
# carla.VehicleLightState bits in the order CARLA prints them (Interior before Fog).
LIGHT_NAMES = (
    (1, "Position"),
    (2, "LowBeam"),
    (4, "HighBeam"),
    (8, "Brake"),
    (16, "RightBlinker"),
    (32, "LeftBlinker"),
    (64, "Reverse"),
    (256, "Interior"),
    (128, "Fog"),
    (512, "Special1"),
    (1024, "Special2"),
)


def g(value: float) -> str:
    """A number as a default C++ stream prints it (glibc's sign on NaN included)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:g}"


def vector(values: tuple) -> str:
    return "(" + ", ".join(g(v) for v in values) + ")"


@dataclass
class _Frame:
    id: int = 0
    duration: float = 0.0
    elapsed: float = 0.0


class _Scan:
    """A recording's header and packets, with the frame being read."""

    def __init__(self, data: bytes) -> None:
        self.header, self._start = reader.read_header(data)
        self.data = data
        self.frame = _Frame()
        self.last_packet: int | None = None

    @property
    def is_recording(self) -> bool:
        return self.header.magic == fmt.MAGIC

    def head(self) -> str:
        try:
            date = time.strftime("%m/%d/%y %H:%M:%S", time.localtime(self.header.date))
        except (OverflowError, OSError, ValueError):
            date = ""
        return f"Version: {self.header.version}\nMap: {self.header.map_name}\nDate: {date}\n\n"

    def packets(self) -> Iterator[tuple[int, memoryview]]:
        """The packets to the end, or to the first malformed one (CARLA's read would fail there
        too; what follows is not trusted)."""
        try:
            for packet_id, payload in reader.packets(self.data, self._start):
                if packet_id == PacketId.FRAME_START:
                    start = reader.frame_start(payload)
                    self.frame = _Frame(start.id, start.duration, start.elapsed)
                self.last_packet = packet_id
                yield packet_id, payload
        except RecordingError as exc:
            log.warning("recording read stopped: %s", exc)

    def tail(self, duration: str | None = None) -> str:
        shown = g(self.frame.elapsed) if duration is None else duration
        return f"\nFrames: {self.frame.id}\nDuration: {shown} seconds\n"


# ---------------------------------------------------------------- show_recorder_file_info


def _position_lines(rows: list[tuple]) -> list[str]:
    return [f"  Id: {r[0]} Location: {vector(r[1:4])} Rotation: {vector(r[4:7])}\n" for r in rows]


def _state_lines(rows: list[tuple]) -> list[str]:
    def digit(state: int) -> str:
        return chr(0x30 + state) if state < 0x50 else "?"

    return [
        f"  Id: {i} state: {digit(state)} frozen: {int(frozen != 0)} elapsedTime: {g(t)}\n"
        for i, frozen, t, state in rows
    ]


def _vehicle_lines(rows: list[tuple]) -> list[str]:
    return [
        f"  Id: {i} Steering: {g(steer)} Throttle: {g(throttle)} Brake: {g(brake)} "
        f"Handbrake: {int(hand != 0)} Gear: {gear}\n"
        for i, steer, throttle, brake, hand, gear in rows
    ]


def _walker_lines(rows: list[tuple]) -> list[str]:
    return [f"  Id: {i} speed: {g(speed)}\n" for i, speed in rows]


def _door_lines(rows: list[tuple]) -> list[str]:
    lines = []
    for i, door, _open in rows:
        name = f" {DOOR_NAMES[door]} \n" if door < len(DOOR_NAMES) else ""
        lines.append(f"  Id: {i}\n  Doors opened: {name}")
    return lines


def _light_lines(rows: list[tuple]) -> list[str]:
    lines = []
    for i, state in rows:
        names = [name for bit, name in LIGHT_NAMES if state & bit]
        lines.append(f"  Id: {i} {' '.join(names) if names else 'None'}\n")
    return lines


def _scene_light_lines(rows: list[tuple]) -> list[str]:
    return [
        f"  Id: {i} enabled: {'True' if on else 'False'} intensity: {g(intensity)} "
        f"RGB_color: {vector((r, gr, b))}\n"
        for i, intensity, r, gr, b, _a, on, _kind in rows
    ]


def _kinematics_lines(rows: list[tuple]) -> list[str]:
    return [
        f"  Id: {r[0]} linear_velocity: {vector(r[1:4])} angular_velocity: {vector(r[4:7])}\n"
        for r in rows
    ]


def _box_lines(rows: list[tuple]) -> list[str]:
    return [f"  Id: {r[0]} origin: {vector(r[1:4])} extension: {vector(r[4:7])}\n" for r in rows]


def _light_time_lines(rows: list[tuple]) -> list[str]:
    return [
        f"  Id: {i} green_time: {g(green)} yellow_time: {g(yellow)} red_time: {g(red)}\n"
        for i, green, yellow, red in rows
    ]


def _bones_lines(walkers: list[reader.WalkerBones]) -> list[str]:
    lines = []
    for walker in walkers:
        lines.append(f"  Id: {walker.id}\n")
        for name, (lx, ly, lz, rx, ry, rz) in walker.bones:
            lines.append(
                f'     Bone: "{name}" relative: Loc({g(lx)}, {g(ly)}, {g(lz)}) '
                f"Rot({g(rx)}, {g(ry)}, {g(rz)})\n"
            )
    return lines


def _physics_lines(controls: list[reader.PhysicsControl]) -> list[str]:
    lines = []
    for c in controls:
        max_rpm, moi, full, engaged, disengaged = c.engine
        clutch, final_ratio, mass, drag = c.body
        lines += [
            f"  Id: {c.id}\n",
            f"   max_rpm = {g(max_rpm)}\n",
            f"   MOI = {g(moi)}\n",
            f"   damping_rate_full_throttle = {g(full)}\n",
            f"   damping_rate_zero_throttle_clutch_engaged = {g(engaged)}\n",
            f"   damping_rate_zero_throttle_clutch_disengaged = {g(disengaged)}\n",
            f"   use_gear_auto_box = {'true' if c.use_gear_autobox else 'false'}\n",
            "   gear_switch_time = 0.5\n",  # not stored in the file: CARLA prints its default
            f"   clutch_strength = {g(clutch)}\n",
            f"   final_ratio = {g(final_ratio)}\n",
            f"   mass = {g(mass)}\n",
            f"   drag_coefficient = {g(drag)}\n",
            f"   center_of_mass = {vector(c.center_of_mass)}\n",
            "   torque_curve =" + "".join(f" {vector(p)}" for p in c.torque_curve) + "\n",
            "   steering_curve =" + "".join(f" {vector(p)}" for p in c.steering_curve) + "\n",
            "   forward_gears:\n",
        ]
        lines += [
            f"    gear {n}: ratio {g(ratio)} down_ratio {g(down)} up_ratio {g(up)}\n"
            for n, (ratio, down, up) in enumerate(c.forward_gears)
        ]
        lines.append("   wheels:\n")
        lines += [
            f"    wheel {n}: tire_friction {g(w[0])} damping_rate {g(w[1])} "
            f"max_steer_angle {g(w[2])} radius {g(w[3])} max_brake_torque {g(w[4])} "
            f"max_handbrake_torque {g(w[5])} position {vector(w[9:12])}\n"
            for n, w in enumerate(c.wheels)
        ]
    return lines


# show_all packets: id -> (section title, record layout or decoder, line maker)
_SECTIONS: dict[int, tuple[str, struct.Struct | Callable, Callable]] = {
    PacketId.POSITION: ("Positions", fmt.POSITION, _position_lines),
    PacketId.STATE: ("State traffic lights", fmt.STATE, _state_lines),
    PacketId.ANIM_VEHICLE: ("Vehicle animations", fmt.ANIM_VEHICLE, _vehicle_lines),
    PacketId.ANIM_WALKER: ("Walker animations", fmt.ANIM_WALKER, _walker_lines),
    PacketId.VEHICLE_DOOR: ("Vehicle door animations", fmt.VEHICLE_DOOR, _door_lines),
    PacketId.VEHICLE_LIGHT: ("Vehicle light animations", fmt.VEHICLE_LIGHT, _light_lines),
    PacketId.SCENE_LIGHT: ("Scene light changes", fmt.SCENE_LIGHT, _scene_light_lines),
    PacketId.KINEMATICS: ("Dynamic actors", fmt.KINEMATICS, _kinematics_lines),
    PacketId.BOUNDING_BOX: ("Actor bounding boxes", fmt.BOX, _box_lines),
    PacketId.TRIGGER_VOLUME: ("Actor trigger volumes", fmt.BOX, _box_lines),
    PacketId.PHYSICS_CONTROL: ("Physics Control events", reader.physics_controls, _physics_lines),
    PacketId.TRAFFIC_LIGHT_TIME: (
        "Traffic Light time events",
        fmt.TRAFFIC_LIGHT_TIME,
        _light_time_lines,
    ),
    PacketId.WALKER_BONES: ("Walkers Bones", reader.walker_bones, _bones_lines),
}


def _event_lines(packet_id: int, payload: memoryview) -> list[str]:
    """The lines of an EventAdd, EventDel, EventParent or Collision packet."""
    if packet_id == PacketId.EVENT_ADD:
        lines = []
        for e in reader.event_adds(payload):
            lines.append(f" Create {e.id}: {e.blueprint} ({e.type}) at {vector(e.location)}\n")
            lines += [f"  {key} = {value}\n" for key, value in e.attributes]
        return lines
    if packet_id == PacketId.EVENT_DEL:
        rows = reader.records(payload, fmt.EVENT_DEL, "destructions")
        return [f" Destroy {actor_id}\n" for (actor_id,) in rows]
    if packet_id == PacketId.EVENT_PARENT:
        rows = reader.records(payload, fmt.EVENT_PARENT, "parenting")
        return [f" Parenting {child} with {parent} (parent)\n" for child, parent in rows]
    rows = reader.records(payload, fmt.COLLISION, "collisions")
    return [
        f" Collision id {cid} between {a1}{' (hero) ' if h1 else ''}"
        f" with {a2}{' (hero) ' if h2 else ''}\n"
        for cid, a1, a2, h1, h2 in rows
    ]


_EVENTS = (PacketId.EVENT_ADD, PacketId.EVENT_DEL, PacketId.EVENT_PARENT, PacketId.COLLISION)


def file_info(data: bytes, show_all: bool) -> str:
    scan = _Scan(data)
    if not scan.is_recording:
        return NOT_A_RECORDER
    out = [scan.head()]
    frame_printed = False

    def frame_line() -> str:
        return f"Frame {scan.frame.id} at {g(scan.frame.elapsed)} seconds\n"

    try:
        for packet_id, payload in scan.packets():
            if packet_id == PacketId.FRAME_START:
                frame_printed = show_all
                if show_all:
                    out.append(frame_line())
            elif packet_id == PacketId.FRAME_END:
                out.append("\n")
            elif packet_id in _EVENTS:
                lines = _event_lines(packet_id, payload)
                if lines and not frame_printed:
                    out.append(frame_line())
                    frame_printed = True
                out += lines
            elif show_all and packet_id == PacketId.PLATFORM_TIME:
                if not frame_printed:
                    out.append(frame_line())
                    frame_printed = True
                out.append(f" Current platform time: {g(reader.float64(payload, 'time'))}\n")
            elif show_all and packet_id in _SECTIONS:
                title, layout, make_lines = _SECTIONS[packet_id]
                if isinstance(layout, struct.Struct):
                    rows = reader.records(payload, layout, title)
                else:
                    rows = layout(payload)
                if rows and not frame_printed:
                    out.append(frame_line())
                    frame_printed = True
                out.append(f" {title}: {len(rows)}\n")
                out += make_lines(rows)
    except RecordingError as exc:
        log.warning("recording read stopped: %s", exc)
    if scan.last_packet == PacketId.FRAME_END:
        out.append("\n")  # CARLA's loop handles the last packet header twice
    out.append(scan.tail())
    return "".join(out)


# ---------------------------------------------------------------- show_recorder_collisions


def _category(actor_type: int) -> str:
    return CATEGORIES[actor_type] if actor_type < len(CATEGORIES) else "?"


def collisions(data: bytes, category1: str, category2: str) -> str:
    scan = _Scan(data)
    if not scan.is_recording:
        return NOT_A_RECORDER
    out = [
        scan.head(),
        f"{'Time':>8} {'Types':>6} {'Id':>6} {'Actor 1':<35} {'Id':>6} {'Actor 2':<35}\n",
    ]
    actors: dict[int, tuple[int, str]] = {}
    last_added = 0
    previous: set[tuple[int, int]] = set()
    current: set[tuple[int, int]] = set()
    rows = 0

    def passes(category: str, kind: str, hero: int) -> bool:
        return category in ("a", kind) or (category == "h" and hero != 0)

    try:
        for packet_id, payload in scan.packets():
            if packet_id == PacketId.FRAME_START:
                previous, current = current, set()
            elif packet_id == PacketId.EVENT_ADD:
                for e in reader.event_adds(payload):
                    actors[e.id] = (e.type, e.blueprint)
                    last_added = e.id
            elif packet_id == PacketId.EVENT_DEL:
                for _ in reader.records(payload, fmt.EVENT_DEL, "destructions"):
                    actors.pop(last_added, None)  # CARLA's quirk: not the deleted id
            elif packet_id == PacketId.COLLISION:
                for _cid, a1, a2, h1, h2 in reader.records(payload, fmt.COLLISION, "collisions"):
                    type1, name1 = actors.get(a1, (0, ""))
                    type2, name2 = actors.get(a2, (0, ""))
                    kind1 = "o" if a1 == fmt.NOT_AN_ACTOR else _category(type1)
                    kind2 = "o" if a2 == fmt.NOT_AN_ACTOR else _category(type2)
                    if not (passes(category1, kind1, h1) and passes(category2, kind2, h2)):
                        continue
                    if (a1, a2) not in previous:  # only the start of a contact
                        out.append(
                            f"{scan.frame.elapsed:8.0f}   {kind1} {kind2}  "
                            f"{a1:6d} {name1:<35} {a2:6d} {name2:<35}\n"
                        )
                        rows += 1
                    current.add((a1, a2))
    except RecordingError as exc:
        log.warning("recording read stopped: %s", exc)
    # After a row the C++ stream stays in fixed notation with precision 0.
    out.append(scan.tail(f"{scan.frame.elapsed:.0f}" if rows else None))
    return "".join(out)


# ---------------------------------------------------------------- show_recorder_actors_blocked


@dataclass
class _Tracked:
    blueprint: str = ""
    last: tuple[float, float, float] = (0.0, 0.0, 0.0)
    since: float = 0.0
    duration: float = 0.0


def actors_blocked(data: bytes, min_time: float, min_distance: float) -> str:
    scan = _Scan(data)
    if not scan.is_recording:
        return NOT_A_RECORDER
    out = [scan.head(), f"{'Time':>8} {'Id':>6} {'Actor':<35} {'Duration':>10}\n"]
    actors: dict[int, _Tracked] = {}
    last_added = 0
    results: list[tuple[float, str]] = []

    def row(actor_id: int, tracked: _Tracked) -> tuple[float, str]:
        text = (
            f"{tracked.since:8.0f} {actor_id:6d} {tracked.blueprint:<35} {tracked.duration:10.0f}\n"
        )
        return tracked.duration, text

    try:
        for packet_id, payload in scan.packets():
            if packet_id == PacketId.EVENT_ADD:
                for e in reader.event_adds(payload):
                    actors[e.id] = _Tracked(e.blueprint)
                    last_added = e.id
            elif packet_id == PacketId.EVENT_DEL:
                for _ in reader.records(payload, fmt.EVENT_DEL, "destructions"):
                    actors.pop(last_added, None)  # CARLA's quirk: not the deleted id
            elif packet_id == PacketId.POSITION:
                frame = scan.frame
                for actor_id, x, y, z, *_ in reader.records(payload, fmt.POSITION, "positions"):
                    tracked = actors.get(actor_id)
                    if tracked is None:
                        tracked = actors[actor_id] = _Tracked()
                    lx, ly, lz = tracked.last
                    if math.sqrt((x - lx) ** 2 + (y - ly) ** 2 + (z - lz) ** 2) < min_distance:
                        if tracked.duration == 0:
                            tracked.since = frame.elapsed
                        tracked.duration += frame.duration  # -1 in the last frame, as CARLA
                    else:
                        if tracked.duration >= min_time:
                            results.append(row(actor_id, tracked))
                        tracked.duration = 0.0
                        tracked.last = (x, y, z)
    except RecordingError as exc:
        log.warning("recording read stopped: %s", exc)
    results += [row(i, t) for i, t in actors.items() if t.duration >= min_time]
    results.sort(key=lambda r: -r[0])  # stable: ties keep their order, as CARLA's multimap
    out += [text for _, text in results]
    out.append(scan.tail())
    return "".join(out)
