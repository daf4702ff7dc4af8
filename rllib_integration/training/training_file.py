"""A training YAML file: which algorithm, RLlib's `AlgorithmConfig` sections, Tune's run settings
and the env's `env_config`.

The top level maps one-to-one onto `AlgorithmConfig` methods of RLlib's current API stack, so
RLlib's own documentation of each keyword applies unchanged:

    algorithm: PPO           -> the algorithm (PPO, APPO, IMPALA, DQN, SAC; see algorithms.py)
    env_runners: {...}       -> config.env_runners(**...)
    training: {...}          -> config.training(**...)
    learners, resources, reporting, fault_tolerance, evaluation, debugging   (same rule)
    framework: torch         -> the only supported value
    rl_module: {model_config: {...}, module_class: package.module:Class}
                             -> RLlib's default network sized by model_config, or your RLModule
    env: package.module:Class            -> the env class (default: CarlaEnv)
    env_config: {carla: {...}, experiment: {...}}   -> passed to the env
    multi_agent: {policies, policy_mapping_fn, ...} -> config.multi_agent(...) for
                                MultiAgentCarlaEnv (see multi_agent.py): which policy drives
                                which agent
    python_path: [dir, ...]  -> folders (relative to this file) the driver and Ray's workers import
                                your code from, besides the ones found automatically
    stop: {timesteps, time_s, episode_return, iterations}   -> Tune stop criteria
    checkpoint: {frequency, keep}                          -> Tune checkpointing

Every unknown key is one `ConfigError` naming the file, the line and the closest valid key, as
the library's own config errors do. Nothing here imports Ray.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllib_integration.config import (
    ConfigError,
    apply_override,
    load_yaml_and_lines,
    resolve_env_config,
)
from rllib_integration.config import (  # the scripts' --set option, re-exported
    add_override_argument as add_override_argument,
)
from rllib_integration.defaults import Where, import_path, suggest, type_name
from rllib_integration.training.multi_agent import MULTI_AGENT_ENV, agent_policies
from rllib_integration.training.value_checks import check_values

DEFAULT_ENV = "rllib_integration.carla_env:CarlaEnv"
# The library's envs: their env_config is resolved (validated) before Ray starts.
LIBRARY_ENVS = (DEFAULT_ENV, MULTI_AGENT_ENV)
# The same envs without RLlib's base class, for running a policy where Ray is not wanted.
RAY_FREE_ENVS = {MULTI_AGENT_ENV: "rllib_integration.agents_env:CarlaAgentsEnv"}
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
OTHER_KEYS = (
    "algorithm",
    "framework",
    "rl_module",
    "env",
    "env_config",
    "multi_agent",
    "python_path",
)
RL_MODULE_KEYS = ("model_config", "module_class")
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

    @property
    def folder(self) -> Path:
        return Path(self.source).resolve().parent

    def section(self, name: str) -> dict[str, Any]:
        """A mapping section (empty if absent); ConfigError if it is not a mapping."""
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where(name)}: must be a mapping, got {type_name(value)}")
        return value


def load_training_file(path: Path) -> TrainingFile:
    raw, lines = load_yaml_and_lines(path)  # the library's loader: errors name file and line
    return TrainingFile(str(path), raw, lines)


def apply_overrides(training_file: TrainingFile, overrides: list[str]) -> None:
    """Applies `section.key=value` overrides (value parsed as YAML) in place."""
    for item in overrides:
        key = apply_override(training_file.raw, item)
        # The file's lines no longer locate this key's value (or anything below it).
        for dotted in [d for d in training_file.lines if d == key or d.startswith(key + ".")]:
            del training_file.lines[dotted]


def env_class(tf: TrainingFile, ray_free: bool = False) -> type:
    """The env class named by `env:` (default: CarlaEnv); with `ray_free`, the library's
    multi-agent env without RLlib's MultiAgentEnv base (importing it imports no Ray)."""
    name = tf.raw.get("env", DEFAULT_ENV)
    return import_path(RAY_FREE_ENVS.get(name, name) if ray_free else name, tf.where("env"))


def is_multi_agent(tf: TrainingFile) -> bool:
    """A file for MultiAgentCarlaEnv (or any env given a `multi_agent:` section)."""
    return tf.raw.get("env") == MULTI_AGENT_ENV or "multi_agent" in tf.raw


def policy_of_agents(tf: TrainingFile, env_config: dict) -> dict[str, str]:
    """Agent id -> the id of the policy (RLModule) that drives it, for a multi-agent file."""
    return agent_policies(tf.section("multi_agent"), env_config, tf.where("multi_agent"))


def module_class(tf: TrainingFile) -> type | None:
    """Your RLModule class named by `rl_module.module_class`, or None for RLlib's default."""
    path = tf.section("rl_module").get("module_class")
    return None if path is None else import_path(path, tf.where("rl_module.module_class"))


def reject_unknown(tf: TrainingFile, section: str, known: Any, note: str = "") -> None:
    known = list(known)
    for key in tf.section(section):
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
    for name in CONFIG_SECTIONS + RUN_KEYS + ("rl_module", "env_config", "multi_agent"):
        tf.section(name)
    framework = tf.raw.get("framework", "torch")
    if framework != "torch":
        raise ConfigError(f"{tf.where('framework')}: '{framework}' is not supported, use 'torch'")
    reject_unknown(tf, "rl_module", RL_MODULE_KEYS)
    reject_unknown(tf, "stop", STOP_METRICS)
    reject_unknown(tf, "checkpoint", ["frequency", "keep"])
    python_path(tf)
    check_values(tf.raw, tf.where)


def python_path(tf: TrainingFile) -> list[Path]:
    """`python_path:` as absolute folders (relative entries are relative to the file)."""
    entries = tf.raw.get("python_path") or []
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError(f"{tf.where('python_path')}: expected a folder or a list of folders")
    folders = []
    for index, entry in enumerate(entries):
        folder = (tf.folder / Path(entry).expanduser()).resolve()
        if not folder.is_dir():
            raise ConfigError(f"{tf.where(f'python_path.{index}')}: no folder {folder}")
        folders.append(folder)
    return folders


def run_settings(tf: TrainingFile) -> RunSettings:
    validate_sections(tf)
    settings = RunSettings()
    for key, value in tf.section("stop").items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{tf.where(f'stop.{key}')}: must be a number, got {value!r}")
        settings.stop[STOP_METRICS[key]] = value
    checkpoint = tf.section("checkpoint")
    for key, attr in (("frequency", "checkpoint_frequency"), ("keep", "checkpoints_to_keep")):
        if key in checkpoint:
            value = checkpoint[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{tf.where(f'checkpoint.{key}')}: must be an integer >= 1")
            setattr(settings, attr, value)
    return settings


def resolved_env_config(tf: TrainingFile) -> dict:
    """`env_config` merged over the library's and the experiment's defaults, when the env is
    one of the library's (so a bad key fails here, with the file and line named, not later
    inside an env runner); a multi-agent file's agents must each map to a declared policy."""
    env_config = copy.deepcopy(tf.section("env_config"))
    if tf.raw.get("env", DEFAULT_ENV) not in LIBRARY_ENVS:
        return env_config
    env_config = resolve_env_config(env_config, source=tf.source, lines=tf.lines)
    if is_multi_agent(tf):
        policy_of_agents(tf, env_config)
    return env_config
