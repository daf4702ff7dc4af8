"""CarlaParallelEnv: the multi-agent CARLA env as a PettingZoo `ParallelEnv`.

The same env as RLlib's `MultiAgentCarlaEnv` (`agents_env.CarlaAgentsEnv`: one world, one hero per agent, one tick per step), with
PettingZoo's conventions: `agents` shrinks as agents finish, `observation_space(agent)` and
`action_space(agent)` return each agent's own space object, and the step's dicts have no
"__all__" key (the episode is over when `agents` is empty). So SuperSuit's wrappers and other
PettingZoo-based libraries can drive it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from rllib_integration.agents_env import ALL, CarlaAgentsEnv


class CarlaParallelEnv(ParallelEnv):
    """`env_config` as for CarlaAgentsEnv (`experiment.agents` declares the agents)."""

    metadata = {"render_modes": ["rgb_array"], "name": "carla_multi_agent_v0"}

    def __init__(self, config: Mapping | None = None, render_mode: str | None = None):
        self.env = CarlaAgentsEnv(config, render_mode=render_mode)
        self.possible_agents = list(self.env.possible_agents)
        self.observation_spaces = dict(self.env.observation_spaces)
        self.action_spaces = dict(self.env.action_spaces)
        self.render_mode = render_mode

    @property
    def agents(self) -> list[str]:
        """The agents still driving in this episode."""
        return list(self.env.agents)

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminateds, truncateds, infos = self.env.step(actions)
        terminateds.pop(ALL, None)
        truncateds.pop(ALL, None)
        return observations, rewards, terminateds, truncateds, infos

    def render(self) -> np.ndarray | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
