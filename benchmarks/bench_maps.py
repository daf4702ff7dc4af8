"""Build times of every map: validation subprocess, MapGeometry, GroundModel, and query costs.

    .venv/bin/python benchmarks/bench_maps.py [--map-dir DIR ...]

Prints one line per map. CARLA towns are found in --map-dir (default: ../shared/maps/carla when
present) and $CARLA_ROOT.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rllib_integration.embedded.maps import GroundModel, list_maps, load_map, validation
from rllib_integration.map_geometry import MapGeometry

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "maps" / "carla"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map-dir", action="append", default=[])
    parser.add_argument("--queries", type=int, default=100_000)
    args = parser.parse_args()
    dirs = args.map_dir or ([DEFAULT_DIR] if DEFAULT_DIR.is_dir() else [])
    print(
        f"{'map':<13}{'xodr MB':>8}{'validate s':>11}{'geometry s':>11}{'ground s':>9}"
        f"{'lanes':>7}{'marks':>7}{'spawns':>7}{'raster px':>11}{'query us/pt':>12}"
    )
    rng = np.random.default_rng(0)
    for name in list_maps(dirs):
        validation.clear_cache()
        t0 = time.perf_counter()
        loaded = load_map(name, dirs)
        t1 = time.perf_counter()
        geometry = MapGeometry.from_xodr(name, loaded.xodr)
        t2 = time.perf_counter()
        ground = GroundModel(geometry)
        t3 = time.perf_counter()
        spawns = ground.spawn_points()
        xmin, ymin, xmax, ymax = ground.bounds
        x = rng.uniform(xmin, xmax, args.queries)
        y = rng.uniform(ymin, ymax, args.queries)
        t4 = time.perf_counter()
        ground.height(x, y)
        ground.surface(x, y)
        ground.speed_limit(x, y)
        per_point = (time.perf_counter() - t4) / args.queries * 1e6
        shape = ground._surface.shape
        print(
            f"{name:<13}{len(loaded.xodr) / 2**20:>8.2f}{t1 - t0:>11.2f}{t2 - t1:>11.2f}"
            f"{t3 - t2:>9.2f}{len(geometry.lanes):>7}{len(geometry.markings):>7}{len(spawns):>7}"
            f"{shape[0] * shape[1]:>11}{per_point:>12.3f}"
        )


if __name__ == "__main__":
    main()
