"""The blueprint library: CARLA 0.9.16 actor definitions (ids, tags, attributes, sizes).

Attribute names, types and defaults follow CARLA's so that user code written for CarlaUE4
(`bp.set_attribute('image_size_x', '84')`, `bp.get_attribute('color').recommended_values`)
works unchanged. Attribute values travel as strings; numbers are parsed where used.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum

from rllib_integration.embedded.documented_blueprints import PROP_NAMES
from rllib_integration.embedded.sensors import sensor_attributes
from rllib_integration.embedded.sensors.attributes import Declared


class AttrType(IntEnum):
    """carla.ActorAttributeType on the wire."""

    Bool = 1
    Int = 2
    Float = 3
    String = 4
    RGBColor = 5


FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38


def readable_value(attribute_type: AttrType, key: str, value: str) -> str:
    """`value` if the carla client can read it back as `attribute_type`, else ValueError.

    Every actor description echoes its attribute values, and the client parses each by its
    type (std::stoi, std::stof, "r,g,b"): one it cannot read fails every client that lists the
    actor."""
    try:
        if attribute_type == AttrType.Bool:
            ok = value.lower() in ("true", "false")
        elif attribute_type == AttrType.Int:
            ok = -(2**31) <= int(value) < 2**31
        elif attribute_type == AttrType.Float:
            x = abs(float(value))
            ok = x == 0.0 or FLOAT32_TINY <= x <= FLOAT32_MAX  # finite, normal float32
        elif attribute_type == AttrType.RGBColor:
            parts = value.split(",")
            ok = len(parts) == 3 and all(0 <= int(c) <= 255 for c in parts)
        else:
            ok = True
    except ValueError:
        ok = False
    if not ok:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(f"attribute {key!r}={shown!r} is not a valid {attribute_type.name}")
    return value


@dataclass(frozen=True)
class Attribute:
    id: str
    type: AttrType
    value: str
    recommended: tuple[str, ...] = ()
    modifiable: bool = True
    restrict_to_recommended: bool = False

    def __post_init__(self) -> None:
        # As CarlaUE4: a modifiable attribute recommends values, its default first (the client
        # and CARLA's examples read recommended_values[0]); a fixed one recommends none.
        recommended = (self.value, *(r for r in self.recommended if r != self.value))
        object.__setattr__(self, "recommended", recommended if self.modifiable else ())


@dataclass(frozen=True)
class Blueprint:
    id: str
    tags: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    # Physical shape and semantics (not attributes in CARLA, but fixed per blueprint).
    extent: tuple[float, float, float] = (0.0, 0.0, 0.0)  # half sizes, metres
    box_center: tuple[float, float, float] = (0.0, 0.0, 0.0)  # relative to the actor origin
    semantic_tag: int = 0  # CityObjectLabel
    wheelbase: float = 0.0  # vehicles: axle distance, metres
    max_steer_deg: float = 70.0  # vehicles: front wheel max steer
    top_speed: float = 0.0  # vehicles: m/s
    max_accel: float = 0.0  # vehicles: m/s^2 at full throttle from rest
    mass: float = 0.0

    def defaults(self) -> dict[str, str]:
        return {a.id: a.value for a in self.attributes}

    def attribute_types(self) -> dict[str, AttrType]:
        return {a.id: a.type for a in self.attributes}


# CityObjectLabel values used for actors.
TAG_PEDESTRIANS, TAG_RIDER, TAG_CAR, TAG_TRUCK, TAG_BUS = 12, 13, 14, 15, 16
TAG_MOTORCYCLE, TAG_BICYCLE = 18, 19
TAG_STATIC, TAG_DYNAMIC = 20, 21
TAG_VEGETATION = 9


def _b(id_: str, value: bool, modifiable: bool = True) -> Attribute:
    return Attribute(id_, AttrType.Bool, "true" if value else "false", (), modifiable)


def _i(
    id_: str, value: int, recommended: tuple[str, ...] = (), modifiable: bool = True
) -> Attribute:
    return Attribute(id_, AttrType.Int, str(value), recommended, modifiable)


def _f(
    id_: str, value: float, recommended: tuple[str, ...] = (), modifiable: bool = True
) -> Attribute:
    return Attribute(id_, AttrType.Float, repr(float(value)), recommended, modifiable)


def _s(
    id_: str, value: str, recommended: tuple[str, ...] = (), modifiable: bool = True
) -> Attribute:
    return Attribute(id_, AttrType.String, value, recommended, modifiable)


def _tags(id_: str, *extra: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*id_.split("."), *extra)))


# ---------------------------------------------------------------- sensors
# A sensor blueprint's attributes: role_name, those its server-side sensor reads (declared once,
# on the sensor's settings: sensors/attributes.py), then CARLA's that it accepts and ignores.

# CarlaUE4 recommends mounting positions as role names for cameras, lidars and event sensors.
_MOUNTS = ("front", "back", "left", "right", "front_left", "front_right", "back_left", "back_right")
_ROLE_BY_MOUNT = (_s("role_name", _MOUNTS[0], _MOUNTS),)
_ROLE_DEFAULT = (_s("role_name", "default"),)  # GNSS, IMU, radar, V2X

_LENS = (
    _f("lens_circle_falloff", 5.0),
    _f("lens_circle_multiplier", 0.0),
    _f("lens_k", -1.0),
    _f("lens_kcube", 0.0),
    _f("lens_x_size", 0.08),
    _f("lens_y_size", 0.08),
)

_POSTPROCESS = (
    _b("enable_postprocess_effects", True),
    _f("gamma", 2.2),
    _f("motion_blur_intensity", 0.45),
    _f("motion_blur_max_distortion", 0.35),
    _f("motion_blur_min_object_screen_size", 0.1),
    _f("lens_flare_intensity", 0.1),
    _f("bloom_intensity", 0.675),
    _f("shutter_speed", 200.0),
    _f("iso", 100.0),
    _f("fstop", 1.4),
    _f("min_fstop", 1.2),
    _i("blade_count", 5),
    Attribute("exposure_mode", AttrType.String, "histogram", ("manual",), True, True),
    _f("exposure_compensation", 0.0),
    _f("exposure_min_bright", 10.0),
    _f("exposure_max_bright", 12.0),
    _f("exposure_speed_up", 3.0),
    _f("exposure_speed_down", 1.0),
    _f("calibration_constant", 16.0),
    _f("focal_distance", 1000.0),
    _f("blur_amount", 1.0),
    _f("blur_radius", 0.0),
    _f("slope", 0.88),
    _f("toe", 0.55),
    _f("shoulder", 0.26),
    _f("black_clip", 0.0),
    _f("white_clip", 0.04),
    _f("temp", 6500.0),
    _f("tint", 0.0),
    _f("chromatic_aberration_intensity", 0.0),
    _f("chromatic_aberration_offset", 0.0),
)

# Every sensor blueprint, in library order, with the attributes its sensor ignores.
_SENSOR_IGNORED_ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "sensor.camera.rgb": _LENS + _POSTPROCESS,
    "sensor.camera.depth": _LENS,
    "sensor.camera.semantic_segmentation": _LENS,
    "sensor.camera.instance_segmentation": _LENS,
    "sensor.camera.dvs": _LENS
    + _POSTPROCESS
    + (_f("sigma_positive_threshold", 0.0), _f("sigma_negative_threshold", 0.0)),
    "sensor.lidar.ray_cast": (),
    "sensor.lidar.ray_cast_semantic": (),
    "sensor.other.radar": (),
    "sensor.other.gnss": (),
    "sensor.other.imu": (),
    "sensor.other.obstacle": (_b("debug_linetrace", False),),
    "sensor.other.collision": (),
    "sensor.other.lane_invasion": (),  # computed by the client: no server-side sensor
    "sensor.camera.cosmos_visualization": _LENS,
    "sensor.camera.normals": _LENS,
    "sensor.camera.optical_flow": _LENS,
    # No server-side sensor: RSS runs in the client (an RSS build of it); no V2X messages here.
    "sensor.other.rss": (),
    "sensor.other.v2x": (),
    "sensor.other.v2x_custom": (),
}
SENSOR_BLUEPRINT_IDS = tuple(_SENSOR_IGNORED_ATTRIBUTES)


def _declared(declared: Declared) -> Attribute:
    name, default = declared.name, declared.default
    if isinstance(default, bool):
        return _b(name, default)
    return _i(name, default) if isinstance(default, int) else _f(name, default)


def _sensor_role(blueprint_id: str) -> tuple[Attribute, ...]:
    kind = blueprint_id.split(".")[2]
    return (
        _ROLE_DEFAULT if kind in ("gnss", "imu", "radar", "v2x", "v2x_custom") else _ROLE_BY_MOUNT
    )


def sensor_blueprints() -> tuple[Blueprint, ...]:
    return tuple(
        Blueprint(
            id_,
            _tags(id_),
            _sensor_role(id_) + tuple(_declared(d) for d in sensor_attributes(id_)) + ignored,
        )
        for id_, ignored in _SENSOR_IGNORED_ATTRIBUTES.items()
    )


# ---------------------------------------------------------------- vehicles

_COLORS = (
    "255,255,255",
    "0,0,0",
    "17,37,103",
    "140,0,0",
    "200,200,200",
    "60,60,60",
    "0,100,30",
    "240,200,0",
)


@dataclass(frozen=True)
class _VehicleSpec:
    id: str
    extent: tuple[float, float, float]
    base_type: str = "car"
    wheels: int = 4
    generation: int = 2
    special_type: str = ""
    has_lights: bool = True
    top_speed_kmh: float = 180.0
    colored: bool = True  # has a `color` attribute (CARLA lists none for the Cybertruck)


_VEHICLES: tuple[_VehicleSpec, ...] = (
    _VehicleSpec("vehicle.audi.a2", (1.852, 0.898, 0.771), generation=1, has_lights=False),
    _VehicleSpec("vehicle.audi.etron", (2.428, 1.016, 0.825), special_type="electric"),
    _VehicleSpec("vehicle.audi.tt", (2.090, 0.998, 0.692), generation=1, has_lights=False),
    _VehicleSpec("vehicle.bmw.grandtourer", (2.306, 1.121, 0.835), generation=1, has_lights=False),
    _VehicleSpec("vehicle.chevrolet.impala", (2.679, 1.017, 0.705), generation=1, has_lights=False),
    _VehicleSpec("vehicle.citroen.c3", (1.993, 0.943, 0.808), generation=1, has_lights=False),
    _VehicleSpec("vehicle.dodge.charger_2020", (2.505, 1.046, 0.770)),
    _VehicleSpec(
        "vehicle.dodge.charger_police",
        (2.487, 1.019, 0.777),
        generation=1,
        special_type="emergency",
    ),
    _VehicleSpec(
        "vehicle.dodge.charger_police_2020", (2.619, 1.069, 0.803), special_type="emergency"
    ),
    _VehicleSpec("vehicle.ford.crown", (2.684, 0.950, 0.795)),
    _VehicleSpec("vehicle.ford.mustang", (2.359, 0.947, 0.650), generation=1),
    _VehicleSpec(
        "vehicle.jeep.wrangler_rubicon", (1.934, 0.952, 0.935), generation=1, has_lights=False
    ),
    _VehicleSpec("vehicle.lincoln.mkz_2017", (2.451, 1.064, 0.755), generation=1),
    _VehicleSpec("vehicle.lincoln.mkz_2020", (2.445, 1.046, 0.757)),
    _VehicleSpec("vehicle.mercedes.coupe", (2.511, 1.077, 0.816), generation=1),
    _VehicleSpec("vehicle.mercedes.coupe_2020", (2.337, 1.001, 0.727)),
    _VehicleSpec(
        "vehicle.micro.microlino", (1.110, 0.743, 0.695), generation=1, top_speed_kmh=90.0
    ),
    _VehicleSpec("vehicle.mini.cooper_s", (1.907, 0.972, 0.864), generation=1, has_lights=False),
    _VehicleSpec("vehicle.mini.cooper_s_2021", (2.264, 1.074, 0.885)),
    _VehicleSpec("vehicle.nissan.micra", (1.818, 0.900, 0.764), generation=1, has_lights=False),
    _VehicleSpec("vehicle.nissan.patrol", (2.303, 0.961, 0.931), generation=1),
    _VehicleSpec("vehicle.nissan.patrol_2021", (2.782, 1.070, 1.025)),
    _VehicleSpec("vehicle.seat.leon", (2.096, 0.910, 0.741), generation=1, has_lights=False),
    _VehicleSpec(
        "vehicle.tesla.model3", (2.396, 1.082, 0.744), generation=1, special_type="electric"
    ),
    _VehicleSpec(
        "vehicle.toyota.prius", (2.257, 1.003, 0.763), generation=1, special_type="electric"
    ),
    _VehicleSpec(
        "vehicle.tesla.cybertruck",
        (3.138, 1.194, 1.049),
        "truck",
        generation=1,
        special_type="electric",
        colored=False,
    ),
    _VehicleSpec(
        "vehicle.carlamotors.carlacola",
        (2.602, 1.279, 1.285),
        "truck",
        generation=1,
        top_speed_kmh=110.0,
    ),
    _VehicleSpec(
        "vehicle.carlamotors.european_hgv", (5.264, 1.485, 1.950), "truck", top_speed_kmh=100.0
    ),
    _VehicleSpec(
        "vehicle.carlamotors.firetruck",
        (4.234, 1.448, 1.917),
        "truck",
        special_type="emergency",
        top_speed_kmh=110.0,
    ),
    _VehicleSpec(
        "vehicle.ford.ambulance",
        (3.181, 1.186, 1.218),
        "van",
        special_type="emergency",
        top_speed_kmh=130.0,
    ),
    _VehicleSpec("vehicle.mercedes.sprinter", (2.958, 0.999, 1.284), "van", top_speed_kmh=140.0),
    _VehicleSpec(
        "vehicle.volkswagen.t2",
        (2.245, 1.035, 1.022),
        "van",
        generation=1,
        has_lights=False,
        top_speed_kmh=120.0,
    ),
    _VehicleSpec("vehicle.volkswagen.t2_2021", (2.234, 0.967, 0.940), "van", top_speed_kmh=120.0),
    _VehicleSpec("vehicle.mitsubishi.fusorosa", (5.136, 1.706, 1.960), "bus", top_speed_kmh=100.0),
    _VehicleSpec(
        "vehicle.harley-davidson.low_rider",
        (1.177, 0.382, 0.638),
        "motorcycle",
        2,
        generation=1,
        has_lights=False,
    ),
    _VehicleSpec(
        "vehicle.kawasaki.ninja",
        (1.017, 0.401, 0.573),
        "motorcycle",
        2,
        generation=1,
        has_lights=False,
    ),
    _VehicleSpec(
        "vehicle.vespa.zx125",
        (0.924, 0.443, 0.622),
        "motorcycle",
        2,
        generation=1,
        has_lights=False,
        top_speed_kmh=100.0,
    ),
    _VehicleSpec(
        "vehicle.yamaha.yzf", (1.107, 0.434, 0.628), "motorcycle", 2, generation=1, has_lights=False
    ),
    _VehicleSpec(
        "vehicle.bh.crossbike",
        (0.744, 0.430, 0.541),
        "bicycle",
        2,
        generation=1,
        has_lights=False,
        top_speed_kmh=40.0,
    ),
    _VehicleSpec(
        "vehicle.diamondback.century",
        (0.821, 0.186, 0.541),
        "bicycle",
        2,
        generation=1,
        has_lights=False,
        top_speed_kmh=40.0,
    ),
    _VehicleSpec(
        "vehicle.gazelle.omafiets",
        (0.919, 0.163, 0.554),
        "bicycle",
        2,
        generation=1,
        has_lights=False,
        top_speed_kmh=40.0,
    ),
)

# Four-wheeled vehicles CARLA's blueprint reference nevertheless lists with a driver_id.
_DRIVEN_BY_RIDERS = ("vehicle.lincoln.mkz_2020",)

_BASE_TYPE_TAG = {
    "car": TAG_CAR,
    "van": TAG_TRUCK,
    "truck": TAG_TRUCK,
    "bus": TAG_BUS,
    "motorcycle": TAG_MOTORCYCLE,
    "bicycle": TAG_BICYCLE,
}


def _vehicle(spec: _VehicleSpec) -> Blueprint:
    attributes = [
        _s("role_name", "autopilot", ("scenario", "ego_vehicle")),
        _i("number_of_wheels", spec.wheels, modifiable=False),
        _s("base_type", spec.base_type, modifiable=False),
        _i("generation", spec.generation, modifiable=False),
        _s("special_type", spec.special_type, modifiable=False),
        _s("object_type", "", modifiable=False),
        _b("has_lights", spec.has_lights, modifiable=False),
        _b("has_dynamic_doors", False, modifiable=False),
        _b("sticky_control", True),
        _b("terramechanics", False),
    ]
    if spec.colored:
        color = _COLORS[zlib.crc32(spec.id.encode()) % len(_COLORS)]
        attributes.append(Attribute("color", AttrType.RGBColor, color, _COLORS))
    if spec.wheels == 2 or spec.id in _DRIVEN_BY_RIDERS:
        attributes.append(Attribute("driver_id", AttrType.Int, "0", ("1", "2"), True, True))
    length = 2.0 * spec.extent[0]
    return Blueprint(
        id=spec.id,
        tags=_tags(spec.id, spec.base_type),
        attributes=tuple(attributes),
        extent=spec.extent,
        box_center=(0.0, 0.0, spec.extent[2]),
        semantic_tag=_BASE_TYPE_TAG[spec.base_type],
        wheelbase=0.6 * length,
        max_steer_deg=70.0,
        top_speed=spec.top_speed_kmh / 3.6,
        max_accel=3.5 if spec.base_type in ("car", "motorcycle") else 2.0,
        mass=1800.0 if spec.base_type == "car" else 4000.0,
    )


VEHICLE_BLUEPRINTS: tuple[Blueprint, ...] = tuple(_vehicle(s) for s in _VEHICLES)

# ---------------------------------------------------------------- walkers, controllers, props

_WALKER_COUNT = 52


def _walker(index: int) -> Blueprint:
    id_ = f"walker.pedestrian.{index:04d}"
    child = index in (9, 10, 11, 12, 13, 14, 48, 49)
    attributes = (
        _s("role_name", "pedestrian"),
        _b("is_invincible", True),
        _f("speed", 0.0, ("1.4", "2.8")),  # standing, walking, running (m/s)
        _s("gender", "female" if index % 2 else "male", modifiable=False),
        _s("age", "child" if child else "adult", modifiable=False),
        _i("generation", 2 if index > 40 else 1, modifiable=False),
        _b("can_use_wheelchair", False, modifiable=False),
        _b("use_wheelchair", False),
    )
    extent = (0.187, 0.187, 0.6 if child else 0.91)
    return Blueprint(
        id_,
        _tags(id_),
        attributes,
        extent=extent,
        box_center=(0.0, 0.0, 0.0),
        semantic_tag=TAG_PEDESTRIANS,
        top_speed=2.8,
        mass=70.0,
    )


WALKER_BLUEPRINTS: tuple[Blueprint, ...] = tuple(_walker(i) for i in range(1, _WALKER_COUNT + 1))

# Props: CARLA's documented ids; size classes and boxes are this server's estimates.
_PROP_SIZE = dict.fromkeys(
    "brokentile01 brokentile02 brokentile03 brokentile04 colacan dirtdebris01 dirtdebris02 "
    "dirtdebris03 garbage01 garbage02 garbage03 garbage04 garbage05 garbage06 motorhelmet "
    "plasticbag purse wateringcan".split(),
    "tiny",
)
_PROP_SIZE["bike helmet"] = "tiny"
_PROP_SIZE |= dict.fromkeys(
    "advertisement atm barbeque barrel chainbarrier chainbarrierend clothcontainer clothesline "
    "doghouse foodcart gardenlamp glasscontainer haybalelb ironplank mailbox maptable "
    "platformgarbage01 shoppingcart shoppingtrolley slide streetbarrier streetsign streetsign01 "
    "streetsign04 swing swingcouch table trafficwarning trashcan01 trashcan02 trashcan03 "
    "trashcan04 trashcan05 vendingmachine warningaccident warningconstruction".split(),
    "medium",
)
_PROP_SIZE |= dict.fromkeys(
    "busstop busstoplb container fountain kiosk_01 pergola streetfountain trampoline".split(),
    "big",
)
_TREES = ("aporosatree", "coconutpalm", "cypresstree")
_PROP_SIZE |= dict.fromkeys(_TREES, "huge")
_PROP_EXTENT = {
    "tiny": (0.15, 0.15, 0.15),
    "small": (0.3, 0.3, 0.4),
    "medium": (0.7, 0.5, 0.9),
    "big": (2.5, 1.5, 1.6),
    "huge": (0.6, 0.6, 5.0),
}
_PROP_EXTENT_OF = {"trafficcone01": (0.25, 0.25, 0.4), "streetbarrier": (0.2, 0.8, 0.5)}


def _prop(name: str) -> Blueprint:
    id_ = f"static.prop.{name}"
    size = _PROP_SIZE.get(name, "small")
    extent = _PROP_EXTENT_OF.get(name, _PROP_EXTENT[size])
    return Blueprint(
        id_,
        _tags(id_),
        (_s("role_name", "prop"), _s("size", size, modifiable=False)),
        extent=extent,
        box_center=(0.0, 0.0, extent[2]),
        semantic_tag=TAG_VEGETATION if name in _TREES else TAG_STATIC,
    )


PROP_BLUEPRINTS: tuple[Blueprint, ...] = tuple(_prop(name) for name in PROP_NAMES) + (
    Blueprint("static.prop.mesh", ("static", "prop", "mesh"), (_s("role_name", "prop"),)),
)

OTHER_BLUEPRINTS: tuple[Blueprint, ...] = (
    Blueprint("controller.ai.walker", _tags("controller.ai.walker"), (_s("role_name", "default"),)),
    Blueprint(
        "static.trigger.friction",
        _tags("static.trigger.friction"),
        (
            _s("role_name", "default"),
            _f("friction", 3.5),
            *(_f(f"extent_{axis}", 1.0) for axis in "xyz"),
        ),
    ),
    Blueprint("util.actor.empty", _tags("util.actor.empty"), (_s("role_name", "default"),)),
)

# The spectator is an actor with this type id but is not in the library.
SPECTATOR = Blueprint("spectator", ("spectator",), ())


class BlueprintLibrary:
    """All blueprints, in a fixed order (their uids on the wire), and by id."""

    def __init__(self, blueprints: tuple[Blueprint, ...]) -> None:
        self._by_id = {bp.id: bp for bp in blueprints}
        self.blueprints = blueprints

    def __contains__(self, blueprint_id: str) -> bool:
        return blueprint_id in self._by_id

    def __len__(self) -> int:
        return len(self.blueprints)

    def get(self, blueprint_id: str) -> Blueprint | None:
        return self._by_id.get(blueprint_id)

    def ids(self) -> list[str]:
        return [bp.id for bp in self.blueprints]


def default_library() -> BlueprintLibrary:
    return BlueprintLibrary(
        VEHICLE_BLUEPRINTS
        + WALKER_BLUEPRINTS
        + sensor_blueprints()
        + PROP_BLUEPRINTS
        + OTHER_BLUEPRINTS
    )
