"""The route-following Q-network in plain PyTorch: bird's-eye masks and a state vector in.

A conv encoder (the DQN example's) reads the stacked 0/1 masks (B, H, W, C uint8), a small MLP
the float32 state (B, N); their features are joined and a dueling head gives the Q-value of each
action. No Ray import: `route_dqn_module.py` wraps it for RLlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dqn_example.qnet import conv_encoder


@dataclass
class RouteQNetSpec:
    """Everything needed to rebuild the network: shapes and layer sizes."""

    image_shape: tuple[int, int, int]  # H, W, C of the bird's-eye stack
    state_size: int
    num_actions: int
    # [out_channels, kernel, stride] per conv layer, no padding.
    conv_filters: list[list[int]] = field(
        default_factory=lambda: [[16, 8, 4], [32, 4, 2], [32, 3, 1]]
    )
    state_hiddens: list[int] = field(default_factory=lambda: [64])
    hiddens: list[int] = field(default_factory=lambda: [256])
    dueling: bool = True


def mlp(sizes: list[int], activate_last: bool = False) -> nn.Sequential:
    """Linear layers between consecutive `sizes`, ReLU between them (and after the last)."""
    layers: list[nn.Module] = []
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if activate_last or index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RouteQNet(nn.Module):
    """{"birdview": uint8 (B, H, W, C), "state": float32 (B, N)} -> Q-values (B, actions)."""

    def __init__(self, spec: RouteQNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder, flat = conv_encoder(spec.image_shape, spec.conv_filters)
        self.state_encoder = mlp([spec.state_size, *spec.state_hiddens], activate_last=True)
        joined = flat + (spec.state_hiddens[-1] if spec.state_hiddens else spec.state_size)
        self.advantage = mlp([joined, *spec.hiddens, spec.num_actions])
        self.value = mlp([joined, *spec.hiddens, 1]) if spec.dueling else None

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        image = obs["birdview"].permute(0, 3, 1, 2).float()  # masks are 0/1 already
        features = torch.cat([self.encoder(image), self.state_encoder(obs["state"].float())], 1)
        advantage = self.advantage(features)
        if self.value is None:
            return advantage
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)
