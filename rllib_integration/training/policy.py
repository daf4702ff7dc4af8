"""A trained policy from an RLlib checkpoint, as a function observation -> greedy action, with
its actions mapped into the env's action space the way RLlib's env runners map them.

The module's greedy action comes from `evaluate.agents.rllib_policy` (its actions, or the
deterministic sample of its action distribution). Continuous actions of the default networks are
in [-1, 1] when the algorithm normalizes actions (`env_runners.normalize_actions`, RLlib's
default): they are unsquashed into the action space's bounds (and clipped); with
`clip_actions` they are clipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
from ray.rllib.utils.spaces.space_utils import clip_action, unsquash_action

from rllib_integration.evaluate.agents import rllib_policy


def load_policy(
    checkpoint: Path,
    action_space: gym.Space,
    normalize_actions: bool = True,
    clip_actions: bool = False,
) -> Callable[[Any], Any]:
    greedy = rllib_policy(Path(checkpoint))

    def act(observation: Any) -> Any:
        action = greedy(observation)
        if normalize_actions:
            return unsquash_action(action, action_space)
        if clip_actions:
            return clip_action(action, action_space)
        return action

    return act
