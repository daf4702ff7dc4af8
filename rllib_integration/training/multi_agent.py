"""The training file's `multi_agent:` section: which policy drives which agent (no Ray import).

    env: rllib_integration.multi_agent_env:MultiAgentCarlaEnv
    multi_agent:                       # -> config.multi_agent(**...), RLlib's keywords
      policies: [sedan, truck]         # policy (module) ids, each a Q-network of its own
      policy_mapping_fn:               # agent id -> policy id (or "package.module:function")
        car_0: sedan
        car_1: truck
      count_steps_by: agent_steps      # any other keyword of AlgorithmConfig.multi_agent()

With one policy and no `policy_mapping_fn`, every agent maps to it (shared weights). Every
agent of `env_config.experiment.agents` must map to a declared policy; errors name the file,
the line and the key, like the rest of the training file's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rllib_integration.config import ConfigError
from rllib_integration.defaults import Where, import_path, type_name

SECTION = "multi_agent"
MULTI_AGENT_ENV = "rllib_integration.multi_agent_env:MultiAgentCarlaEnv"


class AgentPolicies:
    """RLlib's `policy_mapping_fn` from a YAML mapping (picklable, unlike a closure)."""

    def __init__(self, mapping: Mapping[str, str]):
        self.mapping = dict(mapping)

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        return self.mapping[agent_id]


def agent_ids(env_config: Mapping) -> list[str]:
    """The agents a resolved multi-agent env_config declares."""
    return list((env_config.get("experiment") or {}).get("agents") or {})


def multi_agent_kwargs(section: Any, env_config: Mapping, where: Where) -> dict[str, Any]:
    """`config.multi_agent(**kwargs)` from the section: policies as a set, the mapping as a
    callable, every agent checked to map to a declared policy."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: must be a mapping, got {type_name(section)}")
    kwargs = dict(section)
    mapping = agent_policies(section, env_config, where)
    kwargs["policies"] = set(section["policies"])
    kwargs["policy_mapping_fn"] = AgentPolicies(mapping)
    return kwargs


def agent_policies(section: Mapping, env_config: Mapping, where: Where) -> dict[str, str]:
    """Agent id -> policy id for every agent of the env."""
    policies = section.get("policies")
    if (
        not isinstance(policies, list)
        or not policies
        or not all(isinstance(p, str) and p for p in policies)
    ):
        raise ConfigError(
            f"{where.child('policies')}: expected a list of policy ids, e.g. [shared]"
        )
    agents = agent_ids(env_config)
    if not agents:
        raise ConfigError(
            f"{where}: the env declares no agents (env_config.experiment.agents); "
            f"use env: {MULTI_AGENT_ENV} with agents"
        )
    at = where.child("policy_mapping_fn")
    chosen = section.get("policy_mapping_fn")
    if chosen is None:
        if len(policies) != 1:
            raise ConfigError(f"{at}: missing; with several policies say which drives which agent")
        return {agent: policies[0] for agent in agents}
    if isinstance(chosen, str):
        function: Callable = import_path(chosen, at)
        mapping = {agent: function(agent, None) for agent in agents}
    elif isinstance(chosen, Mapping):
        unknown = [a for a in chosen if a not in agents]
        if unknown:
            raise ConfigError(f"{at.child(str(unknown[0]))}: no such agent; agents: {agents}")
        mapping = dict(chosen)
    else:
        raise ConfigError(f"{at}: expected agent id -> policy id, or 'package.module:function'")
    for agent in agents:
        if agent not in mapping:
            raise ConfigError(f"{at}: agent '{agent}' is mapped to no policy")
        if mapping[agent] not in policies:
            where_agent = at.child(agent) if isinstance(chosen, Mapping) else at
            raise ConfigError(
                f"{where_agent}: '{mapping[agent]}' is not one of the policies {policies}"
            )
    return mapping
