"""`sensor.birdview` inside CarlaEnv on the embedded server: the registry, CarlaCore's step,
frame matching, resets reusing the static map, and episode recordings."""

from __future__ import annotations

import carla
import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.carla_env import CarlaEnv
from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.sensor import BirdViewSensor
from tests.sensors.birdview_helpers import centroid


class BirdViewDrive(BaseExperiment):
    """Observation = the bird's-eye view named `bev`; actions = throttle levels."""

    DEFAULT_CONFIG = {"max_steps": 100}

    def reset(self) -> None:
        self.steps = 0

    def get_action_space(self) -> gym.Space:
        return gym.spaces.Discrete(2)

    def get_observation_space(self) -> gym.Space:
        return BirdViewSensor.observation_space(self.config["hero"]["sensors"]["bev"])

    def compute_action(self, action) -> carla.VehicleControl:
        self.steps += 1
        return carla.VehicleControl(throttle=float(action))

    def get_observation(self, sensor_data):
        self.last_sensor_data = sensor_data
        return sensor_data["bev"][1], {}

    def get_done_status(self, observation, core):
        return False, self.steps >= self.config["max_steps"]

    def compute_reward(self, observation, core) -> float:
        return 0.0


def env_config(bev: dict) -> dict:
    return {
        "carla": {"server": "embedded", "timeout": 10.0, "sensor_timeout": 10.0},
        "experiment": {
            "type": f"{__name__}:BirdViewDrive",
            "hero": {"sensors": {"bev": bev}},
        },
    }


@pytest.fixture
def env_factory():
    envs = []

    def make(config: dict) -> CarlaEnv:
        env = CarlaEnv(config)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_birdview_in_carla_env_every_step_reused_across_resets_and_recorded(tmp_path, env_factory):
    bev = {
        "type": "sensor.birdview",
        "mode": "masks",
        "layers": ["road", "lane_markings", "hero", "vehicles"],
        "cache_dir": str(tmp_path / "cache"),
        "record": str(tmp_path / "videos" / "bev_{episode}.gif"),
        "record_fps": 10,
    }
    env = env_factory(env_config(bev))
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    sensor = env.core.collector.sensors["bev"]
    assert isinstance(sensor, BirdViewSensor) and sensor.cache.source == "built"
    assert BirdViewSensor.observation_space(bev).shape == (192, 192, 4)
    for _ in range(8):
        observation, *_ = env.step(1)  # full throttle
        frame, image = env.experiment.last_sensor_data["bev"]
        assert np.array_equal(observation, image) and env.observation_space.contains(observation)
        assert frame == env.core.frame == env.core.world.get_snapshot().frame
        assert image.shape == (192, 192, 4) and image.dtype == np.uint8
        assert set(np.unique(image)) <= {0, 1}
        hero = image[..., 2]
        np.testing.assert_allclose(centroid(hero), [95.5, 95.5 + 9.6 * 5], atol=1.5)
        assert image[..., 0][hero.astype(bool)].mean() > 0.9  # the hero drives on the road
    first_recording = sensor.recording
    # one frame per world tick since the sensor was made: the reset's tick(s) and 8 steps
    assert 9 <= first_recording.frames <= 11

    env.reset(seed=1)  # a new episode: new sensor, same static map from memory
    second = env.core.collector.sensors["bev"]
    assert second is not sensor and second.cache.source == "memory"
    assert first_recording.closed
    stored = iio.imread(first_recording.path)
    # Pillow merges identical consecutive frames (the hero standing still at the start)
    assert (
        stored.ndim == 4
        and 2 <= stored.shape[0] <= first_recording.frames
        and stored.shape[1:] == (192, 192, 3)
    )
    assert (stored[-1] == palette.HERO).all(axis=-1).any()
    assert second.recording.path != first_recording.path
