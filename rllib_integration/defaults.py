"""Every default of `env_config`, and the checks that say what a valid value is (a leaf module).

`CarlaSettings` is the `env_config.carla` section; `EXPERIMENT_DEFAULTS` the `env_config.experiment`
section, extended by each experiment class's `DEFAULT_CONFIG` (`experiment_defaults`). Dicts merge
recursively, lists and scalars replace (`merge`). Every bad value is one `ConfigError` naming the
key, where it came from and, for a typo, the closest valid key. Nothing here imports the rest of
the package: the loader that knows the plugins (experiment classes, sensor types) is `config.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rllib_integration.fatal import FatalError

ServerKind = Literal["auto", "embedded", "carla"]
QualityLevel = Literal["Low", "Medium", "High", "Epic"]

# A launched server takes a block of consecutive ports (RPC, streaming, secondary, Traffic
# Manager) at or above `base_port` and below HIGHEST_PORT (above it the kernel hands out
# ephemeral ports).
PORTS_PER_BLOCK = 4
HIGHEST_PORT = 65000
# (lowest, highest, unit) of the numbers of `env_config.carla`; a lowest of 0.0 means "> 0".
CARLA_RANGES: dict[str, tuple[float, float, str]] = {
    # Beyond an hour a hung server is never noticed (1e300 s overflowed the client's
    # millisecond timeout to 0, and every call failed).
    "timeout": (0.0, 3600.0, "s"),
    "startup_timeout": (0.0, 3600.0, "s"),
    "sensor_timeout": (0.0, 3600.0, "s"),
    # fixed_delta_seconds: CARLA's physics is unstable above 0.1 s and servers refuse > 1 s.
    "timestep": (0.0, 1.0, "s"),
    "retries_on_error": (1, 1000, ""),
    "resolution_x": (1, 16384, "px"),
    "resolution_y": (1, 16384, "px"),
    "gpu": (0, 255, ""),
    # Below 1024 binding needs root; above HIGHEST_PORT - PORTS_PER_BLOCK no block fits.
    "base_port": (1024, HIGHEST_PORT - PORTS_PER_BLOCK, ""),
    # An attached server's RPC port; its streaming and secondary ports follow it.
    "port": (1, 65532, ""),
}


class ConfigError(FatalError, ValueError):
    """A config value is missing, unknown or of the wrong type; the message says which and where."""


@dataclass(frozen=True)
class CarlaSettings:
    """The `env_config.carla` section: how to run and reach the simulator. Every default is here."""

    # Which simulator to launch: "carla" runs $CARLA_ROOT/CarlaUE4.sh, "embedded" the bundled
    # CARLA-compatible server, "auto" CARLA when an install is found, else embedded.
    server: ServerKind = "auto"
    # Attach to a server someone else started at host:port (its RPC port); nothing is launched
    # then. Without `port`, a local server is launched and `host` is not used.
    host: str = "127.0.0.1"
    port: int | None = None
    # Client RPC timeout (s); also the limit for one `world.tick()` before the server counts as hung.
    timeout: float = 10.0
    # Fixed simulation step (s): `fixed_delta_seconds` in synchronous mode (20 Hz).
    timestep: float = 0.05
    # Connection attempts to a starting server, and server restarts in a row before giving up.
    retries_on_error: int = 10
    # Seconds to wait for a launched server's RPC port to accept connections.
    startup_timeout: float = 120.0
    # Seconds to wait for one frame's data from every regular sensor.
    sensor_timeout: float = 10.0
    # CarlaUE4 window size (only with show_display) and rendering quality.
    resolution_x: int = 600
    resolution_y: int = 600
    quality_level: QualityLevel = "Low"
    # Load every map layer, or only the roads (`carla.MapLayer.NONE`).
    enable_map_assets: bool = False
    # False sets `no_rendering_mode` (cameras then see nothing on CarlaUE4).
    enable_rendering: bool = True
    # Windowed CarlaUE4 instead of -RenderOffScreen.
    show_display: bool = False
    # The CARLA install (folder with CarlaUE4.sh); None reads $CARLA_ROOT.
    carla_root: str | None = None
    # GPU index for CarlaUE4 (`-graphicsadapter=N`); None leaves the choice to CARLA.
    gpu: int | None = None
    # First port of the search for a free block of 4 (RPC, streaming, secondary, Traffic Manager).
    base_port: int = 20000
    # Extra folder of OpenDRIVE towns for the embedded server (its --map-dir).
    map_dir: str | None = None
    # Folder for one log file per launched server; None uses <tmp>/rllib-integration-<uid>/logs.
    log_dir: str | None = None


# The `env_config.experiment` section. An experiment class adds its own keys with its
# `DEFAULT_CONFIG`; those merge over these.
# When a route episode (`CarlaEnv.reset(options={"route": ...})`) ends: the CARLA leaderboard's
# rules, see `rllib_integration/routes/tracker.py`.
ROUTE_DEFAULTS: dict[str, Any] = {
    # Metres from the route that end it (route deviation).
    "deviation": 30.0,
    # Seconds without progress along the route that end it (blocked).
    "blocked_time": 180.0,
    # Seconds; None: timeout_margin + route length / timeout_speed.
    "timeout": None,
    "timeout_speed": 2.0,
    "timeout_margin": 300.0,
    # Metres beyond a lane's half width that still count as inside it.
    "lane_margin": 0.5,
}

ROUTE_SOURCE_DEFAULTS: dict[str, Any] = {
    "source": None,
    "min_length": 200.0,
    "max_length": 600.0,
}

EXPERIMENT_DEFAULTS: dict[str, Any] = {
    # Import path "package.module:ClassName" of a BaseExperiment subclass. Required.
    "type": None,
    "hero": {
        # Blueprint id of the ego vehicle (role_name "hero").
        "blueprint": "vehicle.lincoln.mkz_2017",
        # name -> {type: <sensor blueprint>, transform: "x,y,z,roll,pitch,yaw", <blueprint attrs>}
        "sensors": {},
        # "x,y,z" (snapped to the lane's heading) or "x,y,z,roll,pitch,yaw"; [] = the map's points.
        "spawn_points": [],
    },
    "background_activity": {
        "n_vehicles": 0,
        "n_walkers": 0,
        "tm_hybrid_mode": True,
        # Seed of the Traffic Manager and of the NPC choices; None = random.
        "seed": None,
        # Destroy and spawn the NPCs again at every reset (else once per server).
        "respawn_per_episode": False,
    },
    # A town name, or a list to choose from at random; None keeps the server's current map
    # (Loop01 on the embedded server).
    "town": None,
    # With a list of towns, choose a new one every N episodes (1 = at every reset).
    "town_change_every": 1,
    # A carla.WeatherParameters preset name, or a mapping of its parameters.
    "weather": "ClearNoon",
    # Seconds of simulated time after which the episode is truncated for every hero (None:
    # the experiment alone decides when an episode ends).
    "time_limit": None,
    "route": dict(ROUTE_DEFAULTS),
    # Route episodes at every reset that gives no route of its own (training on routes):
    # `source: random` plans a random route on the episode's town, `min_length` to `max_length`
    # metres long; a route file (a shipped set by name, e.g. grid01_train, or a path relative to
    # the config file) gives one of its routes, drawn at random, in that route's town. None:
    # ordinary episodes. See `routes/source.py`.
    "routes": dict(ROUTE_SOURCE_DEFAULTS),
    # Check every observation and action against the experiment's spaces, always (they are
    # checked in the first episode of every env anyway; NaN or infinite actions always).
    "check_spaces": False,
}

# Keys of the experiment section that set up the one shared world: an agent of a multi-agent
# env (`experiment.agents`) cannot set its own.
WORLD_KEYS = ("town", "town_change_every", "weather", "background_activity", "time_limit")

# Allowed types for experiment keys whose default alone does not say (None defaults, unions).
EXPERIMENT_TYPES: dict[str, Any] = {
    "type": str,
    "town": str | list | None,
    "weather": str | dict,
    "background_activity.seed": int | None,
    "time_limit": float | None,
    "route.timeout": float | None,
    "routes.source": str | None,
}

# Mappings whose keys are the user's own names rather than schema keys.
OPEN_MAPPINGS = {"hero.sensors"}

WEATHER_PARAMETERS = (
    "cloudiness",
    "dust_storm",
    "fog_density",
    "fog_distance",
    "fog_falloff",
    "mie_scattering_scale",
    "precipitation",
    "precipitation_deposits",
    "rayleigh_scattering_scale",
    "scattering_intensity",
    "sun_altitude_angle",
    "sun_azimuth_angle",
    "wetness",
    "wind_intensity",
)
WEATHER_PRESETS = (
    "ClearNight",
    "ClearNoon",
    "ClearSunset",
    "CloudyNight",
    "CloudyNoon",
    "CloudySunset",
    "Default",
    "DustStorm",
    "HardRainNight",
    "HardRainNoon",
    "HardRainSunset",
    "MidRainSunset",
    "MidRainyNight",
    "MidRainyNoon",
    "SoftRainNight",
    "SoftRainNoon",
    "SoftRainSunset",
    "WetCloudyNight",
    "WetCloudyNoon",
    "WetCloudySunset",
    "WetNight",
    "WetNoon",
    "WetSunset",
)


def carla_settings(carla_section: Mapping) -> CarlaSettings:
    """Build CarlaSettings from a resolved (or partial) `env_config.carla` mapping."""
    return CarlaSettings(**resolve_carla(carla_section, Where("env_config", "env_config.carla")))


def find_carla_root(settings: CarlaSettings) -> Path | None:
    """The CARLA install to use: settings.carla_root, else $CARLA_ROOT; None if neither is set."""
    root = settings.carla_root or os.environ.get("CARLA_ROOT")
    return Path(root).expanduser() if root else None


def server_kind(settings: CarlaSettings, where: object = "env_config.carla.server") -> str:
    """'attach', 'carla' or 'embedded' on this machine; `server: carla` without an install is
    a ConfigError at `where`."""
    if settings.port is not None:
        return "attach"
    root = find_carla_root(settings)
    has_carla = root is not None and (root / "CarlaUE4.sh").is_file()
    if settings.server == "carla":
        if root is None:
            raise ConfigError(
                f"{where} is 'carla' but no CARLA install is configured: set "
                "env_config.carla.carla_root or $CARLA_ROOT to the folder with CarlaUE4.sh "
                "(or use server: embedded)"
            )
        if not has_carla:
            raise ConfigError(
                f"{where} is 'carla' but {root / 'CarlaUE4.sh'} does not exist; "
                "carla_root / $CARLA_ROOT must be the CARLA folder that holds CarlaUE4.sh"
            )
        return "carla"
    return "carla" if settings.server == "auto" and has_carla else "embedded"


def merge(defaults: Mapping, overrides: Mapping) -> dict:
    """Recursive merge: mappings merge key by key, everything else (lists too) replaces.

    Neither input is modified and the result shares nothing mutable with them.
    """
    merged = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def experiment_defaults(experiment_class: type | None) -> dict:
    """EXPERIMENT_DEFAULTS with the DEFAULT_CONFIG of every class in the MRO merged over it."""
    defaults = copy.deepcopy(EXPERIMENT_DEFAULTS)
    if experiment_class is None:
        return defaults
    for cls in reversed(experiment_class.__mro__):
        own = cls.__dict__.get("DEFAULT_CONFIG")
        if own:
            defaults = merge(defaults, own)
    return defaults


def resolve_carla(section: Any, where: Where) -> dict:
    """The `env_config.carla` section merged over CarlaSettings' defaults and checked."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type_name(section)}")
    hints = typing.get_type_hints(CarlaSettings)
    fields = [f.name for f in dataclasses.fields(CarlaSettings)]
    reject_unknown(dict(section), fields, where)
    resolved = dataclasses.asdict(CarlaSettings())
    for key, value in section.items():
        resolved[key] = check_type(value, hints[key], where.child(key))
    for key, (lowest, highest, unit) in CARLA_RANGES.items():
        check_range(resolved[key], lowest, highest, where.child(key), unit)
    if not resolved["host"].strip():
        raise ConfigError(f"{where.child('host')}: must be a host name or address, got ''")
    return resolved


def parse_transform(value: Any, where: Any = "transform") -> tuple[float, ...]:
    """ "x,y,z,roll,pitch,yaw" (or a list of 6 numbers) -> 6 floats."""
    numbers = _numbers(value, where)
    if len(numbers) != 6:
        raise ConfigError(f"{where}: expected 6 numbers 'x,y,z,roll,pitch,yaw', got {value!r}")
    return numbers


def parse_spawn_point(value: Any, where: Any = "spawn_point") -> tuple[float, ...]:
    """ "x,y,z" or "x,y,z,roll,pitch,yaw" -> 3 or 6 floats."""
    numbers = _numbers(value, where)
    if len(numbers) not in (3, 6):
        raise ConfigError(f"{where}: expected 'x,y,z' or 'x,y,z,roll,pitch,yaw', got {value!r}")
    return numbers


def _numbers(value: Any, where: Any) -> tuple[float, ...]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ConfigError(f"{where}: expected comma-separated numbers, got {type_name(value)}")
    try:
        return tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected numbers, got {value!r}") from None


# ---------------------------------------------------------------- checks


class Where:
    """A key's location for messages: '<file>:<line>: env_config.carla.timeout'."""

    def __init__(self, source: str, dotted: str, lines: dict[str, int] | None = None):
        self.source = source
        self.dotted = dotted
        self.lines = lines or {}

    def child(self, key: str) -> Where:
        return Where(self.source, f"{self.dotted}.{key}", self.lines)

    def __str__(self) -> str:
        line = self.lines.get(self.dotted)
        return f"{self.source}:{line}: {self.dotted}" if line else f"{self.source}: {self.dotted}"


def reject_unknown(value: Mapping, valid: Any, where: Where) -> None:
    """ConfigError for the first key of `value` that is not in `valid`, with the closest one."""
    valid = list(valid)
    for key in value:
        if key not in valid:
            raise ConfigError(f"{where.child(str(key))}: unknown key" + suggest(str(key), valid))


def suggest(word: str, choices: Any) -> str:
    """ "; did you mean 'x'?" for the closest choice, else the list of valid ones. A choice that
    `word` begins or ends (a name cut short, `sensor.camera.semantic`) comes first."""
    choices = [str(c) for c in choices]
    extended = [c for c in choices if word and (c.startswith(word) or word.startswith(c))]
    if len(extended) == 1:
        return f"; did you mean '{extended[0]}'?"
    close = difflib.get_close_matches(word, extended or choices, n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; valid: {', '.join(sorted(choices))}" if choices else ""


def default_type(default: Any) -> Any:
    """The type a user value must have where the default is `default`."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, float):
        return float
    return type(default)


def check_type(value: Any, expected: Any, where: Where) -> Any:
    """Return value (ints widened to float where a float is expected) or raise ConfigError.

    Floats must be finite: NaN passes every comparison check, and nothing here means infinity.
    """
    if _matches(value, expected):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value}")
        return float(value) if _wants_float(value, expected) else value
    if typing.get_origin(expected) is Literal:
        choices = typing.get_args(expected)
        raise ConfigError(
            f"{where}: expected one of {', '.join(map(str, choices))}, got {value!r}"
            + (suggest(value, choices) if isinstance(value, str) else "")
        )
    raise ConfigError(f"{where}: expected {_describe(expected)}, got {type_name(value)} {value!r}")


def check_range(value: Any, lowest: float, highest: float, where: Where, unit: str = "") -> None:
    """ConfigError unless lowest <= value <= highest (a float lowest of 0.0 means > 0); None
    passes (an optional value left out)."""
    if value is None:
        return
    above_zero = isinstance(lowest, float) and lowest == 0.0
    inside = (value > 0 if above_zero else value >= lowest) and value <= highest
    if not inside:
        low = "> 0" if above_zero else f">= {_text(lowest)}"
        high = "" if math.isinf(highest) else f" and <= {_text(highest)}"
        raise ConfigError(f"{where}: must be {low}{high}{unit and ' ' + unit}, got {value}")


def _text(number: float) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is Literal:
        return value in typing.get_args(expected)
    if expected is None or expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is dict:
        return isinstance(value, Mapping)
    return isinstance(value, expected)


def _wants_float(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    args = typing.get_args(expected) or (expected,)
    return float in args and int not in args


def coerce_floats(config: dict, defaults: Mapping) -> None:
    """In place: ints where the default is a float become floats (YAML's `3` for `3.0`)."""
    for key, default in defaults.items():
        value = config.get(key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            config[key] = float(value)
        elif isinstance(default, Mapping) and isinstance(value, dict):
            coerce_floats(value, default)


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(expected))
    if expected is None or expected is type(None):
        return "null"
    if expected is dict:
        return "a mapping"
    if expected is list:
        return "a list"
    return getattr(expected, "__name__", str(expected))


def type_name(value: Any) -> str:
    """How a YAML user would name the type of `value` ("a mapping", "a list", "null", "str")."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def import_path(path: Any, where: object) -> Any:
    """Import the object named by "package.module:Name"; every failure is a ConfigError at `where`.

    The one parser of import paths: experiment classes, sensor classes and the DQN example's env.
    """
    module_name, sep, name = path.partition(":") if isinstance(path, str) else ("", "", "")
    if not sep or not module_name or not name:
        raise ConfigError(
            f"{where}: {path!r} is not an import path; expected 'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while the module runs
        raise ConfigError(
            f"{where}: cannot import module '{module_name}': {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(module, name):
        names = [n for n, v in vars(module).items() if isinstance(v, type)]
        raise ConfigError(
            f"{where}: module '{module_name}' has no class '{name}'" + suggest(name, names)
        )
    return getattr(module, name)
