"""RLlib RLModule of the route-following DQN: the DQN example's module around `RouteQNet`.

`BirdViewDQNModule` (dqn_example/dqn_module.py) gives the exploration, the target network and
the Q-value API; this subclass builds the route network, which takes the Dict observation
(bird's-eye masks + state vector), and computes the next observation's Q-values without
autograd (the loss takes no gradient through them).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core.columns import Columns
from ray.rllib.utils.schedules.scheduler import Scheduler
from route_qnet import RouteQNet, RouteQNetSpec

from dqn_example.dqn_module import BirdViewDQNModule


def spec_from(observation_space: Any, action_space: Any, model_config: dict) -> RouteQNetSpec:
    spaces = observation_space.spaces
    defaults = RouteQNetSpec(
        spaces["birdview"].shape, spaces["state"].shape[0], int(action_space.n)
    )
    return RouteQNetSpec(
        image_shape=defaults.image_shape,
        state_size=defaults.state_size,
        num_actions=defaults.num_actions,
        conv_filters=model_config.get("conv_filters") or defaults.conv_filters,
        state_hiddens=model_config.get("state_hiddens") or defaults.state_hiddens,
        hiddens=model_config.get("hiddens") or defaults.hiddens,
        dueling=bool(model_config.get("dueling", defaults.dueling)),
    )


class RouteDQNModule(BirdViewDQNModule):
    def setup(self) -> None:
        model_config = cast(dict, self.model_config)  # a dict, as in BirdViewDQNModule.setup
        self.qnet = RouteQNet(spec_from(self.observation_space, self.action_space, model_config))
        self.uses_double_q = bool(model_config.get("double_q", True))
        self.epsilon_schedule = Scheduler(
            fixed_value_or_schedule=model_config.get("epsilon", 0.05), framework="torch"
        )

    def _forward_train(self, batch: dict, **kwargs) -> dict:
        out = {QF_PREDS: self.qnet(batch[Columns.OBS])}
        with torch.no_grad():
            next_obs = batch[Columns.NEXT_OBS]
            out[QF_TARGET_NEXT_PREDS] = self._target_qnet(next_obs)
            if self.uses_double_q:
                out[QF_NEXT_PREDS] = self.qnet(next_obs)
        return out
