"""A trained policy from an RLlib checkpoint, as a function observation -> greedy action, with
its actions mapped into the env's action space the way RLlib's env runners map them.

The module's greedy action is its actions, or the deterministic sample of its action
distribution. Continuous actions of the default networks are
in [-1, 1] when the algorithm normalizes actions (`env_runners.normalize_actions`, RLlib's
default): they are unsquashed into the action space's bounds (and clipped); with
`clip_actions` they are clipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
from ray.rllib.utils.spaces.space_utils import clip_action, unsquash_action


def load_policy(
    module_folder: Path,
    action_space: gym.Space,
    normalize_actions: bool = True,
    clip_actions: bool = False,
) -> Callable[[Any], Any]:
    greedy = rllib_policy(Path(module_folder))

    def act(observation: Any) -> Any:
        action = greedy(observation)
        if normalize_actions:
            return unsquash_action(action, action_space)
        if clip_actions:
            return clip_action(action, action_space)
        return action

    return act


def rllib_policy(folder: Path) -> Callable[[Any], Any]:
    """The greedy policy of the RLModule saved in `folder`, one observation at a time."""
    import torch
    import tree
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule
    from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

    # The project trains with the torch framework: its modules are TorchRLModules.
    module = cast(TorchRLModule, RLModule.from_checkpoint(str(folder)))
    module.eval()
    # One observation at a time: a second intra-op thread only spins. On the loaded 2-core VM
    # the route example's Q-network took 12.9 ms of CPU (76 ms wall) per forward with 2 threads,
    # 0.35 ms (2.4 ms) with 1.
    torch.set_num_threads(1)
    distribution = None

    @torch.no_grad()
    def policy(observation: Any) -> Any:
        nonlocal distribution
        # A batch of one; Dict and Tuple observations batched leaf by leaf.
        batch = {Columns.OBS: tree.map_structure(_batch_of_one, observation)}
        output = module.forward_inference(batch)
        if Columns.ACTIONS in output:
            action = output[Columns.ACTIONS][0]
        else:  # e.g. PPO: the greedy action of the action distribution
            distribution = distribution or module.get_inference_action_dist_cls()
            logits = output[Columns.ACTION_DIST_INPUTS]
            action = distribution.from_logits(logits).to_deterministic().sample()[0]
        action = action.cpu().numpy()
        return action.item() if action.ndim == 0 else action

    return policy


def _batch_of_one(value: Any) -> Any:
    import torch

    return torch.as_tensor(value).unsqueeze(0)
