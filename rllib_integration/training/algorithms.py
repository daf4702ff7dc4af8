"""The RLlib algorithms the trainer runs (current API stack) and the action spaces each can act in.

The check runs before Ray starts, on the spaces the experiment declares, so a mismatch is one
line ("DQN needs a Discrete action space; ... returns Box(...)") instead of an error deep inside
an env runner. Nothing here imports Ray until `config_class` is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from rllib_integration.config import ConfigError
from rllib_integration.defaults import Where, suggest


def _float_vector(space: spaces.Space) -> bool:
    return (
        isinstance(space, spaces.Box)
        and len(space.shape) == 1
        and np.issubdtype(space.dtype, np.floating)
    )


def _discrete(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Discrete)


def _distribution_space(space: spaces.Space) -> bool:
    """What RLlib's default catalogs build an action distribution for."""
    if isinstance(space, spaces.Dict):
        return all(_distribution_space(s) for s in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return all(_distribution_space(s) for s in space.spaces)
    return _float_vector(space) or isinstance(space, spaces.Discrete | spaces.MultiDiscrete)


@dataclass(frozen=True)
class Algorithm:
    name: str
    module: str  # where RLlib defines its config class
    config_class: str
    # What the action space may be, in words, and the check.
    actions: str
    fits: Callable[[spaces.Space], bool]


_POLICY_GRADIENT = (
    "a Discrete, MultiDiscrete or 1-D float Box action space (or a Dict/Tuple of those)"
)
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("PPO", "ray.rllib.algorithms.ppo", "PPOConfig", _POLICY_GRADIENT, _distribution_space),
        Algorithm("APPO", "ray.rllib.algorithms.appo", "APPOConfig", _POLICY_GRADIENT, _distribution_space),
        Algorithm("IMPALA", "ray.rllib.algorithms.impala", "IMPALAConfig", _POLICY_GRADIENT, _distribution_space),
        Algorithm("DQN", "ray.rllib.algorithms.dqn", "DQNConfig", "a Discrete action space", _discrete),
        Algorithm(
            "SAC",
            "ray.rllib.algorithms.sac",
            "SACConfig",
            "a 1-D float Box or a Discrete action space",
            lambda s: _float_vector(s) or _discrete(s),
        ),
    )
}  # fmt: skip
# RLlib's algorithms that learn from recorded data, not from an env.
OFFLINE = ("BC", "CQL", "IQL", "MARWIL")


def algorithm(name: object, where: Where) -> Algorithm:
    """The algorithm named in the file; ConfigError with the valid names otherwise."""
    if name is None:
        raise ConfigError(
            f"{where}: missing; name the RLlib algorithm, one of {', '.join(ALGORITHMS)}"
        )
    if not isinstance(name, str) or name.upper() not in ALGORITHMS:
        if isinstance(name, str) and name.upper() in OFFLINE:
            raise ConfigError(
                f"{where}: {name} learns offline from recorded data, not from an env; "
                f"use one of {', '.join(ALGORITHMS)}"
            )
        raise ConfigError(
            f"{where}: unknown algorithm {name!r}" + suggest(str(name).upper(), ALGORITHMS)
        )
    return ALGORITHMS[name.upper()]


def config_class(algo: Algorithm) -> type:
    """RLlib's AlgorithmConfig subclass of the algorithm (imports RLlib)."""
    return getattr(importlib.import_module(algo.module), algo.config_class)


def check_action_space(algo: Algorithm, space: spaces.Space, source: str, where: Where) -> None:
    """ConfigError (one line) when the algorithm cannot act in the experiment's action space."""
    if algo.fits(space):
        return
    others = [a.name for a in ALGORITHMS.values() if a.fits(space)]
    hint = f"; {', '.join(others)} can" if others else ""
    raise ConfigError(
        f"{where}: {algo.name} needs {algo.actions}, but {source} returns {space}{hint}"
    )
