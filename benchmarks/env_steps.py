"""Env throughput on the embedded server: steps/s with no sensors, with one camera and with NPC
traffic (10 vehicles, Traffic Manager in its helper process), and the reset time.

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


def measure(label: str, sensors: dict, steps: int, resets: int, n_vehicles: int = 0) -> None:
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
    print(f"{label}: {steps / elapsed:8.1f} env steps/s ({steps} steps in {elapsed:.2f} s)")
    print(
        f"{label}: first reset (server launch + connect + spawn) {first_reset:.2f} s; "
        f"later resets median {statistics.median(reset_times) * 1000:.1f} ms"
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


if __name__ == "__main__":
    main()
