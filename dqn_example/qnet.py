"""The DQN example's Q-network in plain PyTorch (no Ray import anywhere in this module).

The same class runs inside the RLlib module during training (`dqn_module.py`) and alone in
`dqn_inference.py`, so an exported state dict loads without Ray. Input is the raw uint8
bird's-eye-view stack (B, H, W, C); the scaling to [0, 1] happens here, inside the network,
so the replay buffer keeps compact uint8 observations.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

# Files of an exported network (`save_qnet`).
STATE_FILE = "qnet_state.pt"
SPEC_FILE = "qnet.json"


@dataclass
class QNetSpec:
    """Everything needed to rebuild the network: shapes and layer sizes."""

    obs_shape: tuple[int, int, int]  # H, W, C of the uint8 observation
    num_actions: int
    # [out_channels, kernel, stride] per conv layer, no padding ("valid").
    conv_filters: list[list[int]] = field(
        default_factory=lambda: [[32, 8, 4], [64, 4, 2], [64, 3, 1]]
    )
    hiddens: list[int] = field(default_factory=lambda: [256])
    dueling: bool = True

    def __post_init__(self) -> None:
        height, width, channels = (int(v) for v in self.obs_shape)
        self.obs_shape = (height, width, channels)
        self.conv_filters = [[int(v) for v in layer] for layer in self.conv_filters]
        self.hiddens = [int(v) for v in self.hiddens]


def _mlp(sizes: list[int], out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], out))
    return nn.Sequential(*layers)


def conv_encoder(
    image_shape: tuple[int, int, int], conv_filters: list[list[int]]
) -> tuple[nn.Sequential, int]:
    """Conv layers ([out_channels, kernel, stride] each, ReLU, no padding) over an H x W x C
    image, flattened; and the size of their output."""
    height, width, channels = image_shape
    layers: list[nn.Module] = []
    for out_channels, kernel, stride in conv_filters:
        layers += [nn.Conv2d(channels, out_channels, kernel, stride), nn.ReLU()]
        channels = out_channels
    layers.append(nn.Flatten())
    encoder = nn.Sequential(*layers)
    with torch.no_grad():
        flat = encoder(torch.zeros(1, image_shape[2], height, width)).shape[1]
    return encoder, int(flat)


class QNet(nn.Module):
    """Conv encoder + (dueling) MLP head: uint8 (B, H, W, C) -> Q-values (B, num_actions)."""

    def __init__(self, spec: QNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder, flat = conv_encoder(spec.obs_shape, spec.conv_filters)
        sizes = [flat, *spec.hiddens]
        self.advantage = _mlp(sizes, spec.num_actions)
        self.value = _mlp(sizes, 1) if spec.dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # A float copy scaled in place in the stored (B, H, W, C) order, then viewed as
        # (B, C, H, W): the same values and channels-last layout as scaling the permuted view,
        # but a fifth less time per SGD update on CPU (that multiply was its slowest op).
        x = obs.to(torch.float32, copy=True).mul_(1.0 / 255.0).permute(0, 3, 1, 2)
        features = self.encoder(x)
        advantage = self.advantage(features)
        if self.value is None:
            return advantage
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


def save_qnet(net: QNet, directory: Path) -> Path:
    """Writes state dict + spec into `directory` atomically (temp dir, then rename)."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp / STATE_FILE)
    (tmp / SPEC_FILE).write_text(json.dumps(asdict(net.spec), indent=2))
    if directory.exists():
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
    tmp.rename(directory)
    return directory


def load_qnet(directory: Path, device: str | torch.device = "cpu") -> QNet:
    """Loads a network written by `save_qnet`, on any device (CPU-only machines included)."""
    directory = Path(directory)
    spec = QNetSpec(**json.loads((directory / SPEC_FILE).read_text()))
    net = QNet(spec)
    state = torch.load(directory / STATE_FILE, map_location=device, weights_only=True)
    net.load_state_dict(state)
    return net.to(device).eval()
