"""Stop a training run at the first error of an env runner that no restart can fix.

RLlib restarts a failed env runner whatever failed, which is right for a crashed process or a
lost node and loops forever on a bad town, blueprint or sensor (a `FatalError`, see
`rllib_integration.fatal`). `StopOnFatalError` creates the run's registry, a named actor that
the envs report such errors to; at the end of every iteration (before its result can be
checkpointed) and whenever RLlib has restored failed env runners it asks the registry, and on a
reported error raises `FatalEnvRunnerError`, which ends the trial (and the trainer exits with that
one message). Checking at the end of the iteration matters: with its only env runner failed an
iteration ends with 0 steps, and a slow restart of the runner would otherwise let iterations of
nothing run and be checkpointed. A simulator that died or hung is not a FatalError: the env
restarts it itself and training goes on.
"""

from __future__ import annotations

from typing import Any

import ray
from ray.rllib.callbacks.callbacks import RLlibCallback

from rllib_integration.fatal import REGISTRY_NAME, FatalError

_KEPT = 10  # the first few errors are the informative ones


class FatalEnvRunnerError(FatalError, RuntimeError):
    """An env runner failed with an error no restart can fix; the message is that error."""


@ray.remote(num_cpus=0)
class FatalErrorRegistry:
    """The fatal errors the run's envs reported, first ones first."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def record(self, message: str) -> None:
        if len(self.errors) < _KEPT:
            self.errors.append(message)

    def first(self) -> str | None:
        return self.errors[0] if self.errors else None


class StopOnFatalError(RLlibCallback):
    """RLlib callback (runs in the algorithm's process): see the module docstring."""

    def on_algorithm_init(self, *, algorithm: Any, **kwargs: Any) -> None:
        self._registry = FatalErrorRegistry.options(  # type: ignore[attr-defined]
            name=REGISTRY_NAME, get_if_exists=True
        ).remote()

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        self._stop_if_reported()

    def on_env_runners_recreated(self, *, env_runner_indices: list[int], **kwargs: Any) -> None:
        self._stop_if_reported()

    def _stop_if_reported(self) -> None:
        registry = getattr(self, "_registry", None)
        message = ray.get(registry.first.remote()) if registry is not None else None
        if message:
            raise FatalEnvRunnerError(
                f"an env runner failed with an error that restarting it cannot fix: {message}"
            )


def fatal_message(error: BaseException) -> str | None:
    """The message of the FatalError behind a failed trial's error (Ray wraps it), else None."""
    seen: set[int] = set()
    found: BaseException | None = None
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FatalError):
            found = current
        current = getattr(current, "cause", None) or current.__cause__
    return " ".join(str(found).split()) if found is not None else None
