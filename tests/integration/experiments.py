"""Small experiments used by the integration tests (the real example is dqn_example/)."""

from __future__ import annotations

import carla
import gymnasium as gym
import numpy as np

from rllib_integration.base_experiment import BaseExperiment


class DriveStraight(BaseExperiment):
    """Throttle levels as actions; observation = [speed m/s, frame mod 1000]; fixed-length episodes."""

    DEFAULT_CONFIG = {"max_steps": 50, "throttles": [0.0, 0.5, 1.0]}

    def reset(self) -> None:
        self.steps = 0

    def get_action_space(self) -> gym.Space:
        return gym.spaces.Discrete(len(self.config["throttles"]))

    def get_observation_space(self) -> gym.Space:
        return gym.spaces.Box(low=0.0, high=100.0, shape=(2,), dtype=np.float32)

    def compute_action(self, action) -> carla.VehicleControl:
        self.steps += 1
        return carla.VehicleControl(throttle=float(self.config["throttles"][int(action)]))

    def get_observation(self, sensor_data):
        self.last_sensor_data = sensor_data
        return np.zeros(2, dtype=np.float32), {}

    def get_done_status(self, observation, core):
        velocity = core.hero.get_velocity()
        self.speed = float(np.hypot(velocity.x, velocity.y))
        return False, self.steps >= self.config["max_steps"]

    def compute_reward(self, observation, core) -> float:
        return self.speed


class SpeedObservation(DriveStraight):
    """Like DriveStraight but the observation carries the hero's speed (checks dynamics reach obs)."""

    def get_observation(self, sensor_data):
        self.last_sensor_data = sensor_data
        speed = getattr(self, "speed", 0.0)
        return np.array([speed, 0.0], dtype=np.float32), {
            "sensor_frames": {name: frame for name, (frame, _) in sensor_data.items()}
        }


class NotAnExperiment:
    pass


class Unfinished(BaseExperiment):
    """Forgets get_observation_space, get_done_status and compute_reward."""

    def get_action_space(self) -> gym.Space:
        return gym.spaces.Discrete(2)

    def compute_action(self, action) -> carla.VehicleControl:
        return carla.VehicleControl()

    def get_observation(self, sensor_data):
        return np.zeros(1, np.float32), {}


class RouteExperiment(DriveStraight):
    """Reports route completion as the fraction of its episode length driven."""

    def route_completion(self, core) -> float:
        return self.steps / self.config["max_steps"]


class OwnDistance(DriveStraight):
    """Reports its own `distance` (a fixed stand-in), which the env must not write over."""

    def get_info(self) -> dict:
        return {"distance": -1.0, "steps": self.steps}


class ClaimsEnvKey(DriveStraight):
    def get_info(self) -> dict:
        return {"env": "mine"}


class MultiAgentProbe(DriveStraight):
    """For the multi-agent tests: records its sensor data and collision events; truncated at
    its own `end_at_step`, terminated by a collision if `end_on_collision`."""

    DEFAULT_CONFIG = {"end_at_step": None, "end_on_collision": False}

    def reset(self) -> None:
        super().reset()
        self.collisions: list = []

    def get_observation(self, sensor_data):
        self.last_sensor_data = sensor_data
        for name, (_, reading) in sensor_data.items():
            if self.config["hero"]["sensors"][name]["type"] == "sensor.other.collision":
                self.collisions += reading
        return np.zeros(2, dtype=np.float32), {"collisions_seen": len(self.collisions)}

    def get_done_status(self, observation, view):
        terminated, truncated = super().get_done_status(observation, view)
        end = self.config["end_at_step"]
        truncated = truncated or (end is not None and self.steps >= end)
        terminated = bool(self.config["end_on_collision"] and self.collisions)
        return terminated, truncated and not terminated


class Weave(MultiAgentProbe):
    """Half throttle and a steering angle per action (left, straight, right): a hero that
    changes lanes, for the lane-invasion tests. Records each step's lane-invasion events."""

    STEER = (-0.25, 0.0, 0.25)

    def compute_action(self, action) -> carla.VehicleControl:
        self.steps += 1
        return carla.VehicleControl(throttle=0.5, steer=self.STEER[int(action)])

    def get_observation(self, sensor_data):
        observation, info = super().get_observation(sensor_data)
        sensors = self.config["hero"]["sensors"]
        lanes = [
            events
            for name, (_, events) in sensor_data.items()
            if sensors[name]["type"] == "sensor.other.lane_invasion"
        ]
        frame = max(frame for frame, _ in sensor_data.values())
        info["lane_events"] = [(frame, event["frame"]) for events in lanes for event in events]
        return observation, info


class Misbehaving(DriveStraight):
    """A Dict observation and a Box action, with one mistake chosen by `fault` (changeable
    between episodes): "none", "large" (1000 in a [-10, 10] box), "float64" (the wrong dtype),
    "missing_key", "nan_control" (compute_action returns throttle=nan for a finite action)."""

    DEFAULT_CONFIG = {"fault": "none"}

    def get_action_space(self) -> gym.Space:
        return gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def get_observation_space(self) -> gym.Space:
        return gym.spaces.Dict(
            {
                "speed": gym.spaces.Box(0.0, 100.0, shape=(1,), dtype=np.float32),
                "imu": gym.spaces.Box(-10.0, 10.0, shape=(3,), dtype=np.float32),
            }
        )

    def compute_action(self, action) -> carla.VehicleControl:
        self.steps += 1
        throttle = float("nan") if self.config["fault"] == "nan_control" else 0.5
        return carla.VehicleControl(throttle=throttle, steer=float(action[1]))

    def get_observation(self, sensor_data):
        fault = self.config["fault"]
        imu = np.zeros(3, np.float64 if fault == "float64" else np.float32)
        if fault == "large":
            imu[0] = 1000.0
        observation = {"speed": np.zeros(1, np.float32), "imu": imu}
        if fault == "missing_key":
            del observation["imu"]
        return observation, {}
