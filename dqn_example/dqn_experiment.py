"""DQNExperiment: the original example's task on a stacked bird's-eye view, with its flaws fixed.

Kept from the original (reference §6): the 29-action table, frames stacked on the channel axis
oldest -> newest (the first frame repeated after a reset), and the reward terms: distance
driven, a speed-gain term below 20 km/h, -0.5 per step driving the wrong way, -0.05 per step
when the heading is off by more than asin(0.4) and the steering does not correct it.

Fixed: a collision or leaving the road ends the episode (terminated) with a penalty; the time
limit is a truncation without a bonus (the original paid +100 as a terminal); limits are in
seconds of simulated time, not ticks; every weight and limit is a YAML key with a default here.
Added: `lane_centre`, a per-step cost growing with the distance from the lane's centre line
(0, off, by default as in the original), and `over_speed`. The reward is a sum of named terms,
each weighted by its key under `reward:`, and `info["reward_terms"]` shows what each earned.
The observation stays uint8 (compact replay); the network scales pixels (`qnet.py`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import carla
import cv2
import numpy as np
from gymnasium import spaces

from rllib_integration.base_experiment import BaseExperiment

if TYPE_CHECKING:
    from rllib_integration.sim_view import SimulatorView

# (throttle, steer, brake) for each discrete action, exactly the original's table.
ACTIONS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.00, 0.0),  # 0 coast
    (0.0, 0.00, 1.0),  # 1 brake
    (0.0, 0.75, 0.0),
    (0.0, 0.50, 0.0),
    (0.0, 0.25, 0.0),
    (0.0, -0.75, 0.0),
    (0.0, -0.50, 0.0),
    (0.0, -0.25, 0.0),
    *(
        (throttle, steer, 0.0)
        for throttle in (0.3, 0.6, 1.0)
        for steer in (0.0, 0.75, 0.5, 0.25, -0.75, -0.5, -0.25)
    ),
)
assert len(ACTIONS) == 29

END_RUNNING = "running"
_OPENCV_MAX_CHANNELS = 512  # CV_CN_MAX: the most channels an OpenCV matrix can have


@dataclass
class Measurement:
    """What one frame says about the hero, computed once per frame."""

    frame: int
    location: np.ndarray  # planar x, y
    z: float
    speed: float  # km/h
    off_road: bool
    wrong_way: bool
    heading_sin: float  # sin of the signed angle hero -> lane (0 in junctions)
    lane_distance: float  # metres from the lane's centre line (0 off the road)
    lane_offset: float  # lane_distance / half the lane width


# Terms of the reward, each paid as `reward[name] * term` (the weight's key is the term's name).
STEP_TERMS = (
    "distance",
    "over_speed",
    "speed_gain",
    "off_road",
    "wrong_way",
    "lane_centre",
    "heading",
)
# Paid once, at the step that ends the episode for this reason (end_reason -> weight's key).
END_TERMS = {
    "collision": "collision",
    "off_road": "off_road_end",
    "idle": "idle",
    "falling": "falling",
}
REWARD_TERMS = (*STEP_TERMS, *END_TERMS.values())


class DQNExperiment(BaseExperiment[np.ndarray, int]):
    """Drive on without leaving the road, on a stack of bird's-eye frames.

    ## Action Space

    `Discrete(29)`: row `i` of `ACTIONS` is (throttle, steer, brake): coast, brake, steering
    {+-0.25, +-0.5, +-0.75} without throttle, and throttle {0.3, 0.6, 1.0} x steering
    {0, +-0.25, +-0.5, +-0.75} without brake.

    ## Observation Space

    `Box(0, 255, (H, W, C * framestack), uint8)`: the last `framestack` frames (default 4) of
    the `birdview_sensor` (default 64 x 64 RGB, 2 px/m), oldest first on the channel axis; after
    a reset the first frame is repeated. Masks mode (0/1) is scaled to 0/255.

    ## Rewards

    The sum of the terms of `REWARD_TERMS`, each its weight under `reward:` times:
    `distance` metres driven this step (counted up to `distance_max_speed` km/h if > 0),
    `over_speed` km/h above `distance_max_speed`, `speed_gain` km/h gained while below
    `speed_gain_below`, `off_road` 1 off a driving lane, `wrong_way` 1 against the lane,
    `lane_centre` the distance from the lane centre in half lane widths (0..1), `heading` 1 when
    off-heading by more than asin(`heading_sin_threshold`) without correcting steer; and once at
    the end: `collision`, `off_road_end`, `idle`, `falling`. Defaults in `DEFAULT_CONFIG`.

    ## Episode End

    Terminated: a collision, off a driving lane for longer than `max_time_off_road` s, below
    `min_fall_height`, or slower than `idle_speed` for `max_time_idle` s. Truncated: after
    `max_time_episode` s of simulated time (no bonus).

    ## Info

    The episode so far: `distance` (m), `mean_speed` (km/h), `collisions`, `lane_invasions`
    (events of the lane-invasion sensor: CARLA reports one per tick in which a corner of the
    hero's box crossed a marking), `lane_centre_distance` (m, mean distance from the centre line
    of the lane the hero is in, over its steps on the road), `off_road_time` (s), `route_completion` (fraction of the time limit driven), `completed`
    (reached the time limit), `end_reason` (running, collision, off_road, falling, idle,
    time_limit) and `reward_terms` (term -> what it earned this episode, weighted; they sum to
    the episode's return).
    """

    DEFAULT_CONFIG: ClassVar[dict] = {
        "hero": {
            "sensors": {
                # 64 px at 2 px/m: 32 m across, centred 8 m ahead of the hero.
                "birdview": {"type": "sensor.birdview", "size": 64, "pixels_per_meter": 2.0},
                "collision": {"type": "sensor.other.collision"},
                "lane_invasion": {"type": "sensor.other.lane_invasion"},
            }
        },
        "framestack": 4,
        # Names of the sensors in hero.sensors that the experiment reads.
        "birdview_sensor": "birdview",
        "collision_sensor": "collision",
        "lane_invasion_sensor": "lane_invasion",
        # Limits in seconds of simulated time.
        "max_time_episode": 60.0,  # truncation (not a failure)
        "max_time_idle": 10.0,  # below idle_speed this long: terminated
        "max_time_off_road": 0.0,  # off a driving lane longer than this: terminated
        "idle_speed": 1.0,  # km/h
        "min_fall_height": -0.5,  # z below this: fell off the world, terminated
        "reward": {
            "distance": 1.0,  # per metre driven (planar)
            # > 0: metres per step are paid only up to this speed (km/h); 0: no cap (original).
            "distance_max_speed": 0.0,
            # Per step and km/h above distance_max_speed (negative: a penalty; 0: off).
            "over_speed": 0.0,
            "speed_gain": 0.05,  # per km/h gained while below speed_gain_below
            "speed_gain_below": 20.0,  # km/h
            "wrong_way": -0.5,  # per step against the lane direction
            "off_road": -0.5,  # per step off a driving lane (with max_time_off_road > 0)
            "heading": -0.05,  # per step off-heading without correcting steer
            "heading_sin_threshold": 0.4,
            # Per step, times the distance from the lane centre in half lane widths (0 at the
            # centre, 1 at the edge); negative keeps the car away from the edges (0: off, as the
            # original).
            "lane_centre": 0.0,
            "collision": -100.0,  # terminal
            "off_road_end": -100.0,  # terminal
            "idle": -100.0,  # terminal
            "falling": -40.0,  # terminal
        },
    }

    def __init__(self, config: dict):
        super().__init__(config)
        sensors = self.config["hero"]["sensors"]
        name = self.config["birdview_sensor"]
        if sensors.get(name, {}).get("type") != "sensor.birdview":
            raise ValueError(
                f"DQNExperiment: hero.sensors.{name} must be a 'sensor.birdview' "
                f"(the experiment's birdview_sensor), got {sensors.get(name)!r}"
            )
        if int(self.config["framestack"]) < 1:
            raise ValueError("DQNExperiment: framestack must be >= 1")
        self.frame_shape = birdview_shape(sensors[name])
        height, width, channels = self.frame_shape
        self.observation_shape = (height, width, channels * int(self.config["framestack"]))
        self.frames: deque[np.ndarray] = deque(maxlen=int(self.config["framestack"]))
        self.reward_config = self.config["reward"]
        self.last_action = ACTIONS[0]
        self._reset_episode_state()

    # ------------------------------------------------------------------ spaces and actions
    def get_action_space(self) -> spaces.Discrete:
        return spaces.Discrete(len(ACTIONS))

    def get_observation_space(self) -> spaces.Box:
        return spaces.Box(0, 255, self.observation_shape, np.uint8)

    def compute_action(self, action: int) -> carla.VehicleControl:
        throttle, steer, brake = ACTIONS[int(action)]
        self.last_action = (throttle, steer, brake)
        return carla.VehicleControl(
            throttle=throttle, steer=steer, brake=brake, hand_brake=False, reverse=False
        )

    # ------------------------------------------------------------------ episode
    def reset(self) -> None:
        self.frames.clear()
        self.last_action = ACTIONS[0]
        self._reset_episode_state()

    def _reset_episode_state(self) -> None:
        self.elapsed = 0.0
        self.time_idle = 0.0
        self.time_off_road = 0.0
        self.off_road_run = 0.0  # seconds off the road without a break
        self.distance = 0.0
        self.collisions = 0
        self.lane_invasions = 0
        self.lane_distance_total = 0.0  # metres from the lane centre, summed over on-road steps
        self.on_road_steps = 0
        self.collided_this_step = False
        self.end_reason = END_RUNNING
        self.reward_totals = dict.fromkeys(REWARD_TERMS, 0.0)
        self._previous: Measurement | None = None
        self._current: Measurement | None = None

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[np.ndarray, dict]:
        frame = sensor_data[self.config["birdview_sensor"]][1]
        frame = np.asarray(frame, dtype=np.uint8)
        if frame.shape[-1] != self.frame_shape[-1] or frame.shape[:2] != self.frame_shape[:2]:
            raise ValueError(f"bird's-eye frame {frame.shape}, expected {self.frame_shape}")
        if self._binary_masks:
            frame = frame * np.uint8(255)  # 0/1 masks -> 0/255 like a picture
        if not self.frames:
            self.frames.extend([frame] * int(self.config["framestack"]))
        else:
            self.frames.append(frame)
        collisions = _events(sensor_data, self.config["collision_sensor"])
        self.collided_this_step = bool(collisions)
        self.collisions += len(collisions)
        self.lane_invasions += len(_events(sensor_data, self.config["lane_invasion_sensor"]))
        return stack_frames(self.frames, self.observation_shape), {}

    @property
    def _binary_masks(self) -> bool:
        sensor = self.config["hero"]["sensors"][self.config["birdview_sensor"]]
        return str(sensor.get("mode", "rgb")) == "masks"

    # ------------------------------------------------------------------ done and reward
    def measure(self, view: SimulatorView) -> Measurement:
        if self._current is not None and self._current.frame == view.frame:
            return self._current
        hero = view.hero
        transform = hero.get_transform()
        velocity = hero.get_velocity()
        speed = 3.6 * math.sqrt(velocity.x**2 + velocity.y**2 + velocity.z**2)
        location = transform.location
        waypoint = view.map.get_waypoint(
            location,
            project_to_road=False,
            lane_type=carla.LaneType.Driving | carla.LaneType.Parking,
        )
        wrong_way, heading_sin, lane_distance, half_width = False, 0.0, 0.0, 1.0
        if waypoint is not None:
            lane_transform = waypoint.transform  # the client computes it at every read: once
            centre = lane_transform.location
            half_width = max(waypoint.lane_width / 2.0, 0.1)
            lane_distance = math.hypot(location.x - centre.x, location.y - centre.y)
            if not waypoint.is_junction:
                hero_dir = transform.get_forward_vector()
                lane_dir = lane_transform.get_forward_vector()
                dot = hero_dir.x * lane_dir.x + hero_dir.y * lane_dir.y
                cross = hero_dir.x * lane_dir.y - hero_dir.y * lane_dir.x
                wrong_way = dot < 0
                heading_sin = math.sin(-math.atan2(cross, dot))
        self._previous, self._current = (
            self._current,
            Measurement(
                frame=view.frame,
                location=np.array([location.x, location.y]),
                z=location.z,
                speed=speed,
                off_road=waypoint is None,
                wrong_way=wrong_way,
                heading_sin=heading_sin,
                lane_distance=lane_distance,
                lane_offset=lane_distance / half_width,
            ),
        )
        return self._current

    def get_done_status(self, observation: Any, view: SimulatorView) -> tuple[bool, bool]:
        now = self.measure(view)
        dt = float(view.timestep)
        self.elapsed += dt
        if self._previous is not None:
            self.distance += float(np.linalg.norm(now.location - self._previous.location))
        self.time_idle = self.time_idle + dt if now.speed <= self.config["idle_speed"] else 0.0
        self.time_off_road = self.time_off_road + dt if now.off_road else self.time_off_road
        self.off_road_run = self.off_road_run + dt if now.off_road else 0.0
        if not now.off_road:
            self.lane_distance_total += now.lane_distance
            self.on_road_steps += 1
        if self.collided_this_step:
            self.end_reason = "collision"
        elif now.off_road and self.off_road_run > self.config["max_time_off_road"]:
            self.end_reason = "off_road"
        elif now.z < self.config["min_fall_height"]:
            self.end_reason = "falling"
        elif self.time_idle > self.config["max_time_idle"]:
            self.end_reason = "idle"
        elif self.elapsed >= self.config["max_time_episode"] - 1e-9:
            self.end_reason = "time_limit"
        terminated = self.end_reason in ("collision", "off_road", "falling", "idle")
        return terminated, self.end_reason == "time_limit"

    def compute_reward(self, observation: Any, view: SimulatorView) -> float:
        weights = self.reward_config
        paid = {name: weights[name] * term for name, term in self.reward_terms(view).items()}
        for name, value in paid.items():
            self.reward_totals[name] += value
        return float(sum(paid.values()))

    def reward_terms(self, view: SimulatorView) -> dict[str, float]:
        """This step's terms, unweighted, by name (a term that does not apply is 0)."""
        now = self.measure(view)
        weights = self.reward_config
        previous = self._previous
        terms = dict.fromkeys(REWARD_TERMS, 0.0)
        cap = weights["distance_max_speed"]
        if previous is not None:
            metres = float(np.linalg.norm(now.location - previous.location))
            if cap > 0:
                metres = min(metres, cap / 3.6 * float(view.timestep))
            terms["distance"] = metres
            if cap > 0 and now.speed > cap:
                terms["over_speed"] = now.speed - cap
            if now.speed < weights["speed_gain_below"]:
                terms["speed_gain"] = now.speed - previous.speed
        if now.off_road:
            terms["off_road"] = 1.0
        elif now.wrong_way:
            terms["wrong_way"] = 1.0
        else:
            terms["lane_centre"] = min(now.lane_offset, 1.0)
            if abs(now.heading_sin) > weights["heading_sin_threshold"]:
                steer = self.last_action[1]
                if steer * now.heading_sin >= 0:  # zero or wrong-way steering does not correct
                    terms["heading"] = 1.0
        if self.end_reason in END_TERMS:
            terms[END_TERMS[self.end_reason]] = 1.0
        return terms

    # ------------------------------------------------------------------ metrics
    def route_completion(self, view: SimulatorView | None = None) -> float:
        """Fraction of the episode's time limit driven so far (1.0 = drove until the limit)."""
        return min(self.elapsed / float(self.config["max_time_episode"]), 1.0)

    def get_info(self) -> dict:
        """The episode so far (see the class docstring's Info)."""
        mean_speed = 3.6 * self.distance / self.elapsed if self.elapsed > 0 else 0.0
        return {
            "distance": self.distance,
            "mean_speed": mean_speed,
            "collisions": self.collisions,
            "lane_invasions": self.lane_invasions,
            "lane_centre_distance": self.lane_distance_total / max(self.on_road_steps, 1),
            "off_road_time": self.time_off_road,
            "route_completion": self.route_completion(),
            "completed": self.end_reason == "time_limit",
            "end_reason": self.end_reason,
            "reward_terms": dict(self.reward_totals),
        }


def stack_frames(frames: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The frames (H, W, C) side by side on the channel axis, oldest first: what
    `np.concatenate(frames, axis=-1)` gives, in a third of its time (OpenCV interleaves the
    channels of all frames in one pass; numpy copies 3 bytes at a time per frame)."""
    if sum(frame.shape[-1] for frame in frames) > _OPENCV_MAX_CHANNELS:
        return np.concatenate(frames, axis=-1)
    return cv2.merge([np.ascontiguousarray(frame) for frame in frames]).reshape(shape)


def _events(sensor_data: dict, name: str) -> list:
    reading = sensor_data.get(name)
    if reading is None:
        return []
    events = reading[1]
    return list(events) if events else []


def birdview_shape(attributes: dict) -> tuple[int, int, int]:
    """(H, W, C) of one bird's-eye frame, from the sensor's YAML attributes."""
    from rllib_integration.sensors.birdview.settings import BirdViewSettings

    return BirdViewSettings.from_attributes(attributes).shape
