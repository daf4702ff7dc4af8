"""Soak: a long run of the DQN example's env on the embedded server, with the memory (RSS) and
open file descriptors of the env process and of the server sampled along the way.

    .venv/bin/python benchmarks/soak.py [--steps 100000] [--warmup 5000] [--every 1000]

The env is the shipped training config's (`dqn_example/dqn_config.yaml`: bird's-eye view,
collision and lane-invasion sensors, Loop01), driven by seeded random actions through as many
episodes as the steps make. Figures are taken after `--warmup` steps (first episodes fill caches
and allocator pools) and at the end; the run passes when RSS grows by at most
`--max-growth-mb` (default 20 MB) plus 5% and the descriptors by none, and nothing failed
(a step the simulator failed, or an exception). The last line reads, for env process + server:

    soak: 100000 steps, RSS 91.2 -> 93.0 MB, fds 15 -> 15, 0 failures

RSS here is the anonymous resident memory (`RssAnon` in /proc/<pid>/status: heap and other
private allocations, what a leak grows); file-backed pages of the shared libraries come and go
with the machine's page cache and would hide or fake a trend. The server is its process group.
Exit status 1 when the run is not flat within that bound or anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import psutil
from gymnasium.spaces import Discrete

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rllib_integration.carla_env import CarlaEnv  # noqa: E402
from rllib_integration.config import load_config  # noqa: E402

CONFIG = ROOT / "dqn_example" / "dqn_config.yaml"


@dataclass(frozen=True)
class Sample:
    steps: int
    env_rss: float  # MB
    env_fds: int
    server_rss: float
    server_fds: int

    @property
    def rss(self) -> float:
        return self.env_rss + self.server_rss

    @property
    def fds(self) -> int:
        return self.env_fds + self.server_fds


def anonymous_rss_mb(pid: int) -> float:
    """RssAnon of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/{pid}/status has no RssAnon")


def group_usage(pgid: int) -> tuple[float, int]:
    """Anonymous RSS (MB) and open descriptors of every live process in process group `pgid`."""
    rss, fds = 0.0, 0
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != pgid:
                continue
            rss += anonymous_rss_mb(process.pid)
            fds += process.num_fds()
        except (OSError, psutil.Error):  # gone meanwhile
            continue
    return rss, fds


def sample(env: CarlaEnv, steps: int) -> Sample:
    server = env.core.server.process
    server_rss, server_fds = group_usage(server.pid) if server else (0.0, 0)
    me = os.getpid()
    return Sample(steps, anonymous_rss_mb(me), psutil.Process(me).num_fds(), server_rss, server_fds)


def soak(steps: int, warmup: int, every: int, vehicles: int, seed: int) -> tuple[list, int, int]:
    """Run the env; return the samples, the failures and the episodes."""
    env_config = load_config(CONFIG)["env_config"]
    env_config["experiment"]["background_activity"]["n_vehicles"] = vehicles
    env: CarlaEnv[Any, Any] = CarlaEnv(env_config)
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    failures = episodes = 0
    done = True
    try:
        for step in range(steps + 1):
            if step == warmup or (step > warmup and (step - warmup) % every == 0):
                samples.append(sample(env, step))
            if step == steps:
                break
            try:
                if done:
                    env.reset(seed=seed if episodes == 0 else None)
                    episodes += 1
                actions = int(cast(Discrete, env.action_space).n)  # the DQN example's
                action = int(rng.integers(actions))
                _, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if info["env"].get("simulator_failure"):
                    failures += 1
                    print(f"step {step}: simulator failure: {info['env'].get('failure')}")
            except Exception as error:  # counted, and the run goes on with a new episode
                failures += 1
                done = True
                print(f"step {step}: {type(error).__name__}: {error}")
    finally:
        env.close()
    return samples, failures, episodes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps (default 100000)")
    parser.add_argument("--warmup", type=int, default=5_000, help="steps before the baseline")
    parser.add_argument("--every", type=int, default=1_000, help="steps between samples")
    parser.add_argument("--vehicles", type=int, default=0, help="NPC vehicles (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    args = parser.parse_args()
    if not 0 <= args.warmup < args.steps or args.every < 1:
        parser.error("need 0 <= --warmup < --steps and --every >= 1")

    started = time.monotonic()
    samples, failures, episodes = soak(
        args.steps, args.warmup, args.every, args.vehicles, args.seed
    )
    elapsed = time.monotonic() - started
    first, last = samples[0], samples[-1]
    peak = max(samples, key=lambda s: s.rss)
    xs = np.array([s.steps for s in samples], float)
    slope = np.polyfit(xs, [s.rss for s in samples], 1)[0] * 10_000 if len(samples) > 2 else 0.0
    print(
        f"{args.steps} steps, {episodes} episodes in {elapsed:.0f} s ({args.steps / elapsed:.0f} steps/s)"
    )
    print(
        f"env process: RSS {first.env_rss:.1f} -> {last.env_rss:.1f} MB, "
        f"fds {first.env_fds} -> {last.env_fds}"
    )
    print(
        f"server: RSS {first.server_rss:.1f} -> {last.server_rss:.1f} MB, "
        f"fds {first.server_fds} -> {last.server_fds}"
    )
    print(
        f"after {args.warmup} warm-up steps, {len(samples)} samples: peak RSS {peak.rss:.1f} MB "
        f"at step {peak.steps}, trend {slope:+.2f} MB per 10k steps"
    )
    bound = args.max_growth_mb + 0.05 * first.rss
    flat = last.rss - first.rss <= bound and last.fds <= first.fds
    print(f"bound: RSS growth <= {bound:.1f} MB, fds no growth: {'flat' if flat else 'NOT FLAT'}")
    print(
        f"soak: {args.steps} steps, RSS {first.rss:.1f} -> {last.rss:.1f} MB, "
        f"fds {first.fds} -> {last.fds}, {failures} failures"
    )
    return 0 if flat and failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
