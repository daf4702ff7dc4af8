"""A policy factory for `--agent tests.evaluate.agents:full_throttle` (the import-path agent)."""

from pathlib import Path


def full_throttle(checkpoint: Path, env):
    assert checkpoint.exists()  # what the CLI was given
    return lambda observation: 2  # DriveStraight: throttle 1.0


# Builds an untrained RLModule and saves it as an RLlib checkpoint would (run in a subprocess:
# it imports Ray). argv: folder.
SAVE_MODULE = """
import sys
import gymnasium as gym
import numpy as np
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

spec = RLModuleSpec(
    module_class=DefaultPPOTorchRLModule,
    observation_space=gym.spaces.Box(0.0, 100.0, (2,), np.float32),
    action_space=gym.spaces.Discrete(3),
    model_config={"fcnet_hiddens": [8], "head_fcnet_hiddens": [8]},
)
spec.build().save_to_path(sys.argv[1])
"""

# The same for the route-following example's Dict observation (bird's-eye masks as uint8 and a
# state vector), as the generic trainer builds RLlib's default network for it: on the flattened
# float32 observation. argv: training file, folder.
SAVE_ADAPTED_MODULE = """
import sys
import gymnasium as gym
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from rllib_integration.training.observations import adapted_space
from rllib_integration.training.python_path import add_to_sys_path, import_roots
from rllib_integration.training.training_file import load_training_file, resolved_env_config

training_file = load_training_file(sys.argv[1])
add_to_sys_path(import_roots(training_file))
from route_following import RouteFollowing

experiment = RouteFollowing(resolved_env_config(training_file)["experiment"])
spec = RLModuleSpec(
    module_class=DefaultPPOTorchRLModule,
    observation_space=adapted_space(experiment.get_observation_space()),
    action_space=experiment.get_action_space(),
    model_config={"fcnet_hiddens": [8], "head_fcnet_hiddens": [8]},
)
spec.build().save_to_path(sys.argv[2])
"""

# The route example's own Q-network module (rl_module.module_class of its DQN config), untrained,
# saved as the module of a checkpoint: it takes the Dict observation as it is. argv: training
# file, folder.
SAVE_ROUTE_DQN_MODULE = """
import sys
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from rllib_integration.training.python_path import add_to_sys_path, import_roots
from rllib_integration.training.training_file import load_training_file, resolved_env_config

training_file = load_training_file(sys.argv[1])
add_to_sys_path(import_roots(training_file))
from route_dqn_module import RouteDQNModule
from route_following import RouteFollowing

experiment = RouteFollowing(resolved_env_config(training_file)["experiment"])
spec = RLModuleSpec(
    module_class=RouteDQNModule,
    observation_space=experiment.get_observation_space(),
    action_space=experiment.get_action_space(),
    model_config=training_file.section("rl_module")["model_config"],
)
spec.build().save_to_path(sys.argv[2])
"""
