"""Agent steps/s with 1, 2, 4 and 8 heroes in one world, each with the DQN experiment and its
sensors (bird's-eye view 64x64, collision, lane invasion), on the embedded server.

    .venv/bin/python benchmarks/multi_agent_steps.py [--heroes 1,2,4,8] [--rounds 5] [--seconds 6]
                                                     [--ends time_limit|experiment]

Every hero count gets its own MultiAgentCarlaEnv (its own server), all alive at once; the
measurement alternates between them in rounds of `--seconds` each, so that a change in the
machine's load hits every count alike, and each round's figures are compared with the 1-hero
figure of the same round (the ratio printed is the median over the rounds). Actions are random
(what an untrained agent does); the env resets when every agent is done, as in training, so the
resets are part of the time.

What is measured is the steady state: every hero steps at every tick. With `--ends time_limit`
(the default) an agent's episode ends only at the 20 s time limit: collisions are still sensed,
counted and paid for, but do not end it (`DrivingOnDQNExperiment`). With `--ends experiment`
the DQN experiment's own ends apply; random actions then crash a hero into another or off the
world's edge within ~14 s, and an env with N heroes steps fewer than N agents per tick until all
are done (about 3.2 of 4 and 6 of 8 on average), which measures the random policy's crash
rate rather than the world's throughput.

The last line is the summary, e.g.
`agent steps/s vs 1 hero: 2 heroes 1.93x, 4 heroes 3.61x, 8 heroes 6.02x`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dqn_example.dqn_experiment import DQNExperiment  # noqa: E402
from rllib_integration.multi_agent_env import MultiAgentCarlaEnv  # noqa: E402

EXPERIMENTS = {
    "experiment": "dqn_example.dqn_experiment:DQNExperiment",
    "time_limit": f"{Path(__file__).stem}:DrivingOnDQNExperiment",
}


class DrivingOnDQNExperiment(DQNExperiment):
    """The DQN experiment whose episodes end only at the time limit: everything else (sensors,
    observations, rewards, the collision and off-road bookkeeping) is the DQN experiment's."""

    def get_done_status(self, observation, view) -> tuple[bool, bool]:
        super().get_done_status(observation, view)
        # No terminal term in the reward then, and the time limit even during a collision.
        over = self.elapsed >= self.config["max_time_episode"] - 1e-9
        self.end_reason = "time_limit" if over else "running"
        return False, over


def env_config(heroes: int, ends: str = "time_limit") -> dict:
    """The DQN example's env (its sensors are the experiment's defaults), N agents, relaxed
    episode ends so that the agents drive the whole 20 s."""
    return {
        "carla": {"server": "embedded", "timestep": 0.1, "timeout": 20.0},
        "experiment": {
            "type": EXPERIMENTS[ends],
            "town": "Loop01",
            "max_time_episode": 20.0,
            "max_time_idle": 1e9,
            "max_time_off_road": 1e9,
            "agents": {f"car_{i}": {} for i in range(heroes)},
        },
    }


class Runner:
    """One env, stepped with random actions; counts agent steps, ticks and resets."""

    def __init__(self, heroes: int, seed: int, ends: str):
        self.heroes = heroes
        self.env = MultiAgentCarlaEnv(env_config(heroes, ends))
        self.rng = np.random.default_rng(seed)
        self.env.reset(seed=seed)
        self.resets = 0
        self.agent_steps = self.ticks = 0  # over all rounds: agents stepped per tick

    def run(self, seconds: float) -> tuple[int, int, float]:
        """Step for `seconds`; (agent steps, ticks, elapsed s)."""
        env, agent_steps, ticks = self.env, 0, 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            if not env.agents:
                env.reset()
                self.resets += 1
            actions = {agent: int(self.rng.integers(29)) for agent in env.agents}
            env.step(actions)
            agent_steps += len(actions)
            ticks += 1
        self.agent_steps, self.ticks = self.agent_steps + agent_steps, self.ticks + ticks
        return agent_steps, ticks, time.perf_counter() - started

    def close(self) -> None:
        self.env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heroes", default="1,2,4,8", help="hero counts; the first is the base")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="per count and round")
    parser.add_argument(
        "--ends",
        choices=sorted(EXPERIMENTS),
        default="time_limit",
        help="episodes end at the time limit only (steady state), or as the experiment says",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.heroes.split(",")]
    if counts[0] != 1:
        parser.error("--heroes: the first count must be 1 (the baseline)")
    runners = []
    try:
        for n in counts:
            runners.append(Runner(n, seed=n, ends=args.ends))
        for runner in runners:
            runner.run(1.0)  # warm-up: caches, first frames
        rates: dict[int, list[float]] = {n: [] for n in counts}
        ratios: dict[int, list[float]] = {n: [] for n in counts}
        for round_index in range(1, args.rounds + 1):
            line = []
            for runner in runners:
                agent_steps, ticks, elapsed = runner.run(args.seconds)
                rates[runner.heroes].append(agent_steps / elapsed)
                line.append(
                    f"{runner.heroes} heroes {agent_steps / elapsed:7.1f} agent steps/s "
                    f"({ticks / elapsed:6.1f} ticks/s)"
                )
            for n in counts:
                ratios[n].append(rates[n][-1] / rates[1][-1])
            print(f"round {round_index}: " + "; ".join(line), flush=True)
        for runner in runners:
            n = runner.heroes
            print(
                f"{n} heroes: median {statistics.median(rates[n]):7.1f} agent steps/s, "
                f"{statistics.median(ratios[n]):.2f}x 1 hero (rounds: "
                + ", ".join(f"{r:.2f}" for r in ratios[n])
                + f"), {runner.resets} resets, "
                + f"{runner.agent_steps / max(runner.ticks, 1):.2f} agents stepped per tick",
                flush=True,
            )
        summary = ", ".join(f"{n} heroes {statistics.median(ratios[n]):.2f}x" for n in counts[1:])
        print(f"agent steps/s vs 1 hero: {summary}")
    finally:
        for runner in runners:
            runner.close()


if __name__ == "__main__":
    main()
