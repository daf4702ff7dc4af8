"""RLlib RLModule around the pure-torch `QNet` (RLlib's current API stack).

RLlib's default DQN encoder does not cast uint8 images (rllib.md P1) and its catalog network has
no Ray-free twin, so the module wraps our own network. Dueling lives inside `QNet`; the RLlib
side is configured with `dueling=False, num_atoms=1` and keeps double-Q and target networks.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from gymnasium.spaces import Discrete
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.schedules.scheduler import Scheduler
from torch import nn

from dqn_example.qnet import QNet, QNetSpec


def qnet_spec_from(observation_space: Any, action_space: Any, model_config: dict) -> QNetSpec:
    defaults = QNetSpec(obs_shape=observation_space.shape, num_actions=int(action_space.n))
    return QNetSpec(
        obs_shape=observation_space.shape,
        num_actions=int(action_space.n),
        conv_filters=model_config.get("conv_filters") or defaults.conv_filters,
        hiddens=model_config.get("hiddens") or defaults.hiddens,
        dueling=bool(model_config.get("dueling", defaults.dueling)),
    )


class BirdViewDQNModule(TorchRLModule, InferenceOnlyAPI, TargetNetworkAPI, QNetAPI):
    qnet: nn.Module  # a QNet here; a subclass may hold another network of the same interface

    def setup(self) -> None:
        # RLModuleSpec.build hands a module its model_config as a dict (RLlib's own annotation
        # also allows its DefaultModelConfig dataclass, which it converts before).
        model_config = cast(dict, self.model_config)
        self.qnet = QNet(qnet_spec_from(self.observation_space, self.action_space, model_config))
        self.uses_double_q = bool(model_config.get("double_q", True))
        self.epsilon_schedule = Scheduler(
            fixed_value_or_schedule=model_config.get("epsilon", 0.05), framework="torch"
        )

    # --- QNetAPI / TargetNetworkAPI -------------------------------------------------------
    def compute_q_values(self, batch: dict) -> dict:
        return {QF_PREDS: self.qnet(batch[Columns.OBS])}

    def make_target_networks(self) -> None:
        self._target_qnet = make_target_network(self.qnet)

    def get_target_network_pairs(self) -> list:
        return [(self.qnet, self._target_qnet)]

    def forward_target(self, batch: dict) -> dict:
        return {QF_PREDS: self._target_qnet(batch[Columns.OBS])}

    def get_non_inference_attributes(self) -> list[str]:
        return ["_target_qnet"]

    # --- forward passes ----------------------------------------------------------------------
    def _forward_inference(self, batch: dict, **kwargs) -> dict:
        return {Columns.ACTIONS: self.qnet(batch[Columns.OBS]).argmax(dim=-1)}

    def _forward_exploration(self, batch: dict, t: int = 0, **kwargs) -> dict:
        greedy = self.qnet(batch[Columns.OBS]).argmax(dim=-1)
        self.epsilon_schedule.update(t)
        epsilon = cast(torch.Tensor, self.epsilon_schedule.get_current_value())  # torch framework
        actions = int(cast(Discrete, self.action_space).n)
        random = torch.randint_like(greedy, 0, actions)
        explore = torch.rand(greedy.shape, device=greedy.device) < epsilon
        return {Columns.ACTIONS: torch.where(explore, random, greedy)}

    def _forward_train(self, batch: dict, **kwargs) -> dict:
        obs, next_obs = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        out = {QF_PREDS: self.qnet(obs)}
        # The loss takes no gradient through the next observation's Q-values (double-Q only
        # picks its argmax), so they are computed without autograd: backpropagating through a
        # batch of [obs, next_obs] cost a third more per update on CPU.
        with torch.no_grad():
            out[QF_TARGET_NEXT_PREDS] = self._target_qnet(next_obs)
            if self.uses_double_q:
                out[QF_NEXT_PREDS] = self.qnet(next_obs)
        return out
