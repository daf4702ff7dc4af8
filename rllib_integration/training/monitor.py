"""Tune callback of `dqn_train.py`: one readable line per iteration, and checkpoint upkeep.

Runs in the driver. On every checkpoint Tune has registered, it exports the Q-network for
Ray-free inference next to it (`<checkpoint>/qnet/`) and then moves the experiment's
`latest_checkpoint.json` pointer to it (atomic, see `checkpoints.py`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ray import tune
from ray.rllib.core import (
    COMPONENT_LEARNER,
    COMPONENT_LEARNER_GROUP,
    COMPONENT_RL_MODULE,
    DEFAULT_MODULE_ID,
)

from dqn_example.checkpoints import EXPORT_DIR, write_latest
from dqn_example.qnet import save_qnet


def export_qnet(checkpoint: Path) -> Path:
    """Writes `<checkpoint>/qnet/` (state dict + spec) from an RLlib checkpoint."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    checkpoint = Path(os.path.abspath(checkpoint))  # RLModule needs absolute paths (P9)
    module_dir = (
        checkpoint
        / COMPONENT_LEARNER_GROUP
        / COMPONENT_LEARNER
        / COMPONENT_RL_MODULE
        / DEFAULT_MODULE_ID
    )
    module = RLModule.from_checkpoint(str(module_dir))
    return save_qnet(module.qnet, checkpoint / EXPORT_DIR)


def _get(result: dict, path: str) -> Any:
    node: Any = result
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def progress_line(result: dict) -> str:
    sampled = _get(result, "env_runners/num_env_steps_sampled") or 0
    seconds = result.get("time_this_iter_s") or 0.0
    rate = sampled / seconds if seconds else None
    return (
        f"iter {result.get('training_iteration', '?'):>4} | "
        f"env steps {_fmt(result.get('num_env_steps_sampled_lifetime'), ',.0f')} | "
        f"episodes {_fmt(_get(result, 'env_runners/num_episodes_lifetime'), ',.0f')} | "
        f"return {_fmt(_get(result, 'env_runners/episode_return_mean'), '.2f')} | "
        f"route completion {_fmt(_get(result, 'env_runners/route_completion'), '.0%')} | "
        f"speed {_fmt(_get(result, 'env_runners/mean_speed'), '.1f')} km/h | "
        f"{_fmt(rate, '.1f')} steps/s | "
        f"{_fmt(result.get('time_total_s'), '.0f')} s"
    )


class TrainingMonitor(tune.Callback):
    def __init__(self, experiment_dir: Path, stream: TextIO = sys.stdout) -> None:
        self.experiment_dir = Path(experiment_dir)
        self.stream = stream
        self.last_result: dict = {}
        self.last_checkpoint: Path | None = None

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.last_result = result
        print(progress_line(result), file=self.stream, flush=True)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        path = Path(checkpoint.path)
        export_qnet(path)
        write_latest(
            self.experiment_dir,
            path,
            trial=trial.trial_id,
            training_iteration=self.last_result.get("training_iteration"),
            env_steps=self.last_result.get("num_env_steps_sampled_lifetime"),
        )
        self.last_checkpoint = path
        print(f"checkpoint {path} (Ray-free network in {path / EXPORT_DIR})", file=self.stream)
