"""Who drives during an evaluation: a policy turns an observation into an action.

- ``autopilot``: CARLA's Traffic Manager drives the hero along the route (the env ignores the
  actions; a reference score, and a check of the metrics).
- ``rllib``: the RLModule of an RLlib checkpoint (any algorithm of the current API stack),
  greedy: its actions, or the most likely action of its action distribution.
- ``package.module:function``: your own, e.g. a network exported for inference without Ray;
  ``function(checkpoint, env)`` returns the policy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rllib_integration.training import checkpoints
from rllib_integration.training.observations import AdaptObservations, adapted_space
from rllib_integration.training.training_file import TrainingFile

Policy = Callable[[Any], Any]
AUTOPILOT, RLLIB = "autopilot", "rllib"
_MODULE_FILE = "class_and_ctor_args.pkl"  # what every saved RLModule folder has


class AgentError(ValueError):
    """The agent cannot be built: a missing checkpoint, a bad import path."""


def make_policy(
    agent: str, checkpoint: Path | None, env: Any, training_file: TrainingFile | None = None
) -> Policy:
    """The policy of `agent`; an RLlib checkpoint acts as the `training_file` trained it (see
    `trained_policy`)."""
    if agent == AUTOPILOT:
        space = env.action_space
        space.seed(0)
        return lambda observation: space.sample()  # any valid action: the env ignores it
    if checkpoint is None:
        raise AgentError(f"--agent {agent} needs a CHECKPOINT")
    if not checkpoint.exists():
        raise AgentError(f"no checkpoint {str(checkpoint)!r}")
    if agent == RLLIB:
        return trained_policy(checkpoint, env, training_file)
    module_name, _, function_name = agent.partition(":")
    if not function_name:
        raise AgentError(
            f"--agent {agent!r}: expected {AUTOPILOT}, {RLLIB} or package.module:function"
        )
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise AgentError(f"--agent {agent!r}: cannot import it ({error})") from None
    return factory(checkpoint, env)


def module_dir(checkpoint: Path) -> Path:
    """The RLModule folder of an algorithm checkpoint, or the checkpoint if it is one."""
    default_policy = checkpoints.module_dir(checkpoint)  # absolute, as RLlib needs
    for candidate in (default_policy, checkpoint.resolve()):
        if (candidate / _MODULE_FILE).is_file():
            return candidate
    raise AgentError(
        f"no RLModule in {str(checkpoint)!r}: expected an RLlib checkpoint folder (with "
        f"{checkpoints.RL_MODULES / checkpoints.SINGLE_MODULE}) or a saved RLModule"
    )


def trained_policy(checkpoint: Path, env: Any, training_file: TrainingFile | None) -> Policy:
    """The checkpoint's greedy policy on `env`'s observations, as the generic trainer's env
    runners ran it: observations adapted for RLlib's default network (unless the training file
    names its own `rl_module.module_class`), continuous actions unsquashed or clipped into the
    action space as the file's algorithm config says (RLlib's defaults without one)."""
    from rllib_integration.training.policy import load_policy

    folder = module_dir(checkpoint)  # a clear error before RLlib is imported
    normalize, clip = True, False  # RLlib's defaults
    if training_file is not None and training_file.raw.get("algorithm") is not None:
        from rllib_integration.training.algorithm_config import build_algorithm_config

        config = build_algorithm_config(training_file)
        normalize, clip = config.normalize_actions, config.clip_actions
    act = load_policy(folder, env.action_space, normalize, clip)
    own_module = training_file is not None and training_file.section("rl_module").get(
        "module_class"
    )
    if own_module or adapted_space(env.observation_space) is None:
        return act
    adapt = AdaptObservations(env).observation
    return lambda observation: act(adapt(observation))
