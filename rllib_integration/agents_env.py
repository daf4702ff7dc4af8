"""CarlaAgentsEnv: several heroes in one CARLA world, one agent each, with multi-agent dicts.

The env itself, free of Ray: RLlib's face is `multi_agent_env.MultiAgentCarlaEnv` (this class
and RLlib's MultiAgentEnv), PettingZoo's is `pettingzoo_env.CarlaParallelEnv`, and the Ray-free
inference script drives this class directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.carla_env import ENV_INFO_KEY, CarlaEnv, choose_town, rgb_frame
from rllib_integration.config import (
    agent_experiment_configs,
    import_experiment,
    resolve_env_config,
)
from rllib_integration.core.carla_core import CarlaCore, SimulatorFailure
from rllib_integration.core.heroes import HeroRequest
from rllib_integration.env_metrics import EnvMetrics
from rllib_integration.fatal import reports_fatal_errors
from rllib_integration.space_checks import (
    SpaceError,
    action_problem,
    control_problem,
    non_finite_problem,
    observation_problem,
)

logger = logging.getLogger(__name__)

ALL = "__all__"


class _Agent:
    """One agent: its experiment (the single-agent API, unchanged), its metrics, its last step."""

    def __init__(self, agent_id: str, config: dict):
        self.id = agent_id
        self.config = config
        self.experiment: BaseExperiment = import_experiment(config["type"])(config)
        self.name = f"{type(self.experiment).__name__} (agent '{agent_id}')"
        self.observation_space = self.experiment.get_observation_space()
        self.action_space = self.experiment.get_action_space()
        for method, space in (
            ("get_action_space", self.action_space),
            ("get_observation_space", self.observation_space),
        ):
            if not isinstance(space, gym.Space):
                raise SpaceError(f"{self.name}.{method}() returned {space!r}, not a Space")
        self.check_always = bool(config["check_spaces"])
        self.metrics = EnvMetrics(config["hero"]["sensors"])
        self.last_observation: Any = None
        self.last_sensor_data: dict = {}

    def control(self, action: Any, checking: bool) -> Any:
        """The hero's control for `action`; NaN or infinite actions never reach the simulator,
        and while `checking` the action must fit the space and the control its ranges."""
        problem = non_finite_problem(action, "action")
        if problem is None and checking:
            problem = action_problem(self.action_space, action, "action")
        if problem:
            raise SpaceError(
                f"step(): the action does not fit {self.name}.get_action_space(): {problem}"
            )
        control = self.experiment.compute_action(action)
        problem = control_problem(control, checked=checking)
        if problem:
            raise SpaceError(
                f"{self.name}.compute_action({action!r}) returned a control whose {problem}"
            )
        return control

    def check_observation(self, observation: Any, checking: bool) -> None:
        problem = (
            observation_problem(self.observation_space, observation, "observation")
            if checking
            else None
        )
        if problem:
            raise SpaceError(
                f"{self.name}.get_observation() returned an observation outside "
                f"get_observation_space(): {problem}"
            )

    def info(self, observation_info: dict, env_info: dict[str, Any]) -> dict[str, Any]:
        """The experiment's info (get_observation's, updated by get_info) and the env's own."""
        info = {**observation_info, **self.experiment.get_info()}
        if ENV_INFO_KEY in info:
            raise ValueError(
                f"{type(self.experiment).__name__}: info key '{ENV_INFO_KEY}' is the env's own "
                "(its metrics); give the experiment's value another name"
            )
        info[ENV_INFO_KEY] = env_info
        return info


class CarlaAgentsEnv(gym.Env):
    """N heroes in one CARLA world, one agent each, stepped together: one tick per `step()`.

    ## Agents

    `env_config.experiment.agents` maps agent ids to their own settings, merged over the shared
    `experiment` section (see `config.py`): blueprint, spawn points, sensors, experiment keys,
    even an experiment class of its own. Each agent has its own `BaseExperiment` instance, which
    sees only its own hero (`view.hero`) and its own sensors' data. `possible_agents` lists them
    in the YAML's order; `observation_spaces` / `action_spaces` are each experiment's.

    ## Step

    `step({agent: action})` turns every live agent's action into its hero's control, applies
    them all and ticks the world once; each agent's sensors are read for that frame. A live
    agent missing from the actions keeps its previous control. Returns dicts for the agents that
    were live before the step: observation, reward, terminated, truncated, info, and
    `terminateds["__all__"]` / `truncateds["__all__"]` when no agent is left.

    ## Episode end

    Per agent, as its experiment's `get_done_status` says: the agent's hero and sensors are then
    destroyed and it gets no more observations (it leaves `agents`). Every live agent is
    truncated at `experiment.time_limit` seconds of simulated time, if set. A dead or hung
    server truncates every live agent (`info[agent]["env"]["simulator_failure"]`); the next
    `reset()` restarts it, NPC traffic included.

    ## Starting state

    Every hero at its own spawn point (of its `hero.spawn_points`, else the map's), never one
    another's: random, or fixed with `reset(options={"spawn_points": {agent: k}})` (index k of
    that agent's points) or `options={"spawn_point": k}` (the i-th agent at k + i);
    `options={"town": name}` loads that town for this episode instead of `experiment.town`.

    ## Info

    Per agent, as `CarlaEnv`'s: the experiment's keys and under "env" the env's metrics of that
    agent's hero (`collisions` counts its own collision sensor's events, collisions with other
    agents included: both agents get theirs).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    # Per agent: `observation_spaces` / `action_spaces` (these stay None, as RLlib's
    # MultiAgentEnv has them).
    observation_space: gym.Space | None = None  # type: ignore[assignment]
    action_space: gym.Space | None = None  # type: ignore[assignment]

    def __init__(self, config: Mapping | None = None, render_mode: str | None = None):
        super().__init__()
        # Also fails now when `server: carla` has no install or the embedded server no town.
        self.env_config = resolve_env_config(config)
        agent_configs = agent_experiment_configs(self.env_config["experiment"])
        worker_index = int(getattr(config, "worker_index", 0) or 0)
        # Counted with CarlaEnv's envs, so that both kinds in one process get their own ports.
        sub_index = CarlaEnv._instances_in_process
        CarlaEnv._instances_in_process += 1
        self.spread_index = CarlaEnv.spread_of(worker_index, 0, sub_index)
        self._agents = {agent_id: _Agent(agent_id, c) for agent_id, c in agent_configs.items()}
        self.possible_agents = list(self._agents)
        self.agents: list[str] = []
        self.observation_spaces = {a.id: a.observation_space for a in self._agents.values()}
        self.action_spaces = {a.id: a.action_space for a in self._agents.values()}
        self.render_mode = render_mode
        self._core: CarlaCore | None = None
        self._needs_recovery = False
        self._episodes = 0
        self._town: str | None = None

    @property
    def episodes(self) -> int:
        return self._episodes

    @property
    def core(self) -> CarlaCore:
        """The simulator side; the server is launched on first use (normally the first reset)."""
        if self._core is None:
            self._core = CarlaCore(self.env_config["carla"], self.spread_index)
        return self._core

    def experiment(self, agent_id: str) -> BaseExperiment:
        """The experiment instance of `agent_id`."""
        return self._agents[agent_id].experiment

    # ---------------------------------------------------------------- MultiAgentEnv API

    @reports_fatal_errors
    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        super().reset(seed=seed, options=options)
        requests = [
            HeroRequest(agent_id, self._agents[agent_id].config["hero"], k, label=label)
            for agent_id, k, label in self._spawn_choices(options or {})
        ]
        core_seed = int(self.np_random.integers(2**31))
        town = (options or {}).get("town")
        if town is not None and not isinstance(town, str):
            raise ValueError(f"reset options: town must be a town name, got {town!r}")
        self._town = town or choose_town(
            self.env_config["experiment"], self._town, self._episodes, self.np_random
        )
        sensor_data = self.core.retrying(
            lambda: self.core.reset_heroes(
                self.env_config["experiment"], requests, self._town, core_seed
            ),
            failed=self._needs_recovery,
        )
        self._needs_recovery = False
        self._episodes += 1
        self.agents = list(self.possible_agents)
        observations, infos = {}, {}
        for agent in self._agents.values():
            view = self.core.heroes[agent.id].view
            agent.experiment.reset()
            observation, info = agent.experiment.get_observation(sensor_data[agent.id])
            agent.check_observation(observation, self._checking(agent.id))
            agent.last_observation, agent.last_sensor_data = observation, sensor_data[agent.id]
            agent.metrics.start(view, self.core.map_name, self.core.restarts)
            env_info = self._env_info(agent, sensor_data[agent.id], stepped=False)
            env_info["spawn_points"] = len(agent.config["hero"]["spawn_points"]) or len(
                self.core.view.map.get_spawn_points()
            )
            observations[agent.id], infos[agent.id] = observation, agent.info(info, env_info)
        return observations, infos

    # Per-agent dicts, as RLlib's MultiAgentEnv (also a gym.Env) returns: gymnasium's
    # single-agent signature cannot be met.
    @reports_fatal_errors
    def step(  # type: ignore[override]
        self, action_dict: Mapping[str, Any]
    ) -> tuple[dict, dict, dict, dict, dict]:
        if self._needs_recovery:
            # The previous step already truncated everyone; RLlib should have reset.
            return self._truncate_all({"simulator_failure": True})
        if self._core is None or not self.agents:
            raise gym.error.ResetNeeded(f"{type(self).__name__}.step() called before reset()")
        unknown = [agent_id for agent_id in action_dict if agent_id not in self.agents]
        if unknown:
            raise ValueError(
                f"actions for agents that are not live: {unknown}; live agents: {self.agents}"
            )
        controls = {
            agent_id: self._agents[agent_id].control(action, self._checking(agent_id))
            for agent_id, action in action_dict.items()
        }
        try:
            sensor_data = self.core.step_heroes(controls)
        except SimulatorFailure as exc:
            logger.warning("simulator failure, truncating every agent: %s", exc)
            self._needs_recovery = True
            return self._truncate_all(
                {"simulator_failure": True, "failure": str(exc), "end": "simulator_failure"}
            )
        observations, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        for agent_id in self.agents:
            agent = self._agents[agent_id]
            view = self.core.heroes[agent_id].view
            observation, info = agent.experiment.get_observation(sensor_data[agent_id])
            agent.check_observation(observation, self._checking(agent_id))
            terminated, truncated = agent.experiment.get_done_status(observation, view)
            reward = agent.experiment.compute_reward(observation, view)
            env_info = self._env_info(agent, sensor_data[agent_id])
            time_limit = self.env_config["experiment"]["time_limit"]
            truncated = (truncated or agent.metrics.time_up(view, time_limit)) and not terminated
            if terminated or truncated:
                env_info["end"] = "terminated" if terminated else "truncated"
            agent.last_observation, agent.last_sensor_data = observation, sensor_data[agent_id]
            observations[agent_id], rewards[agent_id] = observation, float(reward)
            terminateds[agent_id], truncateds[agent_id] = bool(terminated), bool(truncated)
            infos[agent_id] = agent.info(info, env_info)
        self._remove_finished(terminateds, truncateds)
        # The episode is over when no agent is left: terminated if the last ones all were
        # (no bootstrapping then), else truncated.
        over = not self.agents
        terminateds[ALL] = over and all(terminateds[a] for a in observations)
        truncateds[ALL] = over and not terminateds[ALL]
        return observations, rewards, terminateds, truncateds, infos

    # gymnasium types render() with a TypeVar bound nowhere, which no concrete type matches.
    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """rgb_array: each agent's bird's-eye view (else first RGB camera) side by side, in
        `possible_agents` order, the last frame of agents that are done."""
        if self.render_mode != "rgb_array" or self._core is None:
            return None
        frames = [
            rgb_frame(agent.config["hero"]["sensors"], agent.last_sensor_data)
            for agent in self._agents.values()
        ]
        shown = [frame for frame in frames if frame is not None]
        if not shown:
            return None
        height = max(frame.shape[0] for frame in shown)
        padded = [np.pad(f, ((0, height - f.shape[0]), (0, 0), (0, 0))) for f in shown]
        return np.concatenate(padded, axis=1)

    def close(self) -> None:
        if self._core is not None:
            self._core.close()
            self._core = None

    # ---------------------------------------------------------------- helpers

    def _spawn_choices(self, options: Mapping) -> list[tuple[str, int | None, str]]:
        """(agent, spawn point index or None, config label) for every agent, from the options."""
        first = options.get("spawn_point")
        fixed = options.get("spawn_points") or {}
        if first is not None and not _is_int(first):
            raise ValueError(f"reset options: spawn_point must be an int, got {first!r}")
        if not isinstance(fixed, Mapping):
            raise ValueError("reset options: spawn_points must map agent ids to indices")
        for agent_id, index in fixed.items():
            if agent_id not in self._agents:
                raise ValueError(
                    f"reset options: spawn_points names an unknown agent '{agent_id}'; "
                    f"agents: {self.possible_agents}"
                )
            if not _is_int(index):
                raise ValueError(f"reset options: spawn_points.{agent_id} must be an int")
        choices = []
        for i, agent_id in enumerate(self.possible_agents):
            index = fixed.get(agent_id, None if first is None else int(first) + i)
            choices.append(
                (agent_id, None if index is None else int(index), f"agents.{agent_id}.hero")
            )
        return choices

    def _env_info(
        self, agent: _Agent, sensor_data: Mapping[str, tuple[int, Any]], stepped: bool = True
    ) -> dict:
        view = self.core.heroes[agent.id].view
        route = agent.experiment.route_completion(view)
        return agent.metrics.report(view, sensor_data, route, stepped=stepped)

    def _checking(self, agent_id: str) -> bool:
        """Observations and actions are checked in full in the first episode, and always with
        the agent's `experiment.check_spaces: true` (as CarlaEnv does)."""
        return self._agents[agent_id].check_always or self._episodes <= 1

    def _remove_finished(self, terminateds: dict[str, bool], truncateds: dict[str, bool]) -> None:
        """Destroy the heroes of the agents whose episode ended; they leave `agents`."""
        finished = [a for a in self.agents if terminateds.get(a) or truncateds.get(a)]
        self.agents = [a for a in self.agents if a not in finished]
        for agent_id in finished:
            try:
                self.core.remove_hero(agent_id)
            except SimulatorFailure as exc:
                # This step's results stand; the next step truncates whoever is left.
                logger.warning("simulator failure while removing %s: %s", agent_id, exc)
                self._needs_recovery = True

    def _truncate_all(self, failure: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Every live agent truncated with its last observation, reward 0 and the failure."""
        live, self.agents = self.agents, []
        observations = {a: self._agents[a].last_observation for a in live}
        rewards = dict.fromkeys(live, 0.0)
        terminateds = {**dict.fromkeys(live, False), ALL: True}
        truncateds = {**dict.fromkeys(live, True), ALL: True}
        infos = {a: {ENV_INFO_KEY: {**self._agents[a].metrics.snapshot(), **failure}} for a in live}
        return observations, rewards, terminateds, truncateds, infos


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
