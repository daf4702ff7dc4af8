"""Tune callbacks of the trainer: one readable line per iteration, checkpoint upkeep, TensorBoard.

Run in the driver. `TrainingMonitor` prints the progress line and, on every checkpoint Tune has
registered, runs the trainer's exports into it (the DQN example writes its Ray-free network)
and then moves `latest_checkpoint.json` to it (atomic, see `checkpoints.py`).
`ExperimentTensorBoard` writes Tune's TensorBoard curves into `<experiment>/tensorboard/`, one
folder for the experiment however often it is resumed (Tune's own logger would start a second
trial folder, so a resumed run showed up as a second run), at step = training iteration.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ray import tune
from ray.tune.logger import TBXLoggerCallback

from rllib_integration.training.checkpoints import append_history, write_latest

TENSORBOARD_DIR = "tensorboard"
MISSING = "-"  # a value no episode has given yet (or not a number)


def _get(result: dict, path: str) -> Any:
    node: Any = result
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return MISSING
    return format(value * scale, spec)


def progress_line(result: dict) -> str:
    """One line per iteration; a value no finished episode has given yet shows as '-'."""
    sampled = _get(result, "env_runners/num_env_steps_sampled") or 0
    seconds = result.get("time_this_iter_s") or 0.0
    rate = sampled / seconds if seconds else None
    env = "env_runners/env"
    return (
        f"iter {result.get('training_iteration', '?'):>4} | "
        f"env steps {_fmt(result.get('num_env_steps_sampled_lifetime'), ',.0f')} | "
        f"episodes {_fmt(_get(result, 'env_runners/num_episodes_lifetime'), ',.0f')} | "
        f"return {_fmt(_get(result, 'env_runners/episode_return_mean'), '.2f')} | "
        f"distance {_fmt(_get(result, f'{env}/distance'), '.0f')} m | "
        f"speed {_fmt(_get(result, f'{env}/mean_speed'), '.1f', 3.6)} km/h | "
        f"collisions {_fmt(_get(result, f'{env}/collisions'), '.2f')} | "
        f"route completion {_fmt(_get(result, f'{env}/route_completion'), '.0%')} | "
        f"{_fmt(rate, '.1f')} steps/s | "
        f"{_fmt(result.get('time_total_s'), '.0f')} s"
    )


Export = Callable[[Path], Any]


class TrainingMonitor(tune.Callback):
    def __init__(
        self, experiment_dir: Path, exports: Sequence[Export] = (), stream: TextIO = sys.stdout
    ) -> None:
        self.experiment_dir = Path(experiment_dir)
        self.exports = tuple(exports)
        self.stream = stream
        self.last_result: dict = {}
        self.last_checkpoint: Path | None = None

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.last_result = result
        print(progress_line(result), file=self.stream, flush=True)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        path = Path(checkpoint.path)
        for export in self.exports:
            export(path)
        facts = {
            "trial": trial.trial_id,
            "training_iteration": self.last_result.get("training_iteration"),
            "env_steps": self.last_result.get("num_env_steps_sampled_lifetime"),
            "time_total_s": self.last_result.get("time_total_s"),
        }
        append_history(self.experiment_dir, path, **facts)
        write_latest(self.experiment_dir, path, **facts)
        self.last_checkpoint = path
        print(f"checkpoint {path}", file=self.stream, flush=True)


class ExperimentTensorBoard(TBXLoggerCallback):
    """Tune's TensorBoard logger, writing into `<experiment>/tensorboard/` (module docstring)."""

    def __init__(self, experiment_dir: Path) -> None:
        super().__init__()
        self.log_dir = Path(experiment_dir) / TENSORBOARD_DIR

    def log_trial_start(self, trial) -> None:
        if trial in self._trial_writer:
            self._trial_writer[trial].close()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._trial_writer[trial] = self._summary_writer_cls(str(self.log_dir), flush_secs=30)
        self._trial_result[trial] = {}
