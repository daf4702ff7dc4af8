"""BaseExperiment: what a user writes to turn CARLA into an RL task.

A subclass defines the spaces, turns an action into a `carla.VehicleControl`, builds the
observation from the frame's sensor data, and decides reward and episode end. Its own settings
go in `DEFAULT_CONFIG` (merged over the library's experiment defaults, see `defaults.py`), so an
omitted key always has a value. It reads the simulator through a read-only `SimulatorView`.

The env calls, in this order:

- at reset: `set_route_tracker(tracker or None)`, `reset()`, `get_observation(sensor_data)`,
  `get_info()`;
- at every step: `compute_action(action)`, then (after the world ticked and, in a route
  episode, the route tracker was updated) `get_observation`, `get_done_status` (the one method
  that advances the episode's clock and counters), `compute_reward` (may read what
  get_done_status decided), `get_info`, and `route_completion`.

`info` of a step is get_observation's info updated by `get_info()`, plus `info["env"]`: the
env's own metrics (see `CarlaEnv`). The key "env" is the env's and may not be used here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import gymnasium as gym

from rllib_integration.defaults import experiment_defaults, merge

if TYPE_CHECKING:
    import carla

    from rllib_integration.routes.tracker import RouteTracker
    from rllib_integration.sim_view import SimulatorView

ObsType = TypeVar("ObsType")
ActType = TypeVar("ActType")


class BaseExperiment(ABC, Generic[ObsType, ActType]):
    """Define the six abstract methods; `set_route_tracker`, `reset`, `get_info` and
    `route_completion` are optional hooks. A subclass that misses one is refused when the
    config naming it is loaded, with every missing method named (`config.import_experiment`).

    Generic in the observation and action types, e.g. `BaseExperiment[np.ndarray, int]`.
    """

    # The experiment's own keys with their defaults; merged over defaults.EXPERIMENT_DEFAULTS.
    DEFAULT_CONFIG: ClassVar[dict] = {}

    def __init__(self, config: dict):
        # Merge again so an experiment built by hand (not through CarlaEnv) gets its defaults too.
        self.config = merge(experiment_defaults(type(self)), config or {})

    def set_route_tracker(self, tracker: RouteTracker | None) -> None:
        """Optional: called at every env reset, before `reset()`: in a route episode the
        `routes.RouteTracker` that scores it (its `route`, `result()`, `infractions`), else
        None. The env updates it right after every tick, before `get_observation`, so each
        method of a step sees that step's completion and infractions."""

    def reset(self) -> None:
        """Optional: called at every env reset after the hero and its sensors exist."""

    @abstractmethod
    def get_action_space(self) -> gym.Space:
        """The gymnasium space of the actions `compute_action` takes."""

    @abstractmethod
    def get_observation_space(self) -> gym.Space:
        """The gymnasium space of what `get_observation` returns: checked in the first episode
        of every env (and always with `check_spaces: true`), key, dtype, shape and range."""

    @abstractmethod
    def compute_action(self, action: ActType) -> carla.VehicleControl:
        """The hero's control for one step. NaN or infinite actions and controls are refused
        before they reach the simulator."""

    @abstractmethod
    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[ObsType, dict]:
        """(observation, info) from sensor_data: name -> (frame, reading); event sensors give a
        list of this frame's events. The hero's state, its lane and what lies ahead come from a
        pseudo-sensor such as `sensor.lane_state` (or your own `PseudoSensor`)."""

    @abstractmethod
    def get_done_status(self, observation: ObsType, view: SimulatorView) -> tuple[bool, bool]:
        """Return (terminated, truncated). Called once per step, before compute_reward."""

    @abstractmethod
    def compute_reward(self, observation: ObsType, view: SimulatorView) -> float:
        """This step's reward; may read what get_done_status decided."""

    def get_info(self) -> dict:
        """Optional: this step's info, after the reward (e.g. the episode's metrics so far)."""
        return {}

    def route_completion(self, view: SimulatorView) -> float | None:
        """Optional: the fraction of the episode's route driven so far, reported by the env as
        `info["env"]["route_completion"]`; None (the default) for experiments without a route."""
        return None
