"""Observations as RLlib's default networks take them: a float32 vector (MLP) or image (CNN).

An experiment declares whatever space suits its task; RLlib's default encoders take a 1-D float
vector or an H x W x C float image, and cast nothing (rllib.md P1). When the trainer uses RLlib's
default network, the env is wrapped in `AdaptObservations`, in training and at inference alike:

- a Dict or Tuple observation becomes one float32 vector (`gymnasium.spaces.flatten`, Discrete
  parts one-hot), its uint8 images scaled to [0, 1] first;
- a uint8 image (a Box of 0..255) becomes float32 in [0, 1];
- a float64 Box becomes float32.

With your own RLModule (`rl_module.module_class`) nothing is adapted. Ray-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def _is_image(space: spaces.Space) -> bool:
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and bool(np.all(space.low == 0))
        and bool(np.all(space.high == 255))
    )


def _scaled_space(space: spaces.Space) -> spaces.Space:
    """`space` with its uint8 images as float32 in [0, 1]."""
    if _is_image(space):
        return spaces.Box(0.0, 1.0, space.shape, np.float32)
    if isinstance(space, spaces.Dict):
        return spaces.Dict({key: _scaled_space(s) for key, s in space.spaces.items()})
    if isinstance(space, spaces.Tuple):
        return spaces.Tuple([_scaled_space(s) for s in space.spaces])
    return space


def _scaled(space: spaces.Space, value: Any) -> Any:
    if _is_image(space):
        return np.asarray(value, np.float32) / np.float32(255.0)
    if isinstance(space, spaces.Dict):
        return {key: _scaled(s, value[key]) for key, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_scaled(s, v) for s, v in zip(space.spaces, value, strict=True))
    return value


def _float32_box(space: spaces.Box) -> spaces.Box:
    low = np.asarray(space.low, np.float64).clip(np.finfo(np.float32).min, None)
    high = np.asarray(space.high, np.float64).clip(None, np.finfo(np.float32).max)
    return spaces.Box(low.astype(np.float32), high.astype(np.float32), space.shape, np.float32)


def adapted_space(space: spaces.Space) -> spaces.Space | None:
    """The space the default network sees, or None when `space` needs no adapting."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        # A Dict or Tuple of boxes and discrete spaces flattens to a Box.
        return _float32_box(cast(spaces.Box, spaces.flatten_space(_scaled_space(space))))
    if _is_image(space):
        return _scaled_space(space)
    if isinstance(space, spaces.Box) and space.dtype != np.float32:
        return _float32_box(space)
    return None


class AdaptObservations(gym.ObservationWrapper):
    """The env with its observations adapted for RLlib's default networks (module docstring)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        adapted = adapted_space(env.observation_space)
        if adapted is None:
            raise ValueError(f"{env.observation_space} needs no adapting")
        self._source = env.observation_space
        self.observation_space = adapted

    def observation(self, observation: Any) -> np.ndarray:
        source = self._source
        if isinstance(source, spaces.Dict | spaces.Tuple):
            flat = spaces.flatten(_scaled_space(source), _scaled(source, observation))
            return np.asarray(flat, np.float32)
        if _is_image(source):
            return _scaled(source, observation)
        return np.asarray(observation, np.float32)


def make_training_env(
    env_config: Mapping, env_class: Callable[..., gym.Env], adapt: bool, **env_kwargs: Any
) -> gym.Env:
    """`env_class(env_config)`, wrapped in AdaptObservations when `adapt` and it needs it.

    `env_config` is passed on as given (RLlib's EnvContext carries the worker index)."""
    env = env_class(env_config, **env_kwargs)
    if adapt and adapted_space(env.observation_space) is not None:
        return AdaptObservations(env)
    return env
