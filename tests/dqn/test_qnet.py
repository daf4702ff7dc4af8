"""The Q-network's input scaling: uint8 (B, H, W, C) to float (B, C, H, W) in [0, 1], the values
and memory layout the convolutions see exactly as the plain permute-then-scale gives them."""

from __future__ import annotations

import torch

from dqn_example.qnet import QNet, QNetSpec


def test_the_network_sees_the_scaled_image_exactly_as_permute_then_scale_gives_it():
    torch.manual_seed(0)
    net = QNet(QNetSpec(obs_shape=(64, 64, 12), num_actions=29))
    obs = torch.randint(0, 256, (5, 64, 64, 12), dtype=torch.uint8)
    seen = []
    net.encoder[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    q = net(obs)
    reference = obs.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    assert torch.equal(seen[0], reference)
    assert seen[0].stride() == reference.stride()  # channels-last, as the conv got it before
    features = net.encoder(reference)
    advantage = net.advantage(features)
    assert net.value is not None
    expected = net.value(features) + advantage - advantage.mean(dim=1, keepdim=True)
    assert torch.equal(q, expected)


def test_a_float_observation_is_left_as_it_was():
    net = QNet(QNetSpec(obs_shape=(64, 64, 12), num_actions=29))
    obs = torch.randint(0, 256, (2, 64, 64, 12)).float()
    before = obs.clone()
    net(obs)
    assert torch.equal(obs, before)
