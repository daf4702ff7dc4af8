"""CarlaEnv: a gymnasium environment over one simulator, driven by a BaseExperiment subclass.

RLlib usage: `config.environment(CarlaEnv, env_config=load_config(path)["env_config"])`.
Each env instance launches (or attaches to) its own server on ports spread by RLlib's worker
index. A dead or hung server truncates the episode; the next `reset()` restarts it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.config import carla_settings, import_experiment, resolve_env_config
from rllib_integration.core.carla_core import CarlaCore, SimulatorFailure
from rllib_integration.sensors.carla_sensors import Collision, LaneInvasion
from rllib_integration.supervisor.simulator import resolve_server_kind

logger = logging.getLogger(__name__)

# Envs of one worker get spread indices worker_index * ENVS_PER_WORKER + n; the port search
# starts there and skips reserved blocks, so the spread only avoids needless probing.
ENVS_PER_WORKER = 8


class CarlaEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}
    # RLlib's new stack gives every sub-env of a runner the same vector_index (0), so envs
    # count themselves per process to get distinct port ranges.
    _instances_in_process: ClassVar[int] = 0

    def __init__(self, config: Mapping | None = None, render_mode: str | None = None):
        self.env_config = resolve_env_config(config)
        # Fail now, not at the first reset, when `server: carla` has no install to launch.
        resolve_server_kind(carla_settings(self.env_config["carla"]))
        self.worker_index = int(getattr(config, "worker_index", 0) or 0)
        self.vector_index = int(getattr(config, "vector_index", 0) or 0)
        self.sub_index = CarlaEnv._instances_in_process
        CarlaEnv._instances_in_process += 1
        experiment_config = self.env_config["experiment"]
        experiment_class = import_experiment(experiment_config["type"])
        self.experiment: BaseExperiment = experiment_class(experiment_config)
        self.action_space = self.experiment.get_action_space()
        self.observation_space = self.experiment.get_observation_space()
        self.render_mode = render_mode
        self._core: CarlaCore | None = None
        self._needs_recovery = False
        self._episodes = 0
        self._town: str | None = None
        self._last_observation: Any = None
        self._last_sensor_data: dict = {}
        self._metrics: dict[str, Any] = {}

    @property
    def episodes(self) -> int:
        """Episodes started so far (resets)."""
        return self._episodes

    @property
    def spread_index(self) -> int:
        return (self.worker_index * ENVS_PER_WORKER + self.vector_index + self.sub_index) % 4096

    @property
    def core(self) -> CarlaCore:
        """The simulator side; the server is launched on first use (normally the first reset)."""
        if self._core is None:
            self._core = CarlaCore(self.env_config["carla"], self.spread_index)
        return self._core

    # ---------------------------------------------------------------- gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Start an episode. `options={"spawn_point": k}` puts the hero at the k-th spawn point
        (modulo their number; `info["spawn_points"]` says how many there are), e.g. to spread
        evaluation episodes evenly over the map; otherwise the spawn point is random."""
        super().reset(seed=seed)
        spawn_point = (options or {}).get("spawn_point")
        if spawn_point is not None and (
            isinstance(spawn_point, bool) or not isinstance(spawn_point, int | np.integer)
        ):
            raise ValueError(f"reset options: spawn_point must be an int, got {spawn_point!r}")
        core_seed = int(self.np_random.integers(2**31))
        town = self._choose_town()
        attempts = self.core.config.retries_on_error
        for attempt in range(1, attempts + 1):
            if self._needs_recovery:
                self.core.recover()
                self._needs_recovery = False
            try:
                sensor_data = self.core.reset_episode(
                    self.env_config["experiment"], town, core_seed, spawn_point
                )
                break
            except SimulatorFailure as exc:
                logger.warning("simulator failure during reset (attempt %d): %s", attempt, exc)
                self._needs_recovery = True
                if attempt == attempts:
                    raise
        self._episodes += 1
        self.experiment.reset()
        observation, info = self.experiment.get_observation(sensor_data)
        self._last_observation, self._last_sensor_data = observation, sensor_data
        self._start_metrics()
        metrics = self._update_metrics(sensor_data)
        return observation, {**info, **metrics, "spawn_points": self.core.spawn_point_count}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._needs_recovery:
            # The previous step already truncated; RLlib should have reset. Keep truncating.
            return self._last_observation, 0.0, False, True, {"simulator_failure": True}
        if self._core is None or self._core.hero is None:
            raise gym.error.ResetNeeded("CarlaEnv.step() called before reset()")
        control = self.experiment.compute_action(action)
        try:
            sensor_data = self.core.step(control)
        except SimulatorFailure as exc:
            logger.warning("simulator failure, truncating the episode: %s", exc)
            self._needs_recovery = True
            info = {**self._metrics, "simulator_failure": True, "failure": str(exc)}
            return self._last_observation, 0.0, False, True, info
        observation, info = self.experiment.get_observation(sensor_data)
        terminated, truncated = self.experiment.get_done_status(observation, self.core.view)
        reward = self.experiment.compute_reward(observation, self.core.view)
        self._last_observation, self._last_sensor_data = observation, sensor_data
        info = {**info, **self._update_metrics(sensor_data)}
        return observation, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray | None:
        """rgb_array of the bird's-eye view if the hero has one, else of its first RGB camera."""
        if self.render_mode != "rgb_array" or self._core is None:
            return None
        configured = self.env_config["experiment"]["hero"]["sensors"]
        for wanted in ("sensor.birdview", "sensor.camera.rgb"):
            for name, attributes in configured.items():
                reading = self._last_sensor_data.get(name, (None, None))[1]
                if attributes["type"] == wanted and isinstance(reading, np.ndarray):
                    return reading
        return None

    def close(self) -> None:
        if self._core is not None:
            self._core.close()
            self._core = None

    # ---------------------------------------------------------------- helpers

    def _choose_town(self) -> str | None:
        town = self.env_config["experiment"]["town"]
        if not isinstance(town, list):
            return town
        every = self.env_config["experiment"]["town_change_every"]
        if self._town is None or self._episodes % every == 0:
            self._town = town[int(self.np_random.integers(len(town)))]
        return self._town

    def _start_metrics(self) -> None:
        location = self.core.hero.get_location()
        self._previous_location = np.array([location.x, location.y])
        self._metrics = {
            "town": self.core.map_name,
            "distance": 0.0,
            "speed": 0.0,
            "collisions": 0,
            "lane_invasions": 0,
            "server_restarts": self.core.restarts,
        }

    def _update_metrics(self, sensor_data: Mapping) -> dict:
        """Episode metrics for `info`: distance (m), speed (m/s), collision and invasion counts."""
        hero = self.core.hero
        location = hero.get_location()
        here = np.array([location.x, location.y])
        velocity = hero.get_velocity()
        self._metrics["distance"] += float(np.linalg.norm(here - self._previous_location))
        self._previous_location = here
        self._metrics["speed"] = float(np.linalg.norm([velocity.x, velocity.y, velocity.z]))
        sensors = self.core.collector.sensors
        for name, (_, events) in sensor_data.items():
            if isinstance(sensors.get(name), Collision):
                self._metrics["collisions"] += len(events)
            elif isinstance(sensors.get(name), LaneInvasion):
                self._metrics["lane_invasions"] += len(events)
        route = getattr(self.experiment, "route_completion", None)
        if callable(route):
            self._metrics["route_completion"] = float(route(self.core.view))
        return dict(self._metrics)
