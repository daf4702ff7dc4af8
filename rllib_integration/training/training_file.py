"""YAML training file -> RLlib `DQNConfig` + Tune run settings.

The YAML's top level maps one-to-one onto `AlgorithmConfig` methods of RLlib's current API
stack, so RLlib's own documentation of each keyword applies unchanged:

    env_runners: {...}      -> config.env_runners(**...)
    training: {...}         -> config.training(**...)
    learners: {...}         -> config.learners(**...)
    resources: {...}        -> config.resources(**...)
    reporting, fault_tolerance, evaluation, debugging       (same rule)
    framework: torch        -> config.framework("torch") (the only supported value)
    rl_module: {model_config: {...}}  -> the Q-network (`qnet.QNetSpec` keys + RLlib's)
    env: package.module:Class         -> the env class (default: CarlaEnv)
    env_config: {carla: {...}, experiment: {...}}  -> passed to the env as is
    stop: {timesteps, time_s, episode_return, iterations}   -> Tune stop criteria
    checkpoint: {frequency, keep}                          -> Tune checkpointing

Unknown sections and unknown keywords are rejected with one `ConfigError` (the library's)
naming the file, the line and the key, as the library's own config errors do; the file is read
with the library's loader. Nothing here starts Ray; building the config only imports RLlib.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllib_integration.config import (
    ConfigError,
    apply_override,
    key_lines,
    load_yaml,
    resolve_env_config,
    yaml_numbers,
)
from rllib_integration.config import (  # the scripts' --set option, re-exported
    add_override_argument as add_override_argument,
)
from rllib_integration.defaults import Where, import_path, suggest, type_name

DEFAULT_ENV = "rllib_integration.carla_env:CarlaEnv"
CONFIG_SECTIONS = (
    "env_runners",
    "training",
    "learners",
    "resources",
    "reporting",
    "fault_tolerance",
    "evaluation",
    "debugging",
)
RUN_KEYS = ("stop", "checkpoint")
OTHER_KEYS = ("framework", "rl_module", "env", "env_config")
# Tune result keys of RLlib's current stack (old names are silently ignored by Tune, rllib.md P8).
STOP_METRICS = {
    "timesteps": "num_env_steps_sampled_lifetime",
    "time_s": "time_total_s",
    "episode_return": "env_runners/episode_return_mean",
    "iterations": "training_iteration",
}


@dataclass
class RunSettings:
    """What Tune needs besides the algorithm config."""

    stop: dict[str, float] = field(default_factory=dict)
    checkpoint_frequency: int = 10
    checkpoints_to_keep: int = 3


@dataclass
class TrainingFile:
    source: str
    raw: dict[str, Any]
    # Dotted key -> its line in the file (keys set by --set have none).
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, dotted: str) -> Where:
        """'<file>:<line>: <dotted>' for messages."""
        return Where(self.source, dotted, self.lines)


def load_training_file(path: Path) -> TrainingFile:
    raw = load_yaml(path)  # the library's loader: its errors name the file (and line)
    return TrainingFile(str(path), yaml_numbers(raw), key_lines(Path(path).read_text()))


def apply_overrides(training_file: TrainingFile, overrides: list[str]) -> None:
    """Applies `section.key=value` overrides (value parsed as YAML) in place."""
    for item in overrides:
        key = apply_override(training_file.raw, item)
        # The file's lines no longer locate this key's value (or anything below it).
        for dotted in [d for d in training_file.lines if d == key or d.startswith(key + ".")]:
            del training_file.lines[dotted]


def env_class(tf: TrainingFile) -> type:
    """The env class named by `env:` (default: CarlaEnv)."""
    return import_path(tf.raw.get("env", DEFAULT_ENV), tf.where("env"))


def _accepted_keywords(config_cls: type, method: str) -> set[str]:
    names: set[str] = set()
    for cls in config_cls.__mro__:
        function = cls.__dict__.get(method)
        if function is None:
            continue
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind is parameter.KEYWORD_ONLY or (
                parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.name != "self"
            ):
                names.add(parameter.name)
    return names


def _section(tf: TrainingFile, name: str) -> dict[str, Any]:
    value = tf.raw.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{tf.where(name)}: must be a mapping, got {type_name(value)}")
    return value


def _reject_unknown(tf: TrainingFile, section: str, known: Any, note: str = "") -> None:
    known = list(known)
    for key in _section(tf, section):
        if key not in known:
            raise ConfigError(
                f"{tf.where(f'{section}.{key}')}: unknown key{note}" + suggest(str(key), known)
            )


def validate_sections(tf: TrainingFile) -> None:
    """The file's shape: known sections, stop/checkpoint keys (no Ray import)."""
    known = CONFIG_SECTIONS + RUN_KEYS + OTHER_KEYS
    for key in tf.raw:
        if key not in known:
            raise ConfigError(f"{tf.where(str(key))}: unknown top-level key" + suggest(key, known))
    for name in CONFIG_SECTIONS + RUN_KEYS + ("rl_module", "env_config"):
        _section(tf, name)
    framework = tf.raw.get("framework", "torch")
    if framework != "torch":
        raise ConfigError(f"{tf.where('framework')}: '{framework}' is not supported, use 'torch'")
    _reject_unknown(tf, "rl_module", ["model_config"])
    _reject_unknown(tf, "stop", STOP_METRICS)
    _reject_unknown(tf, "checkpoint", ["frequency", "keep"])


def validate(tf: TrainingFile) -> None:
    """Shape, plus every RLlib keyword checked against DQNConfig's methods."""
    from ray.rllib.algorithms.dqn import DQNConfig

    validate_sections(tf)
    for name in CONFIG_SECTIONS:
        note = f" (not a keyword of DQNConfig.{name}() in RLlib's current API stack)"
        _reject_unknown(tf, name, sorted(_accepted_keywords(DQNConfig, name)), note)


def run_settings(tf: TrainingFile) -> RunSettings:
    validate_sections(tf)
    settings = RunSettings()
    for key, value in _section(tf, "stop").items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{tf.where(f'stop.{key}')}: must be a number, got {value!r}")
        settings.stop[STOP_METRICS[key]] = value
    checkpoint = _section(tf, "checkpoint")
    for key, attr in (("frequency", "checkpoint_frequency"), ("keep", "checkpoints_to_keep")):
        if key in checkpoint:
            value = checkpoint[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{tf.where(f'checkpoint.{key}')}: must be an integer >= 1")
            setattr(settings, attr, value)
    return settings


def resolved_env_config(tf: TrainingFile) -> dict:
    """`env_config` merged over the library's and the experiment's defaults, when the env is
    CarlaEnv (so a bad key fails here, with the file named, not later inside an env runner)."""
    env_config = copy.deepcopy(_section(tf, "env_config"))
    if tf.raw.get("env", DEFAULT_ENV) != DEFAULT_ENV:
        return env_config
    return resolve_env_config(env_config, source=tf.source, lines=tf.lines)


def build_algorithm_config(tf: TrainingFile, callbacks: type | None = None):
    """Returns an RLlib `DQNConfig` for the file (validated first)."""
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from dqn_example.dqn_module import BirdViewDQNModule

    validate(tf)
    env_cls = env_class(tf)
    config = DQNConfig().framework("torch")
    config.environment(env_cls, env_config=resolved_env_config(tf))
    for name in CONFIG_SECTIONS:
        kwargs = copy.deepcopy(_section(tf, name))
        if name == "training":
            # Dueling is inside our QNet; RLlib's own dueling/distributional heads are off.
            kwargs.setdefault("dueling", False)
            kwargs.setdefault("num_atoms", 1)
        if kwargs or name == "training":
            try:
                getattr(config, name)(**kwargs)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{tf.where(name)}: {error}") from None
    model_config = copy.deepcopy(_section(tf, "rl_module").get("model_config") or {})
    # No model_config in the spec itself, or RLlib drops epsilon/double_q (rllib.md P6).
    config.rl_module(
        rl_module_spec=RLModuleSpec(module_class=BirdViewDQNModule), model_config=model_config
    )
    if callbacks is not None:
        config.callbacks(callbacks)
    try:
        config.validate()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{tf.source}: {error}") from None
    return config
