"""CARLA as a Ray RLlib environment, with an embedded CARLA-compatible server.

Importing the package registers its environments with gymnasium:

    import gymnasium, rllib_integration
    env = gymnasium.make("rllib_integration/CarlaEnv-v0", config=env_config)
    env = gymnasium.make("rllib_integration/MultiAgentCarlaEnv-v0", config=env_config)

(or, without the import, the id "rllib_integration:rllib_integration/CarlaEnv-v0").
"""

import os

__version__ = "0.1.0"

# Set by the library for its own child processes (the simulator server, the traffic helper),
# which never make an env: they skip importing gymnasium (a quarter of a second each start).
SKIP_REGISTRATION = "RLLIB_INTEGRATION_NO_GYM_REGISTRATION"

ENV_IDS = {
    "rllib_integration/CarlaEnv-v0": "rllib_integration.carla_env:CarlaEnv",
    "rllib_integration/MultiAgentCarlaEnv-v0": "rllib_integration.multi_agent_env:MultiAgentCarlaEnv",
}


def _register_envs() -> None:
    import gymnasium

    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            # The multi-agent env's spaces are per agent (observation_spaces/action_spaces), which
            # gymnasium's single-space checker cannot read; RLlib registers its own the same way.
            multi = "MultiAgent" in env_id
            gymnasium.register(env_id, entry_point=entry_point, disable_env_checker=multi)


if not os.environ.get(SKIP_REGISTRATION):
    _register_envs()
