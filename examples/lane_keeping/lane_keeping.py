"""Lane keeping with continuous actions: throttle/brake and steer from the lane state and an IMU.

The README's "Creating your own experiment" walks through this file and `ppo_config.yaml`.

- Action: `Box([-1, -1], [1, 1])`: [throttle (> 0) or brake (< 0), steer].
- Observation: a Dict of the `sensor.lane_state` reading (lateral offset, heading error, lane
  width, speed limit, junction and light ahead, speed) and the IMU's
  [ax, ay, az, gx, gy, gz, compass], both float32.
- Reward per step: metres driven along the lane (speed x cos(heading error) x timestep),
  minus `offset_cost` x |lateral offset| and `overspeed_cost` per m/s above `target_speed`.
  A collision, or the hero's centre leaving its lane by more than `max_offset` metres, ends the
  episode (terminated, `crash_cost` charged); `max_time` seconds of simulated time truncate it.
- Info: `end_reason` (running, collision, off_lane, time_limit), `progress` (m along the lane
  this step) and `lateral_offset` (m); the trainer logs every numeric one to TensorBoard.
"""

from __future__ import annotations

import math

import carla
import numpy as np
from gymnasium import spaces

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.sensors.lane_state import FIELDS, LaneStateSensor

OFFSET, HEADING, SPEED = (FIELDS.index(f) for f in ("lateral_offset", "heading_error", "speed"))


class LaneKeeping(BaseExperiment):
    DEFAULT_CONFIG = {
        "max_time": 30.0,
        "target_speed": 8.0,
        "max_offset": 1.5,
        "offset_cost": 0.05,
        "overspeed_cost": 0.1,
        "crash_cost": 10.0,
    }

    def get_action_space(self):  # [throttle (> 0) or brake (< 0), steer]
        return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def get_observation_space(self):
        lane = self.config["hero"]["sensors"]["lane"]  # the YAML's sensor entry
        return spaces.Dict(
            {
                "lane": LaneStateSensor.observation_space(lane),
                "imu": spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32),
            }
        )

    def reset(self):  # optional: at every reset, once the hero and its sensors exist
        self.time, self.progress, self.end_reason = 0.0, 0.0, "running"

    def compute_action(self, action):  # action -> the hero's control for one step
        pedal, steer = (float(a) for a in action)
        return carla.VehicleControl(throttle=max(pedal, 0.0), brake=max(-pedal, 0.0), steer=steer)

    def get_observation(self, sensor_data):  # {name: (frame, reading)} of this frame
        self.lane = sensor_data["lane"][1]
        self.collided = bool(sensor_data["collision"][1])  # event sensors: this frame's events
        imu = np.asarray(sensor_data["imu"][1], dtype=np.float32)  # the IMU gives float64
        return {"lane": self.lane, "imu": imu}, {}  # (observation, info)

    def get_done_status(self, observation, view):  # -> (terminated, truncated)
        self.time += view.timestep
        if self.collided:
            self.end_reason = "collision"
        elif abs(self.lane[OFFSET]) > self.config["max_offset"]:
            self.end_reason = "off_lane"
        elif self.time >= self.config["max_time"]:
            self.end_reason = "time_limit"
        return self.end_reason in ("collision", "off_lane"), self.end_reason == "time_limit"

    def compute_reward(self, observation, view):  # after get_done_status
        speed = float(self.lane[SPEED])
        self.progress = speed * math.cos(float(self.lane[HEADING])) * view.timestep
        reward = self.progress - self.config["offset_cost"] * abs(float(self.lane[OFFSET]))
        reward -= self.config["overspeed_cost"] * max(speed - self.config["target_speed"], 0.0)
        if self.end_reason in ("collision", "off_lane"):
            reward -= self.config["crash_cost"]
        return reward

    def get_info(self):  # optional: this step's info, after the reward
        return {
            "end_reason": self.end_reason,
            "progress": self.progress,
            "lateral_offset": float(self.lane[OFFSET]),
        }
