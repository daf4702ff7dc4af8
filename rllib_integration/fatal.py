"""Errors that no restart can fix, and how an env inside a Ray worker tells its run about one.

A bad value, a town or blueprint the server lacks, an unusable state folder, an observation
outside its space: restarting the env or its worker brings the same error back, so RLlib's
fault tolerance (made for crashed processes and lost nodes) would only loop. These errors
derive from `FatalError`. An env that hits one calls `report_fatal` before raising it: inside a
training run that records the message with the run's registry (a named Ray actor the trainer's
callback creates), and the trainer stops the run with that message the next time RLlib restores
the failed worker. Outside such a run (no Ray, or no registry) reporting does nothing.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

# The named actor that collects the fatal errors of a training run's env runners.
REGISTRY_NAME = "rllib_integration.fatal_errors"

F = TypeVar("F", bound=Callable[..., Any])


class FatalError(Exception):
    """An error that a restart of the env or of its worker cannot fix."""


def describe(error: BaseException) -> str:
    """One line for the error: its type and message."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def report_fatal(error: BaseException) -> None:
    """Tell the training run's registry (if this process runs in one) about `error`."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    try:
        registry = ray.get_actor(REGISTRY_NAME)
        ray.get(registry.record.remote(describe(error)), timeout=30)
    except Exception as failure:  # no registry (not a trainer's run), or it is gone
        logger.debug("fatal error not reported: %s", failure)


def reports_fatal_errors(method: F) -> F:
    """Decorator of an env's reset/step: a FatalError is reported, then raised as it was."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except FatalError as error:
            report_fatal(error)
            raise

    return wrapper  # type: ignore[return-value]
