"""Env throughput on the embedded server: steps/s with no sensors, with one camera and with NPC
traffic (10 vehicles, Traffic Manager in its helper process), and the reset time; and what a
step's wait for the client-side lane-invasion sensor's frame costs (against not waiting).

    .venv/bin/python benchmarks/env_steps.py [--steps 2000] [--camera-size 84]

Prints one line per figure. Each configuration gets its own server (launched by CarlaEnv).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rllib_integration.carla_env import CarlaEnv  # noqa: E402
from rllib_integration.sensors.carla_sensors import LaneInvasion  # noqa: E402

EXPERIMENT = "tests.integration.experiments:DriveStraight"


def env_config(sensors: dict, n_vehicles: int = 0) -> dict:
    return {
        "carla": {"server": "embedded", "timeout": 10.0},
        "experiment": {
            "type": EXPERIMENT,
            "max_steps": 10**9,
            "hero": {"sensors": sensors},
            "background_activity": {"n_vehicles": n_vehicles},
        },
    }


def measure(
    label: str, sensors: dict, steps: int, resets: int, n_vehicles: int = 0, quiet: bool = False
) -> float:
    """Env steps/s of `steps` steps (printed unless `quiet`)."""
    env: CarlaEnv[Any, Any] = CarlaEnv(env_config(sensors, n_vehicles))
    try:
        started = time.perf_counter()
        env.reset(seed=0)
        first_reset = time.perf_counter() - started
        reset_times = []
        for _ in range(resets):
            started = time.perf_counter()
            env.reset()
            reset_times.append(time.perf_counter() - started)
        env.step(1)  # warm-up
        started = time.perf_counter()
        for _ in range(steps):
            env.step(1)
        elapsed = time.perf_counter() - started
    finally:
        env.close()
    if not quiet:
        print(f"{label}: {steps / elapsed:8.1f} env steps/s ({steps} steps in {elapsed:.2f} s)")
        print(
            f"{label}: first reset (server launch + connect + spawn) {first_reset:.2f} s; "
            f"later resets median {statistics.median(reset_times) * 1000:.1f} ms"
        )
    return steps / elapsed


def measure_lane_confirmation(steps: int, rounds: int = 5) -> None:
    """Steps/s with a lane-invasion sensor, each step waiting until the client-side sensors
    have run for its frame (one world on_tick callback a tick, and the wait) or, as before
    that wait existed, not; rounds alternate, median of each."""
    sensors = {"lane": {"type": "sensor.other.lane_invasion"}}
    rates: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(rounds):
            for wait in (True, False):
                LaneInvasion.client_side = wait
                rates[wait].append(measure("lane", sensors, steps, 1, quiet=True))
    finally:
        LaneInvasion.client_side = True
    waiting, not_waiting = statistics.median(rates[True]), statistics.median(rates[False])
    added_us = (1 / waiting - 1 / not_waiting) * 1e6
    print(
        f"lane-invasion sensor: {waiting:8.1f} env steps/s waiting for its frame, "
        f"{not_waiting:8.1f} not waiting: ratio {waiting / not_waiting:.3f} "
        f"({added_us:+.1f} us a step; medians of {rounds} alternating rounds of {steps} steps)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--camera-size", type=int, default=84)
    args = parser.parse_args()
    measure("no sensors", {}, args.steps, args.resets)
    size = args.camera_size
    camera = {"type": "sensor.camera.rgb", "image_size_x": size, "image_size_y": size}
    measure(f"one {size}x{size} rgb camera", {"camera": camera}, args.steps // 4, args.resets)
    measure("10 NPC vehicles, no sensors", {}, args.steps // 4, args.resets, n_vehicles=10)
    measure_lane_confirmation(args.steps)


if __name__ == "__main__":
    main()
