"""One double-DQN SGD update of the DQN example's Q-network on CPU (what the learner does per
training_step): the shipped QNet against the input scaling it replaced (permute the uint8
(B, H, W, C) batch, then convert and scale it), in one run.

    .venv/bin/python benchmarks/qnet_update.py [--batch 32] [--threads 1] [--updates 40]

Both networks start from the same weights and see the same batches; the updates alternate so a
change in the machine's load hits both alike. Prints the median ms per update of each, the ratio,
whether their losses stayed bit-identical, and the load average.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dqn_example.qnet import QNet, QNetSpec  # noqa: E402

# The shipped dqn_config.yaml's network on its 64 x 64 x 12 bird's-eye stack and 29 actions.
SPEC = QNetSpec(
    obs_shape=(64, 64, 12),
    num_actions=29,
    conv_filters=[[16, 8, 4], [32, 4, 2], [32, 3, 1]],
    hiddens=[256],
)


class PermuteThenScale(QNet):
    """The QNet with the input scaling before this change."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.encoder(obs.permute(0, 3, 1, 2).float() * (1.0 / 255.0))
        advantage = self.advantage(features)
        assert self.value is not None
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class Learner:
    """A network, its target copy and Adam: RLlib's double-DQN update without RLlib."""

    def __init__(self, net: QNet) -> None:
        self.net, self.target = net, copy.deepcopy(net)
        self.optimizer = torch.optim.Adam(net.parameters(), lr=3e-4)

    def update(self, batch: dict[str, torch.Tensor]) -> float:
        q = self.net(batch["obs"]).gather(1, batch["actions"][:, None]).squeeze(1)
        with torch.no_grad():
            best = self.net(batch["next_obs"]).argmax(dim=1, keepdim=True)
            target = (
                batch["rewards"] + 0.99**3 * self.target(batch["next_obs"]).gather(1, best)[:, 0]
            )
        loss = torch.nn.functional.huber_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def random_batch(size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    def image() -> torch.Tensor:
        return torch.randint(
            0, 256, (size, *SPEC.obs_shape), dtype=torch.uint8, generator=generator
        )

    return {
        "obs": image(),
        "next_obs": image(),
        "actions": torch.randint(0, SPEC.num_actions, (size,), generator=generator),
        "rewards": torch.rand(size, generator=generator),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="train batch size (32)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument("--updates", type=int, default=40, help="updates of each (40)")
    args = parser.parse_args()
    if min(args.batch, args.threads, args.updates) < 1:
        parser.error("--batch, --threads and --updates must be >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shipped = QNet(SPEC)
    before = PermuteThenScale(SPEC)
    before.load_state_dict(shipped.state_dict())
    learners = {"permute_then_scale": Learner(before), "shipped": Learner(shipped)}
    times: dict[str, list[float]] = {name: [] for name in learners}
    losses: dict[str, list[float]] = {name: [] for name in learners}
    generator = torch.Generator().manual_seed(0)
    for index in range(args.updates + 3):  # 3 warm-up updates are not timed
        batch = random_batch(args.batch, generator)
        for name, learner in learners.items():
            started = time.perf_counter()
            losses[name].append(learner.update(batch))
            if index >= 3:
                times[name].append(time.perf_counter() - started)
    one, five, fifteen = os.getloadavg()
    print(
        f"batch {args.batch}, {args.threads} thread(s), {args.updates} updates each "
        f"(load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores)"
    )
    baseline = statistics.median(times["permute_then_scale"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {1000 * median:6.1f} ms per update  {median / baseline:5.2f}x")
    print(f"losses bit-identical: {losses['shipped'] == losses['permute_then_scale']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
