"""DQNExperiment on the real embedded server: actions, stacked frames, ends and rewards."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from dqn_example.dqn_experiment import ACTIONS, REWARD_TERMS, DQNExperiment
from tests.dqn.helpers import assert_no_servers_left, run_python

# The original's table (reference §6.1), row by row: throttle, steer, brake.
ORIGINAL = [
    (0.0, 0.0, 0.0), (0.0, 0.0, 1.0),
    (0.0, 0.75, 0.0), (0.0, 0.5, 0.0), (0.0, 0.25, 0.0),
    (0.0, -0.75, 0.0), (0.0, -0.5, 0.0), (0.0, -0.25, 0.0),
    (0.3, 0.0, 0.0), (0.3, 0.75, 0.0), (0.3, 0.5, 0.0), (0.3, 0.25, 0.0),
    (0.3, -0.75, 0.0), (0.3, -0.5, 0.0), (0.3, -0.25, 0.0),
    (0.6, 0.0, 0.0), (0.6, 0.75, 0.0), (0.6, 0.5, 0.0), (0.6, 0.25, 0.0),
    (0.6, -0.75, 0.0), (0.6, -0.5, 0.0), (0.6, -0.25, 0.0),
    (1.0, 0.0, 0.0), (1.0, 0.75, 0.0), (1.0, 0.5, 0.0), (1.0, 0.25, 0.0),
    (1.0, -0.75, 0.0), (1.0, -0.5, 0.0), (1.0, -0.25, 0.0),
]  # fmt: skip


def test_action_table_is_the_originals():
    assert list(ACTIONS) == ORIGINAL and len(ACTIONS) == 29
    experiment = DQNExperiment({"type": "dqn_example.dqn_experiment:DQNExperiment"})
    control = experiment.compute_action(26)
    assert (control.throttle, control.steer, control.brake) == (1.0, -0.75, 0.0)
    assert not control.reverse and not control.hand_brake
    assert experiment.get_observation_space().shape == (64, 64, 12)
    assert str(experiment.get_observation_space().dtype) == "uint8"


@pytest.mark.parametrize(
    ("birdview", "framestack"),
    [
        ({"size": 64, "pixels_per_meter": 2.0}, 4),  # the example's: RGB, 4 frames
        ({"size": 16, "mode": "masks", "layers": ["road"]}, 1),  # one channel, one frame
        ({"size": 16, "mode": "masks"}, 3),
    ],
)
def test_observation_is_the_last_frames_oldest_first_on_the_channel_axis(birdview, framestack):
    sensors = {"birdview": {"type": "sensor.birdview", **birdview}}
    experiment = DQNExperiment(
        {
            "type": "dqn_example.dqn_experiment:DQNExperiment",
            "hero": {"sensors": sensors},
            "framestack": framestack,
        }
    )
    space = experiment.get_observation_space()
    high = 255 if birdview.get("mode", "rgb") == "rgb" else 2
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, high, experiment.frame_shape, np.uint8) for _ in range(6)]
    scale = np.uint8(1 if high == 255 else 255)  # masks 0/1 are seen as 0/255
    observations = []
    for _episode in range(2):
        experiment.reset()
        for t, frame in enumerate(frames):
            observation, _ = experiment.get_observation({"birdview": (t, frame)})
            seen = [frames[max(0, t - k)] * scale for k in reversed(range(framestack))]
            expected = np.concatenate(seen, axis=-1)
            assert observation.shape == space.shape and observation.dtype == np.uint8
            np.testing.assert_array_equal(observation, expected)
            observations.append((observation, expected))
    # Each step's observation is its own array: later steps never change an earlier one.
    for observation, expected in observations:
        np.testing.assert_array_equal(observation, expected)


SCRIPT = """
import json
import numpy as np
from rllib_integration.carla_env import CarlaEnv

def make(**experiment):
    return CarlaEnv({
        "carla": {"server": "embedded", "timestep": 0.1, "log_dir": LOG_DIR},
        "experiment": {"type": "dqn_example.dqn_experiment:DQNExperiment", "town": "Loop01",
                       **experiment},
    })

def run(env, action, limit=400):
    rewards, stack_ok = [], True
    obs, info = env.reset(seed=7)
    first = obs
    while len(rewards) < limit:
        previous = obs
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        # Oldest -> newest on the channel axis: the new stack is the old one shifted by a frame.
        stack_ok &= bool(np.array_equal(obs[..., :9], previous[..., 3:]))
        if terminated or truncated:
            break
    frames = np.split(first, 4, axis=-1)
    return {"terminated": terminated, "truncated": truncated, "rewards": rewards,
            "info": {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))},
            "reward_terms": info["reward_terms"], "env_info": info["env"],
            "stack_ok": stack_ok, "reset_frames_equal": all(np.array_equal(frames[0], f) for f in frames),
            "dtype": str(obs.dtype), "shape": list(obs.shape)}

out = {}
env = make(max_time_episode=2.0)
out["time_limit"] = run(env, 15)          # throttle 0.6 straight for 2 s
env.close()
env = make(max_time_episode=2.0,
           reward={"distance_max_speed": 3.6, "speed_gain": 0.0, "over_speed": -1.0})
out["capped"] = run(env, 15)              # the same, paid for at most 3.6 km/h = 0.1 m/step
env.close()
centre_only = {"distance": 0.0, "speed_gain": 0.0, "heading": 0.0, "wrong_way": 0.0,
               "off_road": 0.0, "off_road_end": 0.0, "lane_centre": -1.0}
env = make(max_time_episode=2.0, reward=centre_only)
out["centred"] = run(env, 15)             # straight on from the lane centre
out["drifting"] = run(env, 16)            # hard right, over the lane edge
env.close()
env = make(max_time_episode=60.0, max_time_idle=0.5)
out["idle"] = run(env, 1)                 # brake from rest
out["off_road"] = run(env, 23)            # full throttle, hard right
env.close()
print("RESULT" + json.dumps(out))
"""


def test_episode_ends_rewards_and_info_on_the_embedded_server(tmp_path):
    code = f"LOG_DIR = {str(tmp_path)!r}\n" + textwrap.dedent(SCRIPT)
    result = run_python(code, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    out = json.loads(result.stdout.split("RESULT", 1)[1])

    limit = out["time_limit"]
    assert limit["shape"] == [64, 64, 12] and limit["dtype"] == "uint8"
    assert limit["reset_frames_equal"] and limit["stack_ok"]
    # The time limit truncates (no terminal, no +100) after 2 s = 20 steps of 0.1 s.
    assert (limit["terminated"], limit["truncated"]) == (False, True)
    assert len(limit["rewards"]) == 20
    info = limit["info"]
    assert info["end_reason"] == "time_limit" and info["completed"] is True
    assert info["route_completion"] == 1.0
    assert info["distance"] > 1.0 and info["mean_speed"] > 2.0
    assert info["collisions"] == 0 and info["off_road_time"] == 0.0
    assert 0 < sum(limit["rewards"]) < 0.5 * len(limit["rewards"]) + 5  # distance-sized, no bonus
    # Each named term's episode total; together they are the episode's return.
    terms = limit["reward_terms"]
    assert list(terms) == list(REWARD_TERMS)
    assert sum(terms.values()) == pytest.approx(sum(limit["rewards"]), abs=1e-9)
    assert terms["distance"] > 1.0 and terms["collision"] == terms["idle"] == 0.0
    # The env's own metrics stand beside the experiment's, under "env".
    assert limit["env_info"]["distance"] > 1.0 and limit["env_info"]["collisions"] == 0

    capped = out["capped"]["rewards"]
    assert max(capped) <= 0.1 + 1e-6 and max(limit["rewards"]) > 0.2
    assert min(capped) < -1.0  # over 3.6 km/h costs 1 per km/h above it
    assert sum(capped) < sum(limit["rewards"])
    assert out["capped"]["reward_terms"]["over_speed"] < -1.0
    assert out["capped"]["reward_terms"]["distance"] <= 0.1 * 20 + 1e-6

    # lane_centre pays -1 per step at the lane edge: straight on stays near the centre.
    centred, drifting = out["centred"]["rewards"], out["drifting"]["rewards"]
    assert all(-0.4 < r <= 0.0 for r in centred), centred
    assert min(drifting) < -0.8 and sum(drifting) < sum(centred) - 1.0, drifting
    # The episode's mean distance from the lane centre, in metres (the evaluation table's).
    centre_m = out["centred"]["info"]["lane_centre_distance"]
    assert 0.0 <= centre_m < 0.4
    assert out["drifting"]["info"]["lane_centre_distance"] > centre_m + 0.3

    idle = out["idle"]
    assert (idle["terminated"], idle["truncated"]) == (True, False)
    assert idle["info"]["end_reason"] == "idle" and not idle["info"]["completed"]
    assert idle["rewards"][-1] <= -99.0  # the idle penalty
    assert idle["reward_terms"]["idle"] == -100.0
    assert 5 <= len(idle["rewards"]) <= 8  # just over 0.5 s of 0.1 s steps

    off_road = out["off_road"]
    assert off_road["terminated"] and not off_road["truncated"]
    assert off_road["info"]["end_reason"] in ("off_road", "collision")
    assert off_road["rewards"][-1] <= -99.0
    if off_road["info"]["end_reason"] == "off_road":
        assert off_road["info"]["off_road_time"] > 0.0
    assert 0 < off_road["info"]["route_completion"] < 1.0
    assert_no_servers_left(tmp_path)
