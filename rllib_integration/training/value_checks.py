"""Values of a training file that can be known wrong before Ray starts.

RLlib checks few values before its workers run: a NaN learning rate trains on NaN tensors
forever, `num_env_runners: -3` or a replay `capacity: -1` fail inside Ray with long tracebacks,
and `stop.timesteps: -5` stops nothing. Here every number of the file must be finite, and the
keywords below must be within their range, each error one `ConfigError` at the file and line.
A keyword's other forms that RLlib accepts (None, "auto", a schedule list) pass through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rllib_integration.config import ConfigError
from rllib_integration.defaults import check_range


@dataclass(frozen=True)
class Rule:
    lowest: float  # a float 0.0 means "> 0" (see defaults.check_range)
    highest: float = math.inf
    also: tuple[Any, ...] = ()  # other accepted values; `list` accepts any list (a schedule)


_COUNT = Rule(0)
_POSITIVE_COUNT = Rule(1)
_SECONDS = Rule(0.0, also=(None,))

RULES: dict[str, Rule] = {
    "env_runners.num_env_runners": _COUNT,
    "env_runners.num_envs_per_env_runner": _POSITIVE_COUNT,
    "env_runners.num_cpus_per_env_runner": Rule(0),
    "env_runners.num_gpus_per_env_runner": Rule(0),
    "env_runners.rollout_fragment_length": Rule(1, also=("auto",)),
    "env_runners.sample_timeout_s": _SECONDS,
    "learners.num_learners": _COUNT,
    "learners.num_cpus_per_learner": Rule(0, also=("auto",)),
    "learners.num_gpus_per_learner": Rule(0),
    "resources.num_cpus_for_main_process": Rule(0),
    "training.lr": Rule(0.0, also=(list,)),
    "training.gamma": Rule(0, 1),
    "training.train_batch_size": _POSITIVE_COUNT,
    "training.train_batch_size_per_learner": Rule(1, also=(None,)),
    "training.minibatch_size": Rule(1, also=(None,)),
    "training.num_epochs": _POSITIVE_COUNT,
    "training.grad_clip": Rule(0.0, also=(None,)),
    "training.n_step": Rule(1, also=(list,)),
    "training.num_steps_sampled_before_learning_starts": _COUNT,
    "training.target_network_update_freq": _COUNT,
    "training.replay_buffer_config.capacity": _POSITIVE_COUNT,
    "reporting.min_sample_timesteps_per_iteration": _COUNT,
    "reporting.min_time_s_per_iteration": Rule(0, also=(None,)),
    "reporting.metrics_num_episodes_for_smoothing": _POSITIVE_COUNT,
    "fault_tolerance.delay_between_env_runner_restarts_s": Rule(0),
    "fault_tolerance.max_num_env_runner_restarts": _COUNT,
    "evaluation.evaluation_interval": Rule(1, also=(None,)),
    "evaluation.evaluation_num_env_runners": _COUNT,
    # Tune's stop criteria: a limit at or below zero would stop (or never start) at once.
    "stop.timesteps": Rule(0.0),
    "stop.time_s": Rule(0.0),
    "stop.iterations": Rule(0.0),
}


def check_values(raw: Mapping, where: Any) -> None:
    """Every number finite, and the keywords of RULES in range. `where(dotted)` locates a key."""
    _check_finite(raw, "", where)
    for dotted, rule in RULES.items():
        found, value = _lookup(raw, dotted)
        if not found or _also(value, rule.also):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where(dotted)}: must be a number, got {value!r}")
        check_range(value, rule.lowest, rule.highest, where(dotted))


def _check_finite(node: Any, dotted: str, where: Any) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{where(dotted)}: must be a finite number, got {node}")
    items: Iterable[tuple[Any, Any]] = node.items() if isinstance(node, Mapping) else []
    if isinstance(node, list):
        items = enumerate(node)
    for key, item in items:
        _check_finite(item, f"{dotted}.{key}" if dotted else str(key), where)


def _lookup(raw: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _also(value: Any, also: tuple[Any, ...]) -> bool:
    return any(isinstance(value, a) if isinstance(a, type) else value == a for a in also)
