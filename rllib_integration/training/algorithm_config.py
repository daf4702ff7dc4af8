"""Training file -> RLlib `AlgorithmConfig` of the named algorithm, checked before Ray starts.

`build_algorithm_config` maps each section onto the config method of the same name (every
keyword checked against that algorithm's method first), registers the env (wrapped for RLlib's
default networks, see observations.py), and `check_spaces` builds the network once, in this
process, for the experiment's spaces: a wrong action space for the algorithm or a network RLlib
cannot build for the observation (a 2-D Box, an image size without `conv_filters`) is one
`ConfigError` before any worker starts.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import gymnasium as gym

from rllib_integration.config import ConfigError
from rllib_integration.training.algorithms import (
    Algorithm,
    algorithm,
    check_action_space,
    config_class,
)
from rllib_integration.training.multi_agent import multi_agent_kwargs
from rllib_integration.training.observations import adapted_space, make_training_env
from rllib_integration.training.training_file import (
    CONFIG_SECTIONS,
    TrainingFile,
    env_class,
    is_multi_agent,
    module_class,
    reject_unknown,
    resolved_env_config,
    validate_sections,
)

ENV_NAME = "carla_rllib_env"


def file_algorithm(tf: TrainingFile) -> Algorithm:
    return algorithm(tf.raw.get("algorithm"), tf.where("algorithm"))


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


def validate(tf: TrainingFile) -> None:
    """Shape, plus every RLlib keyword checked against the algorithm's config methods."""
    validate_sections(tf)
    algo = file_algorithm(tf)
    cls = config_class(algo)
    for name in (*CONFIG_SECTIONS, "multi_agent"):
        note = f" (not a keyword of {cls.__name__}.{name}() in RLlib's current API stack)"
        reject_unknown(tf, name, sorted(_accepted_keywords(cls, name)), note)


def env_factory(tf: TrainingFile) -> functools.partial:
    """`factory(env_config, **kwargs)` makes the env as RLlib's workers do (adapted or not;
    a multi-agent env's per-agent observations are never adapted)."""
    adapt = module_class(tf) is None and not is_multi_agent(tf)
    return functools.partial(make_training_env, env_class=env_class(tf), adapt=adapt)


def build_algorithm_config(tf: TrainingFile, callbacks: tuple[type, ...] = ()) -> Any:
    """The RLlib AlgorithmConfig for the file (validated; RLlib imported, Ray not started)."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from rllib_integration.training.fatal_errors import StopOnFatalError
    from rllib_integration.training.metrics import EpisodeMetrics

    validate(tf)
    algo = file_algorithm(tf)
    config = config_class(algo)().framework("torch")
    register_env(ENV_NAME, env_factory(tf))
    env_config = resolved_env_config(tf)
    config.environment(ENV_NAME, env_config=env_config)
    policies: list[str] = []
    if is_multi_agent(tf):
        where = tf.where("multi_agent")
        kwargs = multi_agent_kwargs(tf.section("multi_agent"), env_config, where)
        policies = sorted(kwargs["policies"])
        try:
            config.multi_agent(**kwargs)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None
    for name in CONFIG_SECTIONS:
        kwargs = copy.deepcopy(tf.section(name))
        if kwargs:
            try:
                getattr(config, name)(**kwargs)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{tf.where(name)}: {error}") from None
    rl_module = tf.section("rl_module")
    model_config = copy.deepcopy(rl_module.get("model_config") or {})
    module = module_class(tf)
    if module is not None and policies:
        # One module of your class per policy (each with its own weights).
        specs = {policy: RLModuleSpec(module_class=module) for policy in policies}
        config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
    elif module is not None:
        # No model_config in the spec itself, or RLlib drops DQN's epsilon/double_q (P6).
        config.rl_module(rl_module_spec=RLModuleSpec(module_class=module))
    config.rl_module(model_config=model_config)
    config.callbacks([EpisodeMetrics, StopOnFatalError, *callbacks])
    try:
        config.validate()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{tf.source}: {error}") from None
    return config


def check_spaces(
    tf: TrainingFile,
    config: Any,
    observation_space: gym.Space,
    action_space: gym.Space,
    owner: str,
    policy: str | None = None,
) -> None:
    """The algorithm fits the action space, and the network builds for these spaces (of
    `policy`'s network, for an agent of a multi-agent file).

    `owner` names where the spaces come from in messages, e.g. "LaneKeeping.get_action_space()".
    """
    algo = file_algorithm(tf)
    check_action_space(algo, action_space, owner, tf.where("algorithm"))
    seen = observation_space
    if module_class(tf) is None:
        seen = adapted_space(observation_space) or observation_space
    probe = copy.deepcopy(config).environment(observation_space=seen, action_space=action_space)
    try:
        with _quiet("ray.rllib"):
            if policy is not None:  # the agent's policy's module, for its spaces
                spec = probe.get_multi_rl_module_spec(spaces={policy: (seen, action_space)})
                spec.rl_module_specs = {policy: spec.rl_module_specs[policy]}
                spec.build()
            else:
                probe.get_rl_module_spec().build()
    except Exception as error:  # RLlib raises ValueError, NotImplementedError, TypeError...
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ConfigError(
            f"{tf.where('rl_module')}: no network for observations {seen} and actions "
            f"{action_space}: {message}"
        ) from None


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a logger's warnings (RLlib warns about catalogs on every module build)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
