"""Load a YAML config, merge `env_config` over the documented defaults and validate it.

The defaults themselves and the checks of single values live in the leaf `defaults.py`; this
module is the loader on top, which also knows the plugins a config names: the experiment class
(`experiment.type`) and the sensor types (`hero.sensors.*.type`). Every error is one
`ConfigError` naming the key, the file and line and, for a typo, the closest valid key.
`ConfigError`, `CarlaSettings`, `merge` and the other names users import from here are
re-exported from `defaults.py`.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.defaults import (
    EXPERIMENT_DEFAULTS,
    EXPERIMENT_TYPES,
    OPEN_MAPPINGS,
    WEATHER_PARAMETERS,
    WEATHER_PRESETS,
    WORLD_KEYS,
    CarlaSettings,
    ConfigError,
    Where,
    carla_settings,
    check_range,
    check_type,
    coerce_floats,
    default_type,
    experiment_defaults,
    import_path,
    merge,
    parse_spawn_point,
    parse_transform,
    reject_unknown,
    resolve_carla,
    server_kind,
    suggest,
    type_name,
)
from rllib_integration.routes.source import RouteSource, absolute_source
from rllib_integration.sensors.attributes import attribute_problem
from rllib_integration.sensors.base import PseudoSensor
from rllib_integration.sensors.registry import known_sensor_types, sensor_class
from rllib_integration.towns import absolute_town, check_towns
from rllib_integration.yaml_loader import parse_yaml

__all__ = [
    "EXPERIMENT_DEFAULTS",
    "WEATHER_PARAMETERS",
    "WEATHER_PRESETS",
    "CarlaSettings",
    "add_override_argument",
    "apply_override",
    "agent_experiment_configs",
    "ConfigError",
    "carla_settings",
    "experiment_defaults",
    "import_experiment",
    "key_lines",
    "load_config",
    "load_yaml",
    "load_yaml_and_lines",
    "merge",
    "parse_spawn_point",
    "parse_yaml",
    "parse_transform",
    "resolve_env_config",
]


# ---------------------------------------------------------------- public entry points


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML file into a dict; syntax errors and non-mapping files become ConfigError."""
    return load_yaml_and_lines(path)[0]


def load_yaml_and_lines(path: str | os.PathLike) -> tuple[dict, dict[str, int]]:
    """`load_yaml`, and the line of every key (dotted key path -> 1-based line)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    data, lines = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type_name(data)}")
    return data, lines


def apply_override(data: dict, item: str) -> str:
    """Apply one `KEY.PATH=VALUE` override (VALUE read as YAML) to `data` in place; return
    KEY.PATH. The `--set` option of the command-line tools."""
    key, sep, text = item.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. training.lr=1e-4")
    value = parse_yaml(text, f"--set {item!r}: value")[0]
    node = data
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"--set {item!r}: {where} is not a section")
        node = child
    node[parts[-1]] = value
    return key


def add_override_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """The `--set KEY.PATH=VALUE` option (repeatable) whose items `apply_override` applies."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {example} (repeatable; YAML values)",
    )


def load_config(path: str | os.PathLike) -> dict:
    """Load a YAML file and return it with `env_config` merged over the defaults and validated.

    Top-level keys other than `env_config` are RLlib's and are returned untouched. Errors name
    the file and the line of the offending key.
    """
    data, lines = load_yaml_and_lines(path)
    data["env_config"] = _resolve(data.get("env_config"), Where(str(path), "env_config", lines))
    return data


def resolve_env_config(
    env_config: Mapping | None, source: str = "env_config", lines: dict[str, int] | None = None
) -> dict:
    """Merge `{carla: ..., experiment: ...}` over the defaults; validate; return plain dicts.

    Idempotent: resolving an already resolved env_config gives the same dict. The result holds
    only builtins, so RLlib can pickle it to its workers. `source` and `lines` (dotted key ->
    line, see `key_lines`) say where the mapping came from, for error messages.
    """
    return _resolve(env_config, Where(source, "env_config", lines))


def _resolve(env_config: Mapping | None, where: Where) -> dict:
    if env_config is None:
        env_config = {}
    if not isinstance(env_config, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type_name(env_config)}")
    reject_unknown(dict(env_config), {"carla", "experiment"}, where)
    carla = resolve_carla(env_config.get("carla"), where.child("carla"))
    experiment = _resolve_experiment(env_config.get("experiment"), where.child("experiment"))
    _resolve_towns(experiment, carla, where)
    _resolve_route_source(experiment, carla, where.child("experiment").child("routes"))
    return {"carla": carla, "experiment": experiment}


def _resolve_towns(experiment: dict, carla: dict, where: Where) -> None:
    """What the server this machine would launch can do: `server: carla` needs an install;
    `.xodr` towns are made absolute (relative to the config file), and every town must be one
    the embedded server will have (`towns.py`), else every env runner would fail at reset."""
    settings = CarlaSettings(**carla)
    server_kind(settings, where.child("carla").child("server"))
    town = experiment["town"]
    if town is None:
        return
    source = Path(where.source)
    folder = source.resolve().parent if source.is_file() else None
    at = where.child("experiment").child("town")
    if isinstance(town, list):
        experiment["town"] = [absolute_town(t, folder) for t in town]
        check_towns(experiment["town"], settings, [at.child(str(i)) for i in range(len(town))])
    else:
        experiment["town"] = absolute_town(town, folder)
        check_towns([experiment["town"]], settings, [at])


def _resolve_route_source(experiment: dict, carla: dict, where: Where) -> None:
    """`experiment.routes`: lengths in order, a route file made absolute (relative to the config
    file) and read now, its towns ones the server will have; single-agent only."""
    routes = experiment["routes"]
    if routes["source"] is None:
        return
    if AGENTS in experiment:
        raise ConfigError(f"{where.child('source')}: route episodes have one hero (CarlaEnv)")
    source = Path(where.source)
    folder = source.resolve().parent if source.is_file() else None
    routes["source"] = absolute_source(routes["source"], folder)
    try:
        route_source = RouteSource.from_config(routes)
        assert route_source is not None  # routes["source"] is set (checked above)
        towns = route_source.towns
    except ValueError as error:
        raise ConfigError(f"{where.child('source')}: {error}") from None
    check_towns(towns, CarlaSettings(**carla), [where.child("source")] * len(towns))


def import_experiment(path: str, where: object = "experiment.type") -> type[BaseExperiment]:
    """Import "package.module:ClassName" and check it is a BaseExperiment subclass."""
    cls = import_path(path, where)
    if not (isinstance(cls, type) and issubclass(cls, BaseExperiment)):
        raise ConfigError(f"{where}: '{path}' is not a subclass of BaseExperiment")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise ConfigError(
            f"{where}: {cls.__name__} does not define "
            + ", ".join(f"{name}()" for name in missing)
            + " (every BaseExperiment must)"
        )
    return cls


# ---------------------------------------------------------------- sections


def _resolve_experiment(section: Any, where: Where) -> dict:
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type_name(section)}")
    shared = {key: value for key, value in section.items() if key != AGENTS}
    merged = _resolve_one_experiment(shared, where)
    if AGENTS in section:
        merged[AGENTS] = _resolve_agents(section[AGENTS], shared, merged, where)
    return merged


def _experiment_class(section: Mapping, where: Where) -> type[BaseExperiment]:
    type_path = section.get("type")
    if type_path is None:
        raise ConfigError(
            f"{where.child('type')}: missing; name your BaseExperiment subclass as "
            "'package.module:ClassName'"
        )
    if not isinstance(type_path, str):
        raise ConfigError(f"{where.child('type')}: expected str, got {type_name(type_path)}")
    return import_experiment(type_path, str(where.child("type")))


def _resolve_one_experiment(section: Mapping, where: Where) -> dict:
    defaults = experiment_defaults(_experiment_class(section, where))
    _validate_against(section, defaults, where, "")
    merged = merge(defaults, section)
    coerce_floats(merged, defaults)
    _validate_experiment_values(merged, where)
    return merged


# ---------------------------------------------------------------- multi-agent

# `experiment.agents`: agent id -> that agent's settings, merged over the shared section.
AGENTS = "agents"


def _resolve_agents(agents: Any, shared: dict, resolved: dict, where: Where) -> dict:
    """Each agent's whole experiment section: its own keys merged over the shared ones.

    An agent may set anything but the world's settings (WORLD_KEYS, shared by all agents);
    with a `type` of its own it takes from the shared section only the keys its class knows.
    Idempotent: a resolved agent holds the shared world settings, which are accepted as equal.
    """
    where = where.child(AGENTS)
    if not isinstance(agents, Mapping) or not agents:
        raise ConfigError(
            f"{where}: expected a mapping of agent ids to their settings, e.g. "
            f"{{car_0: {{}}, car_1: {{hero: {{blueprint: vehicle.tesla.model3}}}}}}"
        )
    result = {}
    for agent_id, own in agents.items():
        at = where.child(str(agent_id))
        if not isinstance(agent_id, str) or not agent_id or agent_id == "__all__":
            raise ConfigError(f"{at}: an agent id must be a non-empty string other than __all__")
        own = {} if own is None else own
        if not isinstance(own, Mapping):
            raise ConfigError(f"{at}: expected a mapping of this agent's settings")
        for key, value in own.items():
            if key == AGENTS:
                raise ConfigError(f"{at.child(key)}: agents cannot have agents of their own")
            if key in WORLD_KEYS and _differs(resolved[key], value):
                raise ConfigError(
                    f"{at.child(key)}: '{key}' sets up the world that every agent shares; "
                    f"set it once in {where.dotted.rsplit('.', 1)[0]}"
                )
        agent_class = _experiment_class({"type": resolved["type"], **own}, at)
        defaults = experiment_defaults(agent_class)
        base = shared
        if agent_class is not import_experiment(resolved["type"]):
            base = {key: value for key, value in shared.items() if key in defaults}
        _validate_against(own, defaults, at, "")
        merged = merge(defaults, merge(base, own))
        coerce_floats(merged, defaults)
        _validate_experiment_values(merged, at)
        result[agent_id] = merged
    return result


def _differs(shared: Any, own: Any) -> bool:
    """True if an agent's value of a world setting changes the shared one."""
    if isinstance(shared, Mapping) and isinstance(own, Mapping):
        return merge(shared, own) != shared
    return own != shared


def agent_experiment_configs(experiment: Mapping) -> dict[str, dict]:
    """Agent id -> its whole experiment section, from a resolved `env_config.experiment`
    (ConfigError if it declares no agents)."""
    agents = experiment.get(AGENTS)
    if not agents:
        raise ConfigError(
            "env_config.experiment.agents: a multi-agent env needs its agents declared, e.g. "
            "agents: {car_0: {}, car_1: {}}"
        )
    return {agent_id: dict(config) for agent_id, config in agents.items()}


def _validate_against(value: Mapping, defaults: Mapping, where: Where, dotted: str) -> None:
    """Unknown keys and types, checked against the defaults' own types."""
    reject_unknown(dict(value), list(defaults), where)
    for key, user in value.items():
        path = f"{dotted}.{key}" if dotted else key
        default = defaults[key]
        if path in EXPERIMENT_TYPES:
            check_type(user, EXPERIMENT_TYPES[path], where.child(key))
        elif isinstance(default, Mapping):
            if not isinstance(user, Mapping):
                raise ConfigError(f"{where.child(key)}: expected a mapping, got {type_name(user)}")
            if path not in OPEN_MAPPINGS:
                _validate_against(user, default, where.child(key), path)
        elif default is not None:
            check_type(user, default_type(default), where.child(key))


def _validate_experiment_values(config: dict, where: Where) -> None:
    hero = where.child("hero")
    for name, sensor in config["hero"]["sensors"].items():
        _validate_sensor(name, sensor, hero.child("sensors").child(name))
    points = config["hero"]["spawn_points"]
    for i, point in enumerate(points):
        parse_spawn_point(point, hero.child("spawn_points").child(str(i)))
    background = config["background_activity"]
    for key in ("n_vehicles", "n_walkers"):
        if background[key] < 0:
            raise ConfigError(f"{where.child('background_activity').child(key)}: must be >= 0")
    # The Traffic Manager's seed is a C int.
    check_range(background["seed"], 0, 2**31 - 1, where.child("background_activity").child("seed"))
    for key, (lowest, highest, unit) in ROUTE_RANGES.items():
        check_range(config["route"][key], lowest, highest, where.child("route").child(key), unit)
    town = config["town"]
    if isinstance(town, list):
        if not town or not all(isinstance(t, str) for t in town):
            raise ConfigError(f"{where.child('town')}: expected a town name or a list of names")
    if config["town_change_every"] < 1:
        raise ConfigError(f"{where.child('town_change_every')}: must be >= 1")
    if config["time_limit"] is not None and config["time_limit"] <= 0:
        raise ConfigError(f"{where.child('time_limit')}: must be > 0 seconds (or null: none)")
    _validate_weather(config["weather"], where.child("weather"))


# (lowest, highest, unit) of `experiment.route`; a lowest of 0.0 means "> 0".
ROUTE_RANGES: dict[str, tuple[float, float, str]] = {
    "deviation": (0.0, math.inf, "m"),
    "blocked_time": (0.0, math.inf, "s"),
    "timeout": (0.0, math.inf, "s"),
    "timeout_speed": (0.0, math.inf, "m/s"),
    "timeout_margin": (0, math.inf, "s"),
    "lane_margin": (0, math.inf, "m"),
}


def _validate_sensor(name: str, sensor: Any, where: Where) -> None:
    if not isinstance(sensor, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a 'type', got {type_name(sensor)}")
    sensor_type = sensor.get("type")
    if not isinstance(sensor_type, str):
        raise ConfigError(f"{where.child('type')}: missing; e.g. 'sensor.camera.rgb'")
    if ":" not in sensor_type and sensor_type not in known_sensor_types():
        raise ConfigError(
            f"{where.child('type')}: unknown sensor type '{sensor_type}'"
            + suggest(sensor_type, known_sensor_types())
        )
    if "transform" in sensor:
        parse_transform(sensor["transform"], where.child("transform"))
    for key, value in sensor.items():
        problem = attribute_problem(sensor_type, str(key), value)
        if problem:
            raise ConfigError(f"{where.child(str(key))}: {problem}")
    if ":" in sensor_type:
        cls = import_path(sensor_type, where.child("type"))
        if not (isinstance(cls, type) and issubclass(cls, PseudoSensor)):
            raise ConfigError(f"{where.child('type')}: '{sensor_type}' is not a PseudoSensor")
    else:
        cls = sensor_class(name, sensor_type)
    if issubclass(cls, PseudoSensor):
        try:
            cls.check_attributes(dict(sensor))
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None


def _validate_weather(weather: str | dict, where: Where) -> None:
    if isinstance(weather, str):
        if weather not in WEATHER_PRESETS:
            raise ConfigError(
                f"{where}: unknown weather preset '{weather}'" + suggest(weather, WEATHER_PRESETS)
            )
        return
    reject_unknown(weather, WEATHER_PARAMETERS, where)
    for key, value in weather.items():
        check_type(value, float, where.child(key))


# ---------------------------------------------------------------- helpers


def key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line of that key (or list item) in a YAML text; {} if the
    text is not a valid config."""
    try:
        return parse_yaml(text, "<text>")[1]
    except ConfigError:
        return {}
