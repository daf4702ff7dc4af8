"""Every CARLA 0.9.16 wire shape the server reads or writes, in one place.

msgpack values of the RPCs (Response<T>, transforms, actors, settings, weather, controls, batch
commands) and the binary layouts of the streaming port (sensor header, episode state). Shapes
follow reference/carla_wire_protocol.md §1.2 and §2.4; binary layouts are packed little-endian.
msgpack-c on the client is strict: bools must be bools, byte arrays must be bin.

The simulation (`world.py`, `physics.py`) knows nothing of these shapes; sensor payloads are the
one exception, each sensor module owning the layout of its own data.
"""

from __future__ import annotations

import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from rllib_integration.embedded.blueprints import Attribute, Blueprint, BlueprintLibrary
from rllib_integration.embedded.physics import VehicleControl
from rllib_integration.embedded.protocol import limits
from rllib_integration.embedded.sensors import EPISODE_STATE_TYPE_ID
from rllib_integration.embedded.signals.runtime import NO_LIGHT
from rllib_integration.embedded.world import WEATHER_FIELDS, EpisodeSettings

if TYPE_CHECKING:
    from rllib_integration.embedded.map_source import ServerMap
    from rllib_integration.embedded.scene_objects import LevelBox, SceneObject
    from rllib_integration.embedded.signals.actors import SignalActors
    from rllib_integration.embedded.world import Actor, World

# ---------------------------------------------------------------- Response<T>, tokens


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


TOKEN_PROTOCOL_TCP = 1
TOKEN_ADDRESS_UNSET = 0  # the client substitutes the host it connected to


def token(stream_id: int, port: int) -> bytes:
    """24-byte streaming token: stream id, port, TCP, address left for the client to fill."""
    return struct.pack("<IHBB16s", stream_id, port, TOKEN_PROTOCOL_TCP, TOKEN_ADDRESS_UNSET, b"")


# ---------------------------------------------------------------- geometry


def vec3(v: tuple[float, float, float] | list | np.ndarray) -> list:
    return [float(v[0]), float(v[1]), float(v[2])]


def transform(t: tuple[float, ...] | list | np.ndarray) -> list:
    """(x, y, z, pitch, yaw, roll) -> [[x, y, z], [pitch, yaw, roll]]."""
    return [
        [float(t[0]), float(t[1]), float(t[2])],
        [float(t[3]), float(t[4]), float(t[5])],
    ]


def parse_vec3(v: object, field: str = "vector") -> tuple[float, float, float]:
    """Vector3D / Location [x, y, z], each a physical magnitude (limits.py)."""
    x, y, z = limits.array(v, field, 3)
    return cast("tuple[float, float, float]", limits.reals((x, y, z), field, _XYZ))


def parse_transform(t: object) -> tuple[float, float, float, float, float, float]:
    """Transform [[x, y, z], [pitch, yaw, roll]] -> (x, y, z, pitch, yaw, roll)."""
    location, rotation = limits.array(t, "transform", 2)
    return (
        *parse_vec3(location, "transform.location"),
        *cast(
            "tuple[float, float, float]",
            limits.reals(
                limits.array(rotation, "transform.rotation", 3), "transform.rotation", _ROTATION
            ),
        ),
    )


_XYZ = ("x", "y", "z")
_ROTATION = ("pitch", "yaw", "roll")


def bounding_box(
    center: tuple, extent: tuple, actor_id: int, rotation: tuple = (0.0, 0.0, 0.0)
) -> list:
    """BoundingBox: [location, extent, rotation (pitch, yaw, roll), actor id]."""
    return [vec3(center), vec3(extent), vec3(rotation), int(actor_id)]


def environment_object(obj: SceneObject) -> list:
    """rpc::EnvironmentObject: [transform, bounding box (world), id, name, CityObjectLabel]."""
    return [
        transform((*obj.center, 0.0, 0.0, 0.0)),
        bounding_box(obj.center, obj.extent, 0),
        int(obj.id),
        obj.name,
        int(obj.label),
    ]


def level_box(box: LevelBox) -> list:
    return bounding_box(box.center, box.extent, box.actor_id, box.rotation)


def box(center: tuple, extent: tuple, rotation: tuple, actor_id: int) -> list:
    """rpc::BoundingBox [location, extent, rotation (pitch, yaw, roll), actor id]."""
    return [vec3(center), vec3(extent), vec3(rotation), int(actor_id)]


# ---------------------------------------------------------------- blueprints and actors


def actor_id(value: object) -> int:
    """ActorId: u32."""
    return limits.integer(value, "actor id", 0, limits.U32_MAX)


def actor_definitions(library: BlueprintLibrary) -> list:
    """get_actor_definitions: [[uid, id, tags, [ActorAttribute...]]...]."""
    return [
        [uid, bp.id, ",".join(bp.tags), [_attribute(a) for a in bp.attributes]]
        for uid, bp in enumerate(library.blueprints, start=1)
    ]


def _attribute(a: Attribute) -> list:
    """ActorAttribute: [id, type, value, recommended values, modifiable, restricted]."""
    return [
        a.id,
        int(a.type),
        a.value,
        list(a.recommended),
        a.modifiable,
        a.restrict_to_recommended,
    ]


def parse_actor_description(description: object) -> tuple[str, dict[str, str]]:
    """ActorDescription [uid, id, [[attr, type, value]...]] -> (blueprint id, attributes)."""
    if not isinstance(description, list) or len(description) < 3:
        raise ValueError("ActorDescription must be [uid, id, attributes]")
    _, blueprint_id, attributes = description[:3]
    blueprint_id = limits.text(blueprint_id, "blueprint id")
    values = {}
    for attribute in limits.array(attributes, "attributes", max_items=MAX_ATTRIBUTES):
        key, _, value = limits.array(attribute, "attribute", 3)
        values[limits.text(key, "attribute id")] = limits.text(value, f"attribute {key!r}")
    return blueprint_id, values


MAX_ATTRIBUTES = 256  # a blueprint has at most a few dozen


def actor_bounding_box(actor: Actor) -> list:
    if actor.box is not None:  # a traffic sign's: its trigger volume
        return box(*actor.box, actor.id)
    return bounding_box(actor.blueprint.box_center, actor.blueprint.extent, actor.id)


def actor_wire(actor: Actor, stream_port: int) -> list:
    """rpc::Actor: [id, parent, description, bounding box, semantic tags, stream token]."""
    types = actor.blueprint.attribute_types()
    description = [
        0,
        actor.blueprint.id,
        [[k, int(types[k]), v] for k, v in actor.attributes.items()],
    ]
    tags = bytes([actor.semantic_tag]) if actor.semantic_tag else b""
    stream = token(actor.stream_id, stream_port) if actor.stream_id else b""
    return [actor.id, actor.parent_id, description, actor_bounding_box(actor), tags, stream]


def world_edge_wire() -> list:
    """rpc::Actor for the static world (what a vehicle hits at the edge of the map)."""
    description = [0, "static.wall", [["role_name", 4, "world_edge"]]]
    return [0, 0, description, bounding_box((0, 0, 0), (0, 0, 0), 0), b"", b""]


# ---------------------------------------------------------------- episode settings, map, weather

_SETTINGS = tuple(f.name for f in fields(EpisodeSettings))  # CARLA's field (and wire) order
_FIXED_DELTA = _SETTINGS.index("fixed_delta_seconds")
# Every other field is a bool, int or float, as its default says.
_PLAIN_SETTINGS = tuple(
    (i, name, type(getattr(EpisodeSettings, name)))
    for i, name in enumerate(_SETTINGS)
    if i != _FIXED_DELTA
)


def settings_to_wire(settings: EpisodeSettings) -> list:
    """rpc::EpisodeSettings; fixed_delta_seconds is an optional: [False] or [True, delta]."""
    values = [getattr(settings, name) for name in _SETTINGS]
    delta = settings.fixed_delta_seconds
    values[_FIXED_DELTA] = [False] if delta is None else [True, float(delta)]
    return values


def settings_from_wire(v: object) -> EpisodeSettings:
    if not isinstance(v, list) or len(v) < len(_SETTINGS):
        raise ValueError(f"EpisodeSettings must be an array of {len(_SETTINGS)} fields")
    values: dict[str, Any] = {  # field name -> its checked bool, int or float
        name: _SETTING_CHECKS[kind](v[i], name) for i, name, kind in _PLAIN_SETTINGS
    }
    values["fixed_delta_seconds"] = _fixed_delta(v[_FIXED_DELTA])
    return EpisodeSettings(**values)


_SETTING_CHECKS: dict[type, Callable[[object, str], object]] = {
    bool: limits.flag,
    int: lambda value, name: limits.integer(value, name, limits.I32_MIN, limits.I32_MAX),
    float: limits.wire_float,  # stored and echoed only
}


def _fixed_delta(optional: object) -> float | None:
    """optional<double> [False] | [True, delta]; 0 (as the client sends for "none") = variable."""
    name = "fixed_delta_seconds"
    optional = limits.array(optional, name, max_items=2)
    if not optional or not limits.flag(optional[0], name):
        return None
    if len(optional) != 2:
        raise ValueError(f"{name} must be [False] or [True, seconds]")
    delta = limits.real(optional[1], name, limits.FLOAT32_MAX)
    if delta == 0.0:
        return None
    if not 0.0 < delta <= limits.MAX_FIXED_DELTA_S:
        raise limits.WireValueError(
            f"{name} = {delta:g} is out of range (0, {limits.MAX_FIXED_DELTA_S:g}] s "
            "(unset or 0: a variable time step)"
        )
    return delta


def map_info(world_map: ServerMap) -> list:
    """get_map_info: [map path, [spawn point transforms]]."""
    return [world_map.path, [transform(p) for p in world_map.spawn_points]]


def weather_to_wire(weather: dict[str, float]) -> list:
    """rpc::WeatherParameters: the fields in WEATHER_FIELDS order (carla.WeatherParameters')."""
    return [weather[k] for k in WEATHER_FIELDS]


def weather_from_wire(v: object) -> dict[str, float]:
    if not isinstance(v, list) or len(v) < len(WEATHER_FIELDS):
        raise ValueError(f"WeatherParameters needs {len(WEATHER_FIELDS)} fields")
    values = limits.reals(v[: len(WEATHER_FIELDS)], "", WEATHER_FIELDS)
    return dict(zip(WEATHER_FIELDS, values, strict=True))


# ---------------------------------------------------------------- controls

_CONTROL = tuple(f.name for f in fields(VehicleControl))  # carla.VehicleControl's order
# Pedals and steering are clamped to carla.VehicleControl's documented ranges.
_CONTROL_RANGES = {"throttle": (0.0, 1.0), "steer": (-1.0, 1.0), "brake": (0.0, 1.0)}
_control_values = attrgetter(*_CONTROL)  # VehicleControl -> its fields, in wire order


_CONTROL_CHECKS: dict[type, Callable[[object, str], object]] = {
    float: limits.real,
    bool: limits.flag,
    int: lambda value, name: limits.integer(value, name, limits.I32_MIN, limits.I32_MAX),
}
_CONTROL_KINDS = tuple(type(getattr(VehicleControl, name)) for name in _CONTROL)


def _control_decoder() -> Callable[[list], VehicleControl]:
    """rpc::VehicleControl -> VehicleControl: each field checked (limits.py) and converted to
    its default's type, pedals and steering clamped.

    Generated from the dataclass fields (as dataclasses generate __init__): a loop over the
    fields costs twice as much per call, and this runs for every vehicle on every tick. The
    generated test only says whether every field is fine; `_explain_control` names a bad one.
    """
    checks, values = [], []
    for i, (name, kind) in enumerate(zip(_CONTROL, _CONTROL_KINDS, strict=True)):
        field = f"f{i}"
        # What the real client sends passes here; the slow path also takes ints and 0/1.
        if kind is float:
            checks.append(f"type({field}) is float and -BOUND <= {field} <= BOUND")
            value = f"float({field})"
            if name in _CONTROL_RANGES:
                low, high = _CONTROL_RANGES[name]
                value = f"min(max({value}, {low!r}), {high!r})"
        elif kind is bool:
            checks.append(f"({field} is True or {field} is False)")
            value = field
        else:
            checks.append(
                f"type({field}) is int and {limits.I32_MIN} <= {field} <= {limits.I32_MAX}"
            )
            value = field
        values.append(value)
    names = ", ".join(f"f{i}" for i in range(len(_CONTROL)))
    source = (
        f"def decode(v):\n"
        f"    {names} = v[:{len(_CONTROL)}]\n"
        f"    if {' and '.join(checks)}:\n"
        f"        return VehicleControl({', '.join(values)})\n"
        f"    return explain(v)\n"
    )
    namespace: dict = {
        "VehicleControl": VehicleControl,
        "BOUND": limits.MAX_MAGNITUDE,
        "explain": _explain_control,
    }
    exec(source, namespace)
    return namespace["decode"]


def _explain_control(v: list) -> VehicleControl:
    """The slow path: raise WireValueError naming the first bad field (or decode, e.g. gear 3.0)."""
    values: dict[str, Any] = {  # field name -> its checked float, bool or int
        name: _CONTROL_CHECKS[kind](value, name)
        for name, kind, value in zip(_CONTROL, _CONTROL_KINDS, v, strict=False)
    }
    for name, (low, high) in _CONTROL_RANGES.items():
        values[name] = min(max(values[name], low), high)
    return VehicleControl(**values)


_decode_control = _control_decoder()


def vehicle_control_from_wire(v: object) -> VehicleControl:
    """rpc::VehicleControl: the fields of carla.VehicleControl, in order."""
    if not isinstance(v, list) or len(v) < len(_CONTROL):
        raise ValueError(f"VehicleControl must be an array of {len(_CONTROL)} fields")
    return _decode_control(v)


_ACKERMANN = ("steer", "steer_speed", "speed", "acceleration", "jerk")


def parse_ackermann_control(v: object) -> tuple[float, float]:
    """rpc::VehicleAckermannControl [steer (rad), steer_speed, speed, acceleration, jerk]
    -> (steer, speed)."""
    steer, _, speed, _, _ = limits.reals(limits.array(v, "control", 5), "", _ACKERMANN)
    return steer, speed


def parse_walker_control(v: object) -> tuple[tuple[float, float, float], float]:
    """rpc::WalkerControl [direction, speed, jump] -> (direction, speed)."""
    direction, speed, jump = limits.array(v, "WalkerControl", 3)
    limits.flag(jump, "jump")
    return parse_vec3(direction, "direction"), limits.real(speed, "speed")


def parse_light_state(state: object) -> int:
    """rpc::VehicleLightState is an array holding one u32 bitmask (a bare int is accepted)."""
    if isinstance(state, list):
        if len(state) != 1:
            raise ValueError("VehicleLightState must be [bitmask]")
        state = state[0]
    return limits.integer(state, "light state", 0, limits.U32_MAX)


# VehiclePhysicsControl (0.9.16 field order): the indices this server reads.
_PHYSICS_MASS, _PHYSICS_WHEELS, _WHEEL_MAX_STEER = 11, 15, 2


def default_physics_control(bp: Blueprint) -> list:
    """VehiclePhysicsControl with plausible passenger-car values for a vehicle blueprint."""
    wheel_positions = [
        (bp.wheelbase / 2, -bp.extent[1] * 0.8),
        (bp.wheelbase / 2, bp.extent[1] * 0.8),
        (-bp.wheelbase / 2, -bp.extent[1] * 0.8),
        (-bp.wheelbase / 2, bp.extent[1] * 0.8),
    ]
    wheels = [
        [3.5, 0.25, bp.max_steer_deg if i < 2 else 0.0, 37.0, 1500.0, 3000.0 if i >= 2 else 0.0,
         3.0, 20.0, 3000.0, [x * 100, y * 100, 30.0]]
        for i, (x, y) in enumerate(wheel_positions)
    ]  # fmt: skip
    return [
        [[0.0, 400.0], [1890.0, 500.0], [5730.0, 400.0]],  # torque_curve
        5800.0,  # max_rpm
        1.0,  # moi
        0.15,  # damping_rate_full_throttle
        2.0,  # damping_rate_zero_throttle_clutch_engaged
        0.35,  # damping_rate_zero_throttle_clutch_disengaged
        True,  # use_gear_autobox
        0.5,  # gear_switch_time
        10.0,  # clutch_strength
        4.0,  # final_ratio
        [[4.0, 0.2, 0.65], [2.0, 0.5, 0.65], [1.5, 0.5, 0.65], [1.1, 0.5, 0.65]],  # forward_gears
        float(bp.mass or 1500.0),  # mass
        0.3,  # drag_coefficient
        [0.0, 0.0, 0.0],  # center_of_mass
        [[0.0, 1.0], [20.0, 0.9], [60.0, 0.8], [120.0, 0.7]],  # steering_curve
        wheels,
        False,  # use_sweep_wheel_collision
    ]


_ECHOED = limits.wire_float  # fields this server stores and echoes but does not simulate
_WIRE_VEC2 = (("x", _ECHOED), ("y", _ECHOED))
_WIRE_VEC3 = (("x", _ECHOED), ("y", _ECHOED), ("z", _ECHOED))
_GEAR = (("ratio", _ECHOED), ("down_ratio", _ECHOED), ("up_ratio", _ECHOED))
_WHEEL = (
    *((name, _ECHOED) for name in ("tire_friction", "damping_rate")),
    ("max_steer_angle", limits.real),
    *(
        (name, _ECHOED)
        for name in (
            "radius",
            "max_brake_torque",
            "max_handbrake_torque",
            "lat_stiff_max_load",
            "lat_stiff_value",
            "long_stiff_value",
        )
    ),  # fmt: skip
    ("position", _WIRE_VEC3),
)
# carla.VehiclePhysicsControl's fields in 0.9.16 order (a test pins them to the client's).
PHYSICS_CONTROL_SHAPE = (
    ("torque_curve", limits.Many(_WIRE_VEC2)),
    *((name, _ECHOED) for name in ("max_rpm", "moi", "damping_rate_full_throttle",
                                   "damping_rate_zero_throttle_clutch_engaged",
                                   "damping_rate_zero_throttle_clutch_disengaged")),
    ("use_gear_autobox", limits.flag),
    *((name, _ECHOED) for name in ("gear_switch_time", "clutch_strength", "final_ratio")),
    ("forward_gears", limits.Many(_GEAR)),
    ("mass", limits.real),
    ("drag_coefficient", _ECHOED),
    ("center_of_mass", _WIRE_VEC3),
    ("steering_curve", limits.Many(_WIRE_VEC2)),
    ("wheels", limits.Many(_WHEEL)),
    ("use_sweep_wheel_collision", limits.flag),
)  # fmt: skip


def parse_physics_control(control: object) -> tuple[list, float, float | None]:
    """VehiclePhysicsControl -> (the control checked and normalised, mass, largest wheel max
    steer angle or None without wheels)."""
    checked = limits.conform(control, PHYSICS_CONTROL_SHAPE, "physics_control")
    wheels = checked[_PHYSICS_WHEELS]
    steer = max(w[_WHEEL_MAX_STEER] for w in wheels) if wheels else None
    return checked, checked[_PHYSICS_MASS], steer


# ---------------------------------------------------------------- batch commands

# Command variant indices of carla::rpc::Command (wire protocol doc §1.2).
(
    CMD_SPAWN,
    CMD_DESTROY,
    CMD_VEHICLE_CONTROL,
    CMD_ACKERMANN,
    CMD_WALKER_CONTROL,
    CMD_PHYSICS_CONTROL,
    CMD_TRANSFORM,
    CMD_WALKER_STATE,
    CMD_TARGET_VELOCITY,
    CMD_TARGET_ANGULAR_VELOCITY,
    CMD_IMPULSE,
    CMD_FORCE,
    CMD_ANGULAR_IMPULSE,
    CMD_TORQUE,
    CMD_SIMULATE_PHYSICS,
    CMD_ENABLE_GRAVITY,
    CMD_AUTOPILOT,
    CMD_DEBUG_TELEMETRY,
    CMD_LIGHT_STATE,
    CMD_LOCATION,
    CMD_CONSOLE,
    CMD_TRAFFIC_LIGHT_STATE,
) = range(22)


def parse_command(command: object) -> tuple[int, list]:
    """Command [[index, body]] -> (index, body)."""
    index, body = limits.array(limits.array(command, "command", 1)[0], "command", 2)
    return limits.integer(index, "command index", 0, 255), limits.array(
        body, "command body", None, 8
    )


def parse_spawn_command(
    body: list,
) -> tuple[str, dict[str, str], tuple[float, ...], int, list]:
    """SpawnActor [description, transform, parent (optional id), ..., do_after commands]
    -> (blueprint id, attributes, pose, parent id or 0, do_after)."""
    description, pose, parent, _, _, do_after = body[:6]
    parent = limits.array(parent, "parent", max_items=2)
    parent_id = actor_id(parent[1]) if parent and limits.flag(parent[0], "parent") else 0
    blueprint_id, attributes = parse_actor_description(description)
    do_after = limits.array(do_after or [], "do_after")
    return blueprint_id, attributes, parse_transform(pose), parent_id, do_after


# ---------------------------------------------------------------- streaming port

SENSOR_HEADER = struct.Struct("<QQd3f3f")  # type, frame, timestamp, location, rotation: 48 B
EPISODE_HEADER = struct.Struct("<Qdf3iI")  # episode, platform time, delta, map origin, state: 36 B

# ActorDynamicState: id, actor state (1 = active), transform (x, y, z, pitch, yaw, roll), velocity,
# angular velocity, acceleration (65 B), then a 54-byte union whose variant depends on the actor.
ACTOR_RECORD_SIZE = 119
_DYNAMIC_STATE = "<IB6f3f3f3f"
# Vehicles: the VehicleControl fields, speed limit (km/h), traffic light state, has a traffic
# light, its id, failure state; zero padded.
VEHICLE_RECORD = struct.Struct(_DYNAMIC_STATE + "fffBBBi" + "fBBIB" + "24x")
# Walkers: their WalkerControl (direction, speed, jump), what `walker.get_control()` reads.
WALKER_RECORD = struct.Struct(_DYNAMIC_STATE + "3ffB" + "37x")
OTHER_RECORD = struct.Struct(_DYNAMIC_STATE + "54x")  # the union left zero
# Traffic lights and signs stand still (zero velocities); the union is traffic_light_data (sign
# id, green, yellow, red and elapsed time, pole index, frozen, state) or, for signs,
# traffic_sign_data (the sign id alone).
TRAFFIC_RECORD = np.dtype(
    {
        "names": ["id", "actor_state", "transform", "sign_id", "green", "yellow", "red"]
        + ["elapsed", "pole_index", "frozen", "state"],
        "formats": ["<u4", "u1", ("<f4", 6), "S32", "<f4", "<f4", "<f4", "<f4", "<u4", "u1", "u1"],
        "offsets": [0, 4, 5, 65, 97, 101, 105, 109, 113, 117, 118],
        "itemsize": ACTOR_RECORD_SIZE,
    }
)
SIGN_ID_BYTES = 31  # a C string in char[32]: a longer id would run into green_time
assert SENSOR_HEADER.size == 48 and EPISODE_HEADER.size == 36
assert VEHICLE_RECORD.size == WALKER_RECORD.size == OTHER_RECORD.size == ACTOR_RECORD_SIZE
ACTIVE = 1
SIMULATION_STATE_MAP_CHANGE = 1  # EpisodeState.simulation_state: clients fetch the map again


def sensor_header(type_id: int, frame: int, timestamp: float, pose: tuple = (0.0,) * 6) -> bytes:
    return SENSOR_HEADER.pack(type_id, frame, timestamp, *pose)


def framed(*parts: bytes) -> bytes:
    """One stream message: u32 total size, then the payload."""
    size = sum(len(p) for p in parts)
    return struct.pack("<I", size) + b"".join(parts)


def state_message(world: World) -> bytes:
    """The episode-state message (type 17): header, episode header, one record per actor."""
    header = sensor_header(EPISODE_STATE_TYPE_ID, world.frame, world.elapsed)
    flags = SIMULATION_STATE_MAP_CHANGE if world.map_changed else 0
    episode = EPISODE_HEADER.pack(world.episode_id, time.time(), world.delta, 0, 0, 0, flags)
    vehicle, walker, other = VEHICLE_RECORD.pack, WALKER_RECORD.pack, OTHER_RECORD.pack
    signals = world.signals
    records = [signal_records(signals)]  # every traffic light and sign, in one block
    lights = signals.vehicle_reports()  # vehicles at a light or a sign; the rest: NO_LIGHT
    for actor in world.actors.values():
        b = actor.body
        if actor.vehicle is not None:
            records.append(
                vehicle(
                    actor.id, ACTIVE, b.x, b.y, b.z, b.pitch, b.yaw, b.roll,
                    *b.velocity, *b.angular_velocity, *b.acceleration,
                    *_control_values(actor.vehicle.control),
                    actor.speed_limit, *lights.get(actor.id, NO_LIGHT), 0,
                )
            )  # fmt: skip
        elif actor.walker is not None:
            w = actor.walker
            records.append(
                walker(
                    actor.id, ACTIVE, b.x, b.y, b.z, b.pitch, b.yaw, b.roll,
                    *b.velocity, *b.angular_velocity, *b.acceleration,
                    *w.direction, w.walk_speed, 0,
                )
            )  # fmt: skip
        elif actor.kind == "traffic":
            continue
        else:
            records.append(
                other(
                    actor.id, ACTIVE, b.x, b.y, b.z, b.pitch, b.yaw, b.roll,
                    *b.velocity, *b.angular_velocity, *b.acceleration,
                )
            )  # fmt: skip
    return framed(header, episode, *records)


_signal_tables: weakref.WeakKeyDictionary[SignalActors, np.ndarray] = weakref.WeakKeyDictionary()


def signal_records(signals: SignalActors) -> bytes:
    """The records of an episode's traffic lights and signs: laid out once, then each tick the
    lights' state, times, elapsed time and freeze written in (pole_index stays 0, as CARLA's)."""
    table = _signal_tables.get(signals)
    if table is None:
        table = _signal_tables[signals] = np.zeros(len(signals.actor_ids), TRAFFIC_RECORD)
        table["id"], table["actor_state"] = signals.actor_ids, ACTIVE
        table["transform"] = np.array(signals.poses, np.float32).reshape(-1, 6)
        table["sign_id"] = [i.encode("utf-8")[:SIGN_ID_BYTES] for i in signals.opendrive_ids]
    rows = signals.light_rows
    if len(rows):
        times, elapsed, frozen, states = signals.light_columns()
        table["green"][rows], table["yellow"][rows], table["red"][rows] = times.T
        table["elapsed"][rows], table["frozen"][rows], table["state"][rows] = (
            elapsed,
            frozen,
            states,
        )
    return table.tobytes()
