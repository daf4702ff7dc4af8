"""BaseExperiment: what a user writes to turn CARLA into an RL task.

A subclass defines the spaces, turns an action into a `carla.VehicleControl`, builds the
observation from the frame's sensor data, and decides reward and episode end. Its own settings
go in `DEFAULT_CONFIG` (merged over the library's experiment defaults, see `defaults.py`), so an
omitted key always has a value. It reads the simulator through a read-only `SimulatorView`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym

from rllib_integration.defaults import experiment_defaults, merge

if TYPE_CHECKING:
    import carla

    from rllib_integration.sim_view import SimulatorView


class BaseExperiment:
    """Override the methods that raise NotImplementedError; `reset` is optional."""

    # The experiment's own keys with their defaults; merged over config.EXPERIMENT_DEFAULTS.
    DEFAULT_CONFIG: ClassVar[dict] = {}

    def __init__(self, config: dict):
        # Merge again so an experiment built by hand (not through CarlaEnv) gets its defaults too.
        self.config = merge(experiment_defaults(type(self)), config or {})

    def reset(self) -> None:
        """Called at every env reset after the hero and its sensors exist."""

    def get_action_space(self) -> gym.Space:
        raise NotImplementedError(f"{type(self).__name__} must define get_action_space()")

    def get_observation_space(self) -> gym.Space:
        raise NotImplementedError(f"{type(self).__name__} must define get_observation_space()")

    def get_actions(self) -> Any:
        """The action table, for experiments with discrete actions."""
        raise NotImplementedError(f"{type(self).__name__} must define get_actions()")

    def compute_action(self, action: Any) -> carla.VehicleControl:
        raise NotImplementedError(f"{type(self).__name__} must define compute_action()")

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[Any, dict]:
        """sensor_data: name -> (frame, reading); event sensors give a list of this frame's events."""
        raise NotImplementedError(f"{type(self).__name__} must define get_observation()")

    def get_done_status(self, observation: Any, view: SimulatorView) -> tuple[bool, bool]:
        """Return (terminated, truncated). Called before compute_reward, which may read them."""
        raise NotImplementedError(f"{type(self).__name__} must define get_done_status()")

    def compute_reward(self, observation: Any, view: SimulatorView) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define compute_reward()")
