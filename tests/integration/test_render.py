"""render(): what gymnasium's tools expect of an rgb_array env; MP4 video with the shipped
packages (gymnasium's RecordVideo writes through moviepy and imageio's ffmpeg)."""

from __future__ import annotations

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

from rllib_integration.carla_env import CarlaEnv
from tests.integration.scenarios import env_config

BIRDVIEW = {"bev": {"type": "sensor.birdview", "size": 64}}


def test_frames_every_step_and_record_video_writes_an_mp4(tmp_path):
    config = env_config({"timestep": 0.1}, max_steps=12, hero={"sensors": BIRDVIEW})
    env = CarlaEnv(config, render_mode="rgb_array")
    assert env.metadata["render_fps"] == pytest.approx(10.0)
    folder = tmp_path / "videos"
    recorder = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda _: True)
    try:
        recorder.reset(seed=1)
        frames = [env.render()]
        done = False
        while not done:
            *_, terminated, truncated, _ = recorder.step(2)  # full throttle: the view moves
            frames.append(env.render())
            done = terminated or truncated
    finally:
        recorder.close()  # writes the video, closes the env
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert any(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))
    (video,) = folder.glob("*.mp4")
    decoded = iio.imread(video, index=None)  # read back through imageio's ffmpeg
    assert decoded.shape[0] == len(frames) and decoded.shape[1:3] == (64, 64)


def test_render_mode_without_a_renderable_sensor_is_refused_at_construction():
    with pytest.raises(ValueError, match="needs a sensor.birdview or a sensor.camera.rgb"):
        CarlaEnv(env_config(), render_mode="rgb_array")
    with pytest.raises(ValueError, match="render_mode 'human': CarlaEnv renders 'rgb_array'"):
        CarlaEnv(env_config(hero={"sensors": BIRDVIEW}), render_mode="human")


def test_render_before_reset_and_without_a_mode():
    env = CarlaEnv(env_config(hero={"sensors": BIRDVIEW}), render_mode="rgb_array")
    try:
        with pytest.raises(gym.error.ResetNeeded):
            env.render()
    finally:
        env.close()
    quiet = CarlaEnv(env_config())  # no render mode: render() is None, as gymnasium's envs
    assert quiet.render() is None
    quiet.close()
