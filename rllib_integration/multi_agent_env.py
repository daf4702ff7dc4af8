"""MultiAgentCarlaEnv: several heroes in one CARLA world, as an RLlib MultiAgentEnv.

RLlib usage (current API stack):
`config.environment(MultiAgentCarlaEnv, env_config=load_config(path)["env_config"])` with
`config.multi_agent(policies=..., policy_mapping_fn=...)`. The env is `agents_env.CarlaAgentsEnv`
(its docstring has the contract); this module adds RLlib's base class. The same env for
PettingZoo is `rllib_integration.pettingzoo_env.CarlaParallelEnv`.
"""

from __future__ import annotations

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from rllib_integration.agents_env import ALL, CarlaAgentsEnv

__all__ = ["ALL", "MultiAgentCarlaEnv"]


# RLlib's MultiAgentEnv declares the per-agent attributes and methods with its own looser types
# (Optional spaces, untyped dicts, render() -> None); CarlaAgentsEnv's are the precise ones.
class MultiAgentCarlaEnv(CarlaAgentsEnv, MultiAgentEnv):  # type: ignore[misc]
    """`CarlaAgentsEnv` as an RLlib `MultiAgentEnv`: `possible_agents`, `agents`,
    `observation_spaces`, `action_spaces`, and per-agent dicts with "__all__"."""
