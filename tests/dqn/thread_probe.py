"""A callback for tests: each process of a training run that uses torch (the algorithm's, with
its local learner; every env runner) appends "<role> <pid> <torch threads>" to the file named
by $THREAD_PROBE_FILE."""

from __future__ import annotations

import os

import torch
from ray.rllib.callbacks.callbacks import RLlibCallback

PROBE_FILE_VARIABLE = "THREAD_PROBE_FILE"


def _record(role: str) -> None:
    with open(os.environ[PROBE_FILE_VARIABLE], "a") as probe:
        probe.write(f"{role} {os.getpid()} {torch.get_num_threads()}\n")


class ThreadProbe(RLlibCallback):
    def on_algorithm_init(self, *, algorithm, **kwargs) -> None:
        _record("learner")

    def on_environment_created(self, *, env_runner, **kwargs) -> None:
        _record(f"env_runner_{env_runner.worker_index}")
