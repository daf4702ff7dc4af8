"""CarlaEnv: a gymnasium environment over one simulator, driven by a BaseExperiment subclass.

RLlib usage: `config.environment(CarlaEnv, env_config=load_config(path)["env_config"])`.
Each env instance launches (or attaches to) its own server on ports spread by RLlib's worker
index. A dead or hung server truncates the episode; the next `reset()` restarts it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import carla
import gymnasium as gym
import numpy as np

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.config import (
    AGENTS,
    ConfigError,
    carla_settings,
    import_experiment,
    resolve_env_config,
)
from rllib_integration.core.carla_core import CarlaCore, SetupError, SimulatorFailure
from rllib_integration.env_metrics import COLLISION, EnvMetrics
from rllib_integration.fatal import reports_fatal_errors
from rllib_integration.routes.route import Route
from rllib_integration.routes.source import RouteSource
from rllib_integration.routes.tracker import RouteTracker, TrackerSettings
from rllib_integration.space_checks import (
    SpaceError,
    action_problem,
    control_problem,
    non_finite_problem,
    observation_problem,
)
from rllib_integration.towns import server_map_arguments, town_name

logger = logging.getLogger(__name__)

# Envs of one worker get spread indices worker_index * ENVS_PER_WORKER + n; the port search
# starts there and skips reserved blocks, so the spread only avoids needless probing.
ENVS_PER_WORKER = 8
# The key of the env's own metrics in `info`; an experiment's info may not use it.
ENV_INFO_KEY = "env"
# The key of a route episode's score in `info` (`RouteTracker.result()`).
ROUTE_INFO_KEY = "route"
# Routes drawn (experiment.routes) before a reset gives up on finding a free start.
DRAWN_ROUTE_ATTEMPTS = 10

ObsType = TypeVar("ObsType")
ActType = TypeVar("ActType")


class CarlaEnv(gym.Env[ObsType, ActType]):
    """A CARLA world with one ego vehicle (the hero), as a gymnasium environment.

    ## Description

    Each env owns one simulator: it launches CarlaUE4 or the embedded server (or attaches to a
    running one), spawns the hero with the sensors of `experiment.hero.sensors` and the NPCs of
    `experiment.background_activity`, and runs the world synchronously at
    `carla.timestep` seconds per step. What the task is (spaces, action -> control, observation,
    reward, episode end) is the experiment's: a `BaseExperiment` subclass named by
    `experiment.type`.

    ## Action Space

    `experiment.get_action_space()`; `experiment.compute_action(action)` turns an action into
    the hero's `carla.VehicleControl`, applied for one step.

    ## Observation Space

    `experiment.get_observation_space()`; built by `experiment.get_observation(sensor_data)`
    from every sensor's reading of the current frame (`{name: (frame, reading)}`).

    ## Rewards

    `experiment.compute_reward(observation, view)`. A step truncated by a simulator failure
    gives 0.0.

    ## Starting State

    The hero at a random free spawn point (of `hero.spawn_points`, else the map's), or at the
    k-th with `reset(options={"spawn_point": k})`; the town of `experiment.town` (a list is
    drawn from every `town_change_every` episodes), the weather of `experiment.weather`. A route
    episode (`reset(options={"route": route})`, or every reset with `experiment.routes`)
    starts at the route's first point in its town.

    ## Episode End

    Terminated or truncated as `experiment.get_done_status(observation, view)` says, and
    truncated at `experiment.time_limit` seconds of simulated time if one is set; a route
    episode also ends with its route (terminated when completed, deviated or blocked, truncated
    on the route's timeout). A dead or hung server truncates the episode
    (`info["env"]["simulator_failure"]`); the next `reset()` restarts it, up to
    `carla.retries_on_error` times in a row.

    ## Info

    The experiment's own keys (from `get_observation` and `get_info`), and under "env" the env's
    own: `town`, `distance` (m since the reset, planar), `time` (s of simulated time since the
    reset), `speed` (m/s), `mean_speed` (m/s, distance / time), `collisions` and
    `lane_invasions` (events of the hero's collision / lane-invasion sensors, if configured),
    `server_restarts`, `route_completion` (if the experiment reports one), `spawn_points` (at
    reset: how many the hero could start at), `end` on an episode's last step (`terminated`,
    `truncated` or `simulator_failure`), and `simulator_failure` / `failure` (the message) on a
    step the simulator failed. In a route episode, under "route" the score of the drive so far
    (`routes.RouteTracker.result()`: completion, infractions by kind, driving score, end
    reason).

    ## Arguments

    `config`: the `env_config` mapping (`{carla: ..., experiment: ...}`, merged over the
    defaults in `defaults.py`; RLlib's EnvContext also gives the worker and vector index that
    spread the ports). `render_mode`: None or "rgb_array": `render()` gives the hero's
    bird's-eye view, else its first RGB camera (one of them must be configured), at
    `metadata["render_fps"]` = 1 / timestep.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    # RLlib's new stack gives every sub-env of a runner the same vector_index (0), so envs
    # count themselves per process to get distinct port ranges.
    _instances_in_process: ClassVar[int] = 0

    def __init__(self, config: Mapping | None = None, render_mode: str | None = None):
        # Also fails now, not at the first reset, when `server: carla` has no install to launch
        # or the embedded server lacks a town.
        self.env_config = resolve_env_config(config)
        if AGENTS in self.env_config["experiment"]:
            raise ConfigError(
                "env_config.experiment.agents: several heroes need "
                "rllib_integration.multi_agent_env:MultiAgentCarlaEnv, not CarlaEnv"
            )
        self.worker_index = int(getattr(config, "worker_index", 0) or 0)
        self.vector_index = int(getattr(config, "vector_index", 0) or 0)
        self.sub_index = CarlaEnv._instances_in_process
        CarlaEnv._instances_in_process += 1
        experiment_config = self.env_config["experiment"]
        experiment_class = import_experiment(experiment_config["type"])
        self.experiment: BaseExperiment[ObsType, ActType] = experiment_class(experiment_config)
        self.action_space = self.experiment.get_action_space()
        self.observation_space = self.experiment.get_observation_space()
        self._name = type(self.experiment).__name__
        for method, space in (
            ("get_action_space", self.action_space),
            ("get_observation_space", self.observation_space),
        ):
            if not isinstance(space, gym.Space):
                raise SpaceError(
                    f"{self._name}.{method}() returned {space!r}, not a gymnasium.spaces.Space"
                )
        self._check_always = bool(experiment_config["check_spaces"])
        self.render_mode = render_mode
        self.metadata = {
            **CarlaEnv.metadata,
            "render_fps": 1.0 / self.env_config["carla"]["timestep"],
        }
        _check_render_mode(render_mode, experiment_config["hero"]["sensors"])
        self._core: CarlaCore | None = None
        self._needs_recovery = False
        self._episodes = 0
        self._town: str | None = None
        self._last_observation: Any = None
        self._last_sensor_data: dict = {}
        self._metrics = EnvMetrics(experiment_config["hero"]["sensors"])
        self._route: RouteTracker | None = None
        self._route_collisions: list[str] = []  # the route episode's collision sensors
        self._until_route_ends = False
        self._route_source = RouteSource.from_config(experiment_config["routes"])

    @property
    def episodes(self) -> int:
        """Episodes started so far (resets)."""
        return self._episodes

    @property
    def spread_index(self) -> int:
        return self.spread_of(self.worker_index, self.vector_index, self.sub_index)

    @staticmethod
    def spread_of(worker_index: int, vector_index: int, sub_index: int) -> int:
        """Where an env's search for a free port block starts (see ENVS_PER_WORKER)."""
        return (worker_index * ENVS_PER_WORKER + vector_index + sub_index) % 4096

    @property
    def core(self) -> CarlaCore:
        """The simulator side; the server is launched on first use (normally the first reset)."""
        if self._core is None:
            towns = self.env_config["experiment"]["town"]
            towns = [] if towns is None else towns if isinstance(towns, list) else [towns]
            settings = carla_settings(self.env_config["carla"])
            self._core = CarlaCore(
                settings, self.spread_index, server_map_arguments(towns, settings)
            )
        return self._core

    # ---------------------------------------------------------------- gymnasium API

    @reports_fatal_errors
    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[ObsType, dict]:
        """Start an episode. `options={"spawn_point": k}` puts the hero at the k-th spawn point
        (modulo their number; `info["env"]["spawn_points"]` says how many there are), e.g. to
        spread evaluation episodes evenly over the map; otherwise the spawn point is random.

        `options={"town": name}` loads that town for this episode instead of `experiment.town`.

        `options={"route": route}` (a `routes.Route`) makes a route episode: the hero starts at
        the route's first point in its town (with a collision sensor added if it has none),
        every `info["route"]` scores the drive so far, and the episode ends with the route. With
        `"autopilot": True` CARLA's Traffic Manager drives the hero along the route and actions
        are ignored. With `"until_route_ends": True` only the route ends the episode (as in the
        leaderboard), not the experiment's own rules. The route is drawn on the hero's
        bird's-eye view and given to its other pseudo-sensors (`sensor.route_state`), and the
        experiment gets the tracker (`set_route_tracker`).

        With `experiment.routes.source` set, every reset without a route (or spawn point) of
        its own is a route episode with a drawn route (`routes/source.py`): so RLlib trains on
        routes.
        """
        super().reset(seed=seed)
        options = options or {}
        spawn_point = options.get("spawn_point")
        if spawn_point is not None and (
            isinstance(spawn_point, bool) or not isinstance(spawn_point, int | np.integer)
        ):
            raise ValueError(f"reset options: spawn_point must be an int, got {spawn_point!r}")
        route, autopilot = options.get("route"), bool(options.get("autopilot", False))
        self._until_route_ends = route is not None and bool(options.get("until_route_ends"))
        if route is not None and not isinstance(route, Route):
            raise ValueError(f"reset options: route must be a routes.Route, got {route!r}")
        if autopilot and route is None:
            raise ValueError("reset options: autopilot drives along a route; give one too")
        town = options.get("town")
        if town is not None and not isinstance(town, str):
            raise ValueError(f"reset options: town must be a town name, got {town!r}")
        if town and route is not None and route.town and route.town != town:
            raise ValueError(f"reset options: town {town!r} but the route is in {route.town!r}")
        core_seed = int(self.np_random.integers(2**31))
        drawn = route is None and self._route_source is not None and spawn_point is None
        for attempt in range(1, DRAWN_ROUTE_ATTEMPTS + 1):
            if drawn:
                route = self._draw_route(town)
            try:
                # A drawn route is in its own town (the town option chose it already).
                where = None if drawn else town
                sensor_data, episode_config = self._set_up(where, spawn_point, route, core_seed)
                break
            except SetupError:
                # A drawn route whose start a vehicle stands on: draw another.
                if not drawn or attempt == DRAWN_ROUTE_ATTEMPTS:
                    raise
        self._needs_recovery = False
        self._episodes += 1
        self._route = None
        if route is not None:
            settings = TrackerSettings(**self.env_config["experiment"]["route"])
            self._route = RouteTracker.from_view(route, self.core.view, settings)
            sensors = episode_config["hero"]["sensors"].items()
            self._route_collisions = [name for name, s in sensors if s["type"] == COLLISION]
            if autopilot:
                self.core.autopilot_hero([point[:3] for point in route.keypoints()[1:]])
        self.experiment.set_route_tracker(self._route)
        self.experiment.reset()
        observation, info = self.experiment.get_observation(sensor_data)
        self._check_observation(observation)
        self._last_observation, self._last_sensor_data = observation, sensor_data
        self._metrics.start(self.core.view, self.core.map_name, self.core.restarts)
        env_info = self._env_info(sensor_data, stepped=False)
        env_info["spawn_points"] = self.core.spawn_point_count
        return observation, self._info(info, env_info)

    @reports_fatal_errors
    def step(self, action: ActType) -> tuple[ObsType, float, bool, bool, dict]:
        if self._needs_recovery:
            # The previous step already truncated; RLlib should have reset. Keep truncating.
            failed = {ENV_INFO_KEY: {"simulator_failure": True}}
            return self._last_observation, 0.0, False, True, failed
        if self._core is None or self._core.hero is None:
            raise gym.error.ResetNeeded("CarlaEnv.step() called before reset()")
        self._check_action(action)
        control = self.experiment.compute_action(action)
        problem = control_problem(control, checked=self.checking)
        if problem:
            raise SpaceError(
                f"{self._name}.compute_action({action!r}) returned a control whose {problem}"
            )
        try:
            sensor_data = self.core.step(control)
        except SimulatorFailure as exc:
            logger.warning("simulator failure, truncating the episode: %s", exc)
            self._needs_recovery = True
            env_info = {**self._metrics.snapshot(), "simulator_failure": True, "failure": str(exc)}
            env_info["end"] = "simulator_failure"
            return self._last_observation, 0.0, False, True, {ENV_INFO_KEY: env_info}
        view = self.core.view
        if self._route is not None:
            self._route.update(self._collision_events(sensor_data))
        observation, info = self.experiment.get_observation(sensor_data)
        self._check_observation(observation)
        terminated, truncated = self.experiment.get_done_status(observation, view)
        if self._route is not None:
            end = self._route.end_reason
            if self._until_route_ends:
                terminated = truncated = False
            terminated = terminated or end in ("completed", "route_deviation", "blocked")
            truncated = truncated or end == "timeout"
        truncated = truncated or self._metrics.time_up(
            view, self.env_config["experiment"]["time_limit"]
        )
        reward = self.experiment.compute_reward(observation, view)
        self._last_observation, self._last_sensor_data = observation, sensor_data
        env_info = self._env_info(sensor_data)
        if terminated or truncated:
            env_info["end"] = "terminated" if terminated else "truncated"
        info = self._info(info, env_info)
        return observation, float(reward), bool(terminated), bool(truncated), info

    # gymnasium types render() with a TypeVar bound nowhere, which no concrete type matches.
    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """With `render_mode="rgb_array"`: this step's H x W x 3 uint8 frame of the hero's
        bird's-eye view (`sensor.birdview`), else of its first RGB camera; None without a
        render mode. `metadata["render_fps"]` is the env's step rate (1 / timestep), so
        gymnasium's `RecordVideo` and `utils.play` play it in simulated time."""
        if self.render_mode is None:
            return None
        if self._core is None or not self._last_sensor_data:
            raise gym.error.ResetNeeded("CarlaEnv.render() called before reset()")
        frame = rgb_frame(self.env_config["experiment"]["hero"]["sensors"], self._last_sensor_data)
        if frame is None:  # a camera whose sensor_tick is longer than a step has not sent one
            raise RuntimeError("CarlaEnv.render(): the hero's camera has sent no image yet")
        return frame

    def close(self) -> None:
        if self._core is not None:
            self._core.close()
            self._core = None

    # ---------------------------------------------------------------- space checks

    @property
    def checking(self) -> bool:
        """Whether observations and actions are checked in full against their spaces now: in
        the first episode of every env, and always with `experiment.check_spaces: true`."""
        return self._check_always or self._episodes <= 1

    def _check_observation(self, observation: Any) -> None:
        if not self.checking:
            return
        problem = observation_problem(self.observation_space, observation, "observation")
        if problem:
            raise SpaceError(
                f"{self._name}.get_observation() returned an observation outside "
                f"get_observation_space(): {problem}"
            )

    def _check_action(self, action: Any) -> None:
        """NaN or infinite actions never reach the simulator; the rest is checked while
        `checking`."""
        problem = non_finite_problem(action, "action")
        if problem is None and self.checking:
            problem = action_problem(self.action_space, action, "action")
        if problem:
            raise SpaceError(
                f"CarlaEnv.step(): the action does not fit {self._name}.get_action_space(): "
                f"{problem}"
            )

    # ---------------------------------------------------------------- helpers

    @property
    def route_tracker(self) -> RouteTracker | None:
        """The tracker of the current route episode (None in an ordinary episode)."""
        return self._route

    def _episode_config(self, route: Route | None) -> Mapping:
        """The experiment section for this episode: a route episode scores collisions, so its
        hero gets a collision sensor if it has none (named `route_collision`)."""
        config = self.env_config["experiment"]
        sensors = config["hero"]["sensors"]
        if route is None or any(s["type"] == COLLISION for s in sensors.values()):
            return config
        added = {**sensors, "route_collision": {"type": COLLISION}}
        return {**config, "hero": {**config["hero"], "sensors": added}}

    def _collision_events(self, sensor_data: Mapping[str, tuple[int, Any]]) -> list:
        return [event for name in self._route_collisions for event in sensor_data[name][1]]

    def _set_up(
        self,
        town: str | None,
        spawn_point: int | np.integer | None,
        route: Route | None,
        seed: int,
    ) -> tuple[dict, Mapping]:
        """The world of the next episode: its first sensor data, and its experiment section."""
        town = town or (route.town if route is not None else None) or self._choose_town()
        town = None if town is None else town_name(town)  # an .xodr file: the server's name
        episode_config = self._episode_config(route)
        sensor_data = self.core.retrying(
            lambda: self.core.reset_episode(
                episode_config,
                town,
                seed,
                None if spawn_point is None else int(spawn_point),
                _start_of(route),
                route,
            ),
            failed=self._needs_recovery,
        )
        return sensor_data, episode_config

    def _draw_route(self, town: str | None) -> Route:
        """A route of `experiment.routes` for this episode, planned on its town's map (loaded
        now if another is current): the town of a route file's route, else `town` (a reset
        option) or the experiment's."""
        source = self._route_source
        assert source is not None
        choice = source.choose(self.np_random)
        if town and choice.town and town_name(town) != choice.town:
            raise ValueError(
                f"reset options: town {town!r}, but the routes of experiment.routes.source "
                f"are in {choice.town!r}"
            )
        chosen = choice.town or town or self._choose_town()
        if chosen is not None:
            chosen = town_name(chosen)
            carla_map = self.core.retrying(
                lambda: self.core.load_town(chosen), failed=self._needs_recovery
            )
            self._needs_recovery = False
        else:
            carla_map = self.core.map
        return source.plan(choice, carla_map, self.np_random)

    def _choose_town(self) -> str | None:
        self._town = choose_town(
            self.env_config["experiment"], self._town, self._episodes, self.np_random
        )
        return self._town

    def _env_info(
        self, sensor_data: Mapping[str, tuple[int, Any]], stepped: bool = True
    ) -> dict[str, Any]:
        view = self.core.view
        route = self.experiment.route_completion(view)
        return self._metrics.report(view, sensor_data, route, stepped=stepped)

    def _info(self, observation_info: dict, env_info: dict[str, Any]) -> dict[str, Any]:
        """The experiment's info (get_observation's, updated by get_info) and the env's own."""
        info = {**observation_info, **self.experiment.get_info()}
        own = (ENV_INFO_KEY, ROUTE_INFO_KEY) if self._route is not None else (ENV_INFO_KEY,)
        for key in own:
            if key in info:
                raise ValueError(
                    f"{type(self.experiment).__name__}: info key '{key}' is the env's own "
                    "(its metrics); give the experiment's value another name"
                )
        info[ENV_INFO_KEY] = env_info
        if self._route is not None:
            info[ROUTE_INFO_KEY] = self._route.result()
        return info


def choose_town(
    experiment: Mapping, current: str | None, episodes: int, rng: np.random.Generator
) -> str | None:
    """The town of the next episode: `experiment.town`, or from its list a random one every
    `town_change_every` episodes (`current` in between)."""
    town = experiment["town"]
    if not isinstance(town, list):
        return town
    if current is None or episodes % experiment["town_change_every"] == 0:
        return town[int(rng.integers(len(town)))]
    return current


RENDERABLE = ("sensor.birdview", "sensor.camera.rgb")


def _check_render_mode(render_mode: str | None, sensors: Mapping[str, Mapping]) -> None:
    """ValueError, at construction, for a render mode the env cannot serve."""
    if render_mode is None:
        return
    if render_mode != "rgb_array":
        raise ValueError(f"render_mode {render_mode!r}: CarlaEnv renders 'rgb_array' (or None)")
    if not any(s.get("type") in RENDERABLE for s in sensors.values()):
        raise ValueError(
            "render_mode 'rgb_array' needs a sensor.birdview or a sensor.camera.rgb on the hero; "
            "add one under env_config.experiment.hero.sensors, e.g. "
            "birdview: {type: sensor.birdview, size: 128}"
        )


def rgb_frame(
    sensors: Mapping[str, Mapping], sensor_data: Mapping[str, tuple[int, Any]]
) -> np.ndarray | None:
    """The latest bird's-eye view among a hero's sensors, else its first RGB camera's image."""
    for wanted in RENDERABLE:
        for name, attributes in sensors.items():
            reading = sensor_data.get(name, (None, None))[1]
            if attributes["type"] == wanted and isinstance(reading, np.ndarray):
                return reading
    return None


def _start_of(route: Route | None) -> carla.Transform | None:
    """Where a route's hero spawns: its first point, 0.5 m up (as CARLA's spawn points)."""
    if route is None:
        return None
    x, y, z = (float(v) for v in route.positions[0])
    return carla.Transform(carla.Location(x, y, z + 0.5), carla.Rotation(yaw=float(route.yaws[0])))
