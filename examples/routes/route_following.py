"""Route following: drive a given route through junctions and traffic, scored like the leaderboard.

The README's "Learning to drive routes" section walks through this file and `dqn_config.yaml`.
Every episode is a route episode (`env_config.experiment.routes` draws one at each reset): the
env's route tracker scores it, and this experiment reads the tracker for its reward.

- Action: `Discrete(29)`, the DQN example's table (`dqn_example.dqn_experiment.ACTIONS`): coast,
  brake, steering without throttle, throttle {0.3, 0.6, 1.0} x steering.
- Observation: a Dict. `birdview`: the last `framestack` bird's-eye frames (binary masks, the
  route drawn in its own layer) stacked on the channel axis, uint8 0/1. `state`: float32, the
  `sensor.route_state` reading scaled to about [-1, 1] (offset from the route, heading error,
  the point `lookahead` m ahead in the hero's frame, the next decision as one-hot and its
  distance, route left, speed), the `sensor.lane_state` speed limit and the next traffic light
  (distance, red, yellow), and the last action's throttle, steer and brake.
- Reward: CaRL's (Jaeger et al. 2025): mostly one term, route progress. Each term is a weight
  under `reward:` times what it measures, and `info["reward_terms"]` sums each per episode:
  `progress`: metres of route completed this step (as the tracker credits them: on the route's
  lanes), times the Driving Score's penalty so far (`progress_scaled_by_penalty`): an
  infraction that does not end the episode makes the rest of the route worth less, so the
  return follows the Driving Score; `over_speed`: per step and km/h above `max_speed`; once,
  at the step that ends the episode: `collision`, `red_light`, `stop_infraction` (if listed in
  `end_on`), `off_route`, `idle`, `route_deviation` (penalties) and `completed` (a bonus).
- Episode end: the route ends it (completed, route deviation, blocked: terminated; timeout:
  truncated) and so do this experiment's rules: an infraction kind in `end_on`, more than
  `max_offset` m from the route (`off_route`), no route progress for `max_time_idle` s
  (`idle`). All terminated. Evaluation (`python -m rllib_integration.evaluate`) ends a route
  only by the leaderboard's rules.
- Info: `end_reason`, `reward_terms`, `progress` (m this step), `penalty` (the Driving Score's
  infraction factor so far); the env adds `info["route"]` (completion, infractions, score).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import carla
import numpy as np
from gymnasium import spaces

from dqn_example.dqn_experiment import ACTIONS
from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.routes.score import PENALTIES
from rllib_integration.sensors.birdview.settings import BirdViewSettings
from rllib_integration.sensors.lane_state import FIELDS as LANE_FIELDS
from rllib_integration.sensors.route_state import FIELDS as ROUTE_FIELDS
from rllib_integration.sensors.route_state import RouteStateSensor

if TYPE_CHECKING:
    from rllib_integration.routes.tracker import RouteTracker
    from rllib_integration.sim_view import SimulatorView

# Infractions of the tracker that may end an episode (`end_on`); collisions of every kind are one.
COLLISION = "collision"
END_ON_KINDS = (COLLISION, "red_light", "stop_infraction")
# Terms paid once, at the step that ends the episode for this reason (the weight's key).
END_TERMS = (*END_ON_KINDS, "off_route", "idle", "route_deviation", "completed")
REWARD_TERMS = ("progress", "over_speed", *END_TERMS)
# The tracker's end reasons that this experiment rewards or penalises (others: timeout, none).
TRACKER_ENDS = {"completed": "completed", "route_deviation": "route_deviation", "blocked": "idle"}
LIGHT_STATE = LANE_FIELDS.index("light_state")
LIGHT_DISTANCE = LANE_FIELDS.index("light_distance")
SPEED_LIMIT = LANE_FIELDS.index("speed_limit")
OFFSET, SPEED = ROUTE_FIELDS.index("lateral_offset"), ROUTE_FIELDS.index("speed")
STATE_SIZE = len(ROUTE_FIELDS) + 4 + 3  # route state, lane (limit, light x 3), last action


class RouteFollowing(BaseExperiment[dict, int]):
    DEFAULT_CONFIG: ClassVar[dict] = {
        "framestack": 2,
        # Names of the sensors in hero.sensors that the experiment reads.
        "birdview_sensor": "birdview",
        "route_sensor": "route",
        "lane_sensor": "lane",
        "collision_sensor": "collision",
        # Infractions that end the episode (terminated): collision, red_light, stop_infraction.
        # The others only scale the progress reward that follows (progress_scaled_by_penalty).
        "end_on": [COLLISION, "red_light"],
        "max_offset": 3.0,  # m from the route: off_route, terminated
        "max_time_idle": 30.0,  # s without route progress: idle, terminated
        "max_speed": 30.0,  # km/h, for the over_speed term
        "progress_scaled_by_penalty": True,
        "reward": {
            "progress": 1.0,  # per metre of route completed
            "over_speed": -0.05,  # per step and km/h above max_speed
            "collision": -50.0,
            "red_light": -50.0,
            "stop_infraction": -20.0,
            "off_route": -50.0,
            "idle": -50.0,
            "route_deviation": -50.0,
            "completed": 0.0,
        },
    }

    def __init__(self, config: dict):
        super().__init__(config)
        sensors = self.config["hero"]["sensors"]
        for key, kind in (
            ("birdview_sensor", "sensor.birdview"),
            ("route_sensor", "sensor.route_state"),
            ("lane_sensor", "sensor.lane_state"),
            ("collision_sensor", "sensor.other.collision"),
        ):
            name = self.config[key]
            if sensors.get(name, {}).get("type") != kind:
                raise ValueError(
                    f"RouteFollowing: hero.sensors.{name} must be a '{kind}' (the experiment's "
                    f"{key}), got {sensors.get(name)!r}"
                )
        birdview = BirdViewSettings.from_attributes(sensors[self.config["birdview_sensor"]])
        if birdview.mode != "masks":
            raise ValueError("RouteFollowing: the bird's-eye view must be in mode: masks")
        if "route" not in birdview.layers:
            raise ValueError("RouteFollowing: the bird's-eye view needs the 'route' layer")
        unknown = sorted(set(self.config["end_on"]) - set(END_ON_KINDS))
        if unknown:
            raise ValueError(f"RouteFollowing: end_on {unknown}: known are {END_ON_KINDS}")
        if int(self.config["framestack"]) < 1:
            raise ValueError("RouteFollowing: framestack must be >= 1")
        self.frame_shape = birdview.shape
        route = RouteStateSensor.settings(sensors[self.config["route_sensor"]])
        self.lookahead, self.horizon = route["lookahead"], route["horizon"]
        self.frames: deque[np.ndarray] = deque(maxlen=int(self.config["framestack"]))
        self.tracker: RouteTracker | None = None
        self.reset()

    # ------------------------------------------------------------------ spaces and actions
    def get_action_space(self) -> spaces.Discrete:
        return spaces.Discrete(len(ACTIONS))

    def get_observation_space(self) -> spaces.Dict:
        height, width, channels = self.frame_shape
        stacked = (height, width, channels * int(self.config["framestack"]))
        return spaces.Dict(
            {
                "birdview": spaces.Box(0, 1, stacked, np.uint8),
                "state": spaces.Box(-np.inf, np.inf, (STATE_SIZE,), np.float32),
            }
        )

    def compute_action(self, action: int) -> carla.VehicleControl:
        throttle, steer, brake = ACTIONS[int(action)]
        self.last_action = (throttle, steer, brake)
        return carla.VehicleControl(throttle=throttle, steer=steer, brake=brake)

    # ------------------------------------------------------------------ episode
    def set_route_tracker(self, tracker: RouteTracker | None) -> None:
        # None: a reset without a route (e.g. the evaluation CLI loading a town to plan on);
        # stepping it is an error (`_tracker`).
        self.tracker = tracker

    def reset(self) -> None:
        self.frames.clear()
        self.last_action = ACTIONS[0]
        self.time = self.idle_time = 0.0
        self.credited = 0.0  # metres of route completed so far (the tracker's)
        self.progress = 0.0
        self.infractions_seen = 0
        self.end_reason = "running"
        self.reward_totals = dict.fromkeys(REWARD_TERMS, 0.0)

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[dict, dict]:
        frame = np.asarray(sensor_data[self.config["birdview_sensor"]][1], np.uint8)
        if not self.frames:
            self.frames.extend([frame] * int(self.config["framestack"]))
        else:
            self.frames.append(frame)
        self.route_state = np.asarray(sensor_data[self.config["route_sensor"]][1], np.float32)
        lane = np.asarray(sensor_data[self.config["lane_sensor"]][1], np.float32)
        self.collided = bool(sensor_data[self.config["collision_sensor"]][1])
        observation = {
            "birdview": np.concatenate(self.frames, axis=-1),
            "state": self._state(self.route_state, lane),
        }
        return observation, {}

    def _state(self, route: np.ndarray, lane: np.ndarray) -> np.ndarray:
        """The state vector, each field scaled to about [-1, 1]."""
        scaled = route.copy()
        scaled[OFFSET] /= 2.0  # m
        scaled[ROUTE_FIELDS.index("heading_error")] /= math.pi
        scaled[ROUTE_FIELDS.index("target_x")] /= self.lookahead
        scaled[ROUTE_FIELDS.index("target_y")] /= self.lookahead
        scaled[ROUTE_FIELDS.index("decision_distance")] /= self.horizon
        scaled[ROUTE_FIELDS.index("remaining")] /= self.horizon
        scaled[SPEED] /= 10.0  # m/s
        light = lane[LIGHT_STATE]
        extra = [
            lane[SPEED_LIMIT] / 10.0,
            lane[LIGHT_DISTANCE] / 50.0,
            float(light == 3.0),  # red
            float(light == 2.0),  # yellow
            *self.last_action,
        ]
        return np.clip(np.concatenate([scaled, np.asarray(extra, np.float32)]), -10.0, 10.0)

    # ------------------------------------------------------------------ done and reward
    def get_done_status(self, observation: dict, view: SimulatorView) -> tuple[bool, bool]:
        tracker = self._tracker()
        self.time += view.timestep
        credited = tracker.progress.credited
        self.progress, self.credited = credited - self.credited, credited
        self.idle_time = 0.0 if self.progress > 0.0 else self.idle_time + view.timestep
        new = tracker.infractions[self.infractions_seen :]
        self.infractions_seen = len(tracker.infractions)
        kinds = {COLLISION if i.kind.startswith("collisions_") else i.kind for i in new}
        if self.collided:
            kinds.add(COLLISION)
        ended = [kind for kind in self.config["end_on"] if kind in kinds]
        if ended:
            self.end_reason = ended[0]
        elif tracker.end_reason in TRACKER_ENDS:
            self.end_reason = TRACKER_ENDS[tracker.end_reason]
        elif tracker.end_reason == "timeout":
            self.end_reason = "timeout"
        elif abs(float(self.route_state[OFFSET])) > self.config["max_offset"]:
            self.end_reason = "off_route"
        elif self.idle_time > self.config["max_time_idle"]:
            self.end_reason = "idle"
        return self.end_reason not in ("running", "timeout"), self.end_reason == "timeout"

    def compute_reward(self, observation: dict, view: SimulatorView) -> float:
        weights = self.config["reward"]
        paid = {name: weights[name] * term for name, term in self.reward_terms().items()}
        for name, value in paid.items():
            self.reward_totals[name] += value
        return float(sum(paid.values()))

    def reward_terms(self) -> dict[str, float]:
        """This step's terms, unweighted, by name (a term that does not apply is 0)."""
        terms = dict.fromkeys(REWARD_TERMS, 0.0)
        scale = self.penalty if self.config["progress_scaled_by_penalty"] else 1.0
        terms["progress"] = self.progress * scale
        speed = 3.6 * float(self.route_state[SPEED])
        terms["over_speed"] = max(speed - self.config["max_speed"], 0.0)
        if self.end_reason in END_TERMS:
            terms[self.end_reason] = 1.0
        return terms

    @property
    def penalty(self) -> float:
        """The Driving Score's infraction factor so far (1.0 without infractions)."""
        factor = 1.0
        for infraction in self.tracker.infractions if self.tracker is not None else ():
            factor *= PENALTIES.get(infraction.kind, 1.0)
        return factor

    def _tracker(self) -> RouteTracker:
        if self.tracker is None:
            raise RuntimeError(
                "RouteFollowing drives routes: set env_config.experiment.routes.source (e.g. "
                "random or grid01_train), or reset with options={'route': ...}"
            )
        return self.tracker

    # ------------------------------------------------------------------ metrics
    def route_completion(self, view: SimulatorView | None = None) -> float | None:
        return None if self.tracker is None else self.tracker.progress.completion

    def get_info(self) -> dict:
        return {
            "end_reason": self.end_reason,
            "progress": self.progress,
            "penalty": self.penalty,
            "reward_terms": dict(self.reward_totals),
        }
