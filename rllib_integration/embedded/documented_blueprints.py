"""CarlaUE4 0.9.16's blueprint library as CARLA documents it: the table the server is held to.

Every blueprint id CARLA's blueprint library reference lists for 0.9.16, and for each its
attributes with type, whether a user may modify it, and the recommended values CarlaUE4 offers
(a modifiable attribute's first recommended value is its default). Facts recorded from:

- the blueprint library reference (``Docs/bp_library.md``, carla.readthedocs.io ``bp_library``):
  ids, attribute names, types, modifiability; its 0.9.16 edition adds
  ``sensor.camera.cosmos_visualization``, ``sensor.camera.normals``, ``sensor.other.v2x``,
  ``sensor.other.v2x_custom``, ``util.actor.empty``, walkers up to 0052 and new props;
- the sensor reference (``Docs/ref_sensors.md``): each sensor attribute's default, i.e. its
  first recommended value (``dropoff_general_rate`` 0.45 and its siblings included).

``recommended=None`` leaves the values unpinned (CARLA does not document them, e.g. a vehicle's
colours); ``attributes=None`` means the reference lists the id but this table does not take its
attributes (``sensor.other.v2x*``, ``sensor.other.rss``). Types are carla.ActorAttributeType names.
The blueprint library reference lists no ``traffic.*`` blueprints: traffic lights and signs come
with the map, not from the library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocAttribute:
    id: str
    type: str  # Bool | Int | Float | String | RGBColor
    modifiable: bool = True
    recommended: tuple[str, ...] | None = None  # pinned recommended values (first = default)
    restricted: bool = False  # only the recommended values are allowed


@dataclass(frozen=True)
class DocBlueprint:
    id: str
    attributes: tuple[DocAttribute, ...] | None


def _mod(id_: str, type_: str, *recommended: str, restricted: bool = False) -> DocAttribute:
    return DocAttribute(id_, type_, True, tuple(recommended) or None, restricted)


def _fixed(id_: str, type_: str) -> DocAttribute:
    return DocAttribute(id_, type_, modifiable=False)


SENSOR_ROLES: tuple[str, ...] = (
    "front",
    "back",
    "left",
    "right",
    "front_left",
    "front_right",
    "back_left",
)
SENSOR_ROLES += ("back_right",)


def _role(*recommended: str) -> DocAttribute:
    return _mod("role_name", "String", *recommended)


_TICK = _mod("sensor_tick", "Float", "0.0")

_CAMERA = (
    _role(*SENSOR_ROLES),
    _TICK,
    _mod("image_size_x", "Int", "800"),
    _mod("image_size_y", "Int", "600"),
    _mod("fov", "Float", "90.0"),
    _mod("lens_circle_falloff", "Float", "5.0"),
    _mod("lens_circle_multiplier", "Float", "0.0"),
    _mod("lens_k", "Float", "-1.0"),
    _mod("lens_kcube", "Float", "0.0"),
    _mod("lens_x_size", "Float", "0.08"),
    _mod("lens_y_size", "Float", "0.08"),
)

# The RGB and DVS cameras' post-processing attributes. Their defaults differ between CARLA's
# documents and releases, so only the documented choice set of exposure_mode is pinned.
_POSTPROCESS_FLOATS = (
    "black_clip bloom_intensity blur_amount blur_radius calibration_constant "
    "chromatic_aberration_intensity chromatic_aberration_offset exposure_compensation "
    "exposure_max_bright exposure_min_bright exposure_speed_down exposure_speed_up focal_distance "
    "fstop gamma iso lens_flare_intensity min_fstop motion_blur_intensity "
    "motion_blur_max_distortion motion_blur_min_object_screen_size shoulder shutter_speed slope "
    "temp tint toe white_clip"
)
_POSTPROCESS = (
    _mod("enable_postprocess_effects", "Bool", "true"),
    _mod("exposure_mode", "String", "histogram", "manual", restricted=True),
    *(_mod(name, "Float") for name in _POSTPROCESS_FLOATS.split()),
    _mod("blade_count", "Int", "5"),
)

_DVS = (
    _mod("positive_threshold", "Float", "0.3"),
    _mod("negative_threshold", "Float", "0.3"),
    _mod("sigma_positive_threshold", "Float", "0.0"),
    _mod("sigma_negative_threshold", "Float", "0.0"),
    _mod("refractory_period_ns", "Int", "0"),
    _mod("use_log", "Bool", "true"),
    _mod("log_eps", "Float", "0.001"),
)

_LIDAR = (
    _role(*SENSOR_ROLES),
    _TICK,
    _mod("channels", "Int", "32"),
    _mod("range", "Float", "10.0"),
    _mod("points_per_second", "Int", "56000"),
    _mod("rotation_frequency", "Float", "10.0"),
    _mod("upper_fov", "Float", "10.0"),
    _mod("lower_fov", "Float", "-30.0"),
    _mod("horizontal_fov", "Float", "360.0"),
)

_LIDAR_INTENSITY = (
    _mod("atmosphere_attenuation_rate", "Float", "0.004"),
    _mod("dropoff_general_rate", "Float", "0.45"),
    _mod("dropoff_intensity_limit", "Float", "0.8"),
    _mod("dropoff_zero_intensity", "Float", "0.4"),
    _mod("noise_stddev", "Float", "0.0"),
    _mod("noise_seed", "Int", "0"),
)

_GNSS = tuple(
    _mod(f"noise_{axis}_{kind}", "Float", "0.0")
    for axis in ("alt", "lat", "lon")
    for kind in ("bias", "stddev")
) + (_mod("noise_seed", "Int", "0"), _role(), _TICK)

_IMU = tuple(_mod(f"noise_accel_stddev_{a}", "Float", "0.0") for a in "xyz")
_IMU += tuple(
    _mod(f"noise_gyro_{k}_{a}", "Float", "0.0") for k in ("bias", "stddev") for a in "xyz"
)
_IMU += (_mod("noise_seed", "Int", "0"), _role(), _TICK)

_RADAR = (
    _mod("horizontal_fov", "Float", "30.0"),
    _mod("vertical_fov", "Float", "30.0"),
    _mod("range", "Float", "100.0"),
    _mod("points_per_second", "Int", "1500"),
    _mod("noise_seed", "Int", "0"),
    _role(),
    _TICK,
)

_OBSTACLE = (
    _mod("distance", "Float", "5.0"),
    _mod("hit_radius", "Float", "0.5"),
    _mod("only_dynamics", "Bool", "false"),
    _mod("debug_linetrace", "Bool", "false"),
    _role(*SENSOR_ROLES),
    _TICK,
)

SENSORS: tuple[DocBlueprint, ...] = (
    DocBlueprint("sensor.camera.cosmos_visualization", _CAMERA),
    DocBlueprint("sensor.camera.depth", _CAMERA),
    DocBlueprint("sensor.camera.dvs", _CAMERA + _POSTPROCESS + _DVS),
    DocBlueprint("sensor.camera.instance_segmentation", _CAMERA),
    DocBlueprint("sensor.camera.normals", _CAMERA),
    DocBlueprint("sensor.camera.optical_flow", _CAMERA),
    DocBlueprint("sensor.camera.rgb", _CAMERA + _POSTPROCESS),
    DocBlueprint("sensor.camera.semantic_segmentation", _CAMERA),
    DocBlueprint("sensor.lidar.ray_cast", _LIDAR + _LIDAR_INTENSITY),
    DocBlueprint("sensor.lidar.ray_cast_semantic", _LIDAR),
    DocBlueprint("sensor.other.collision", (_role(*SENSOR_ROLES),)),
    DocBlueprint("sensor.other.gnss", _GNSS),
    DocBlueprint("sensor.other.imu", _IMU),
    DocBlueprint("sensor.other.lane_invasion", (_role(*SENSOR_ROLES),)),
    DocBlueprint("sensor.other.obstacle", _OBSTACLE),
    DocBlueprint("sensor.other.radar", _RADAR),
    DocBlueprint("sensor.other.rss", None),
    DocBlueprint("sensor.other.v2x", None),
    DocBlueprint("sensor.other.v2x_custom", None),
)

# ---------------------------------------------------------------- vehicles

_VEHICLE_FIXED = (
    _fixed("generation", "Int"),
    _fixed("number_of_wheels", "Int"),
    _fixed("object_type", "String"),
    _fixed("base_type", "String"),
    _fixed("special_type", "String"),
    _fixed("has_dynamic_doors", "Bool"),
    _fixed("has_lights", "Bool"),
    _role("autopilot", "scenario", "ego_vehicle"),
    _mod("sticky_control", "Bool", "true"),
)
_COLOR = _mod("color", "RGBColor")  # each model has its own recommended colours
_DRIVER = DocAttribute("driver_id", "Int", restricted=True)  # two-wheelers' riders

# (make.model, has a colour attribute, has a driver_id attribute), as the reference lists them.
_VEHICLE_IDS: tuple[tuple[str, bool, bool], ...] = (
    ("audi.a2", True, False),
    ("audi.etron", True, False),
    ("audi.tt", True, False),
    ("bh.crossbike", True, True),
    ("bmw.grandtourer", True, False),
    ("carlamotors.carlacola", True, False),
    ("carlamotors.european_hgv", True, False),
    ("carlamotors.firetruck", True, False),
    ("chevrolet.impala", True, False),
    ("citroen.c3", True, False),
    ("diamondback.century", True, True),
    ("dodge.charger_2020", True, False),
    ("dodge.charger_police", True, False),
    ("dodge.charger_police_2020", True, False),
    ("ford.ambulance", True, False),
    ("ford.crown", True, False),
    ("ford.mustang", True, False),
    ("gazelle.omafiets", True, True),
    ("harley-davidson.low_rider", True, True),
    ("jeep.wrangler_rubicon", True, False),
    ("kawasaki.ninja", True, True),
    ("lincoln.mkz_2017", True, False),
    ("lincoln.mkz_2020", True, True),
    ("mercedes.coupe", True, False),
    ("mercedes.coupe_2020", True, False),
    ("mercedes.sprinter", True, False),
    ("micro.microlino", True, False),
    ("mini.cooper_s", True, False),
    ("mini.cooper_s_2021", True, False),
    ("mitsubishi.fusorosa", True, False),
    ("nissan.micra", True, False),
    ("nissan.patrol", True, False),
    ("nissan.patrol_2021", True, False),
    ("seat.leon", True, False),
    ("tesla.cybertruck", False, False),
    ("tesla.model3", True, False),
    ("toyota.prius", True, False),
    ("vespa.zx125", True, True),
    ("volkswagen.t2", True, False),
    ("volkswagen.t2_2021", True, False),
    ("yamaha.yzf", True, True),
)


def _vehicle(name: str, color: bool, driver: bool) -> DocBlueprint:
    extra = ((_COLOR,) if color else ()) + ((_DRIVER,) if driver else ())
    return DocBlueprint(f"vehicle.{name}", extra + _VEHICLE_FIXED)


VEHICLES: tuple[DocBlueprint, ...] = tuple(_vehicle(*entry) for entry in _VEHICLE_IDS)

# ---------------------------------------------------------------- walkers, props, the rest

_WALKER = (
    _fixed("age", "String"),
    _fixed("gender", "String"),
    _fixed("generation", "Int"),
    _mod("is_invincible", "Bool", "true"),
    _role("pedestrian"),
    _mod("speed", "Float"),  # walking and running speeds of the model
)
WALKERS: tuple[DocBlueprint, ...] = tuple(
    DocBlueprint(f"walker.pedestrian.{n:04d}", _WALKER) for n in range(1, 53)
)

_PROP_NAMES = (
    "advertisement aporosatree atm barbeque barrel bin box01 box02 box03 briefcase brokentile01 "
    "brokentile02 brokentile03 brokentile04 busstop busstoplb calibrator chainbarrier "
    "chainbarrierend clothcontainer clothesline coconutpalm colacan constructioncone container "
    "creasedbox01 creasedbox02 creasedbox03 cypresstree dirtdebris01 dirtdebris02 dirtdebris03 "
    "doghouse foodcart fountain garbage01 garbage02 garbage03 garbage04 garbage05 garbage06 "
    "gardenlamp glasscontainer gnome guitarcase haybalelb ironplank kiosk_01 mailbox maptable "
    "motorhelmet pergola plantpot01 plantpot02 plantpot03 plantpot04 plantpot05 plantpot06 "
    "plantpot07 plantpot08 plasticbag platformgarbage01 purse shoppingbag shoppingcart "
    "shoppingtrolley slide streetbarrier streetfountain streetsign streetsign01 streetsign04 "
    "swing swingcouch table trafficcone01 trafficcone02 trafficwarning trampoline trashbag "
    "trashcan01 trashcan02 trashcan03 trashcan04 trashcan05 travelcase vendingmachine "
    "warningaccident warningconstruction wateringcan"
)
# "bike helmet" is one id with a space in it, as CarlaUE4 spells it.
PROP_NAMES: tuple[str, ...] = (*_PROP_NAMES.split(), "bike helmet")

PROPS: tuple[DocBlueprint, ...] = tuple(
    DocBlueprint(f"static.prop.{name}", (_role("prop"), _fixed("size", "String")))
    for name in PROP_NAMES
) + (DocBlueprint("static.prop.mesh", (_role("prop"),)),)

OTHERS: tuple[DocBlueprint, ...] = (
    DocBlueprint("controller.ai.walker", (_role(),)),
    DocBlueprint(
        "static.trigger.friction",
        (
            _role(),
            _mod("friction", "Float"),
            _mod("extent_x", "Float"),
            _mod("extent_y", "Float"),
            _mod("extent_z", "Float"),
        ),
    ),
    DocBlueprint("util.actor.empty", (_role(),)),
)

DOCUMENTED_BLUEPRINTS: tuple[DocBlueprint, ...] = SENSORS + VEHICLES + WALKERS + PROPS + OTHERS

__all__ = ["DOCUMENTED_BLUEPRINTS", "DocAttribute", "DocBlueprint", "PROP_NAMES", "SENSOR_ROLES"]
