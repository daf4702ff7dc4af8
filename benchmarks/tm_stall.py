"""Does `world.tick()` with a synchronous Traffic Manager ever stall on the embedded server?

    .venv/bin/python benchmarks/tm_stall.py [--runs 20] [--compare-runs 3] [--tm30-ticks 6000]
        [--hybrid-ticks 3000] [--stall-after 10]

carla 0.9.16's client-side TM can lose the wake-up `world.tick()` sends its worker (carla#9172;
protocol/tm_gate.py, protocol/tm_watchdog.py). Two scripts, as in the issue's measurements:
- tm30: 30 TM vehicles on Grid01, --tm30-ticks ticks;
- hybrid: a hero plus 12 TM vehicles in hybrid physics mode (radius 20 m), --hybrid-ticks ticks;
each quiet and "loaded" (two busy `nice -n 10` processes, started and stopped by PID around the
run). Each run is a fresh server and a fresh client process; a run stalls when its client reports
no tick for --stall-after seconds (then it is killed). Three server configurations, interleaved:
- fix: the server's defaults (--runs runs per script and load);
- alternative: the same with the tick gate flipped: the A/B that chose the default;
- without the fix: the server as shipped before (the gate held only plain control batches, so it
  acted on tm30 and not on hybrid; no poke).
The other two run in --compare-runs rounds spread over the run, next to that round's fix runs.
Prints every run, then per variant the stalls, the median ticks/s (over the ticks done; a stalled
run's wait is not counted) and the lost wake-ups the server recovered (its logged pokes); the
last line: `tm stalls: S/N runs (quiet ., loaded .); ticks/s F vs W without the fix` (medians of
the fix's runs and of the runs without it, in the same rounds: the machine's load drifts).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from embedded_server import embedded_server, free_port_block

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rllib_integration.embedded.app import ServerConfig  # noqa: E402

GATE_BY_DEFAULT = ServerConfig.tm_gate
MAP = "Grid01"
POKE_LINE = "TM poke:"
LAG_LINE = "TM lag:"

CLIENT = """
import random, sys, threading, time
import carla
port, tm_port, scenario, ticks, seed = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                        int(sys.argv[4]), int(sys.argv[5]))
client = carla.Client("127.0.0.1", port)
client.set_timeout(20.0)
world = client.get_world()
settings = world.get_settings()
settings.synchronous_mode, settings.fixed_delta_seconds = True, 0.05
world.apply_settings(settings)
library = world.get_blueprint_library()
points = list(world.get_map().get_spawn_points())
random.Random(seed).shuffle(points)
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
tm.set_random_device_seed(seed)
SpawnActor, SetAutopilot, FutureActor = (
    carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor)
if scenario == "hybrid":
    tm.set_hybrid_physics_mode(True)
    tm.set_hybrid_physics_radius(20.0)
    hero_bp = library.find("vehicle.tesla.model3")
    hero_bp.set_attribute("role_name", "hero")
    world.spawn_actor(hero_bp, points[0])
    npcs = [SpawnActor(library.find("vehicle.audi.a2"), p) for p in points[1:13]]
else:
    cars = [b for b in library.filter("vehicle.*")
            if b.get_attribute("number_of_wheels").as_int() == 4]
    rng = random.Random(seed)
    npcs = [SpawnActor(rng.choice(cars), p) for p in points[:30]]
batch = [npc.then(SetAutopilot(FutureActor, True, tm_port)) for npc in npcs]
ids = [r.actor_id for r in client.apply_batch_sync(batch, False) if not r.error]
done = [0]
def heartbeat():
    while True:
        print("DONE", done[0], flush=True)
        time.sleep(0.25)
print("START", flush=True)
threading.Thread(target=heartbeat, daemon=True).start()
started = time.perf_counter()
for k in range(ticks):
    world.tick()
    done[0] = k + 1
print("FINISHED", ticks, time.perf_counter() - started, flush=True)
"""


@dataclass
class Run:
    scenario: str
    load: str
    config: str
    round: int
    ticks: int = 0
    seconds: float = 0.0
    stalled: bool = False
    error: str = ""
    pokes: int = 0
    lags: int = 0
    load_average: float = (
        0.0  # the 1-minute load average at the end of the run (the machine is shared)
    )

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds if self.seconds > 0 else 0.0


def server_flags(config: str, scenario: str) -> list[str]:
    if config == "fix":
        return []
    if config == "alternative":
        return ["--no-tm-gate"] if GATE_BY_DEFAULT else ["--tm-gate"]
    # Without the fix: no poke; the shipped gate recognised only control batches (not hybrid).
    return ["--tm-poke-ms", "0", "--tm-gate" if scenario == "tm30" else "--no-tm-gate"]


@contextlib.contextmanager
def busy_processes(count: int):
    """`count` busy loops at nice 10, stopped by PID on exit."""
    procs = [
        subprocess.Popen(
            ["nice", "-n", "10", sys.executable, "-c", "while True: pass"],
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _pump(stream: IO[str], keep: Callable[[str], object]) -> None:
    for line in stream:
        keep(line)


def run_client(port: int, run: Run, ticks: int, seed: int, stall_after: float) -> None:
    """One client run; fills `run` (ticks done, seconds ticking, stalled or error)."""
    args = [str(port), str(free_port_block(1)), run.scenario, str(ticks), str(seed)]
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CLIENT), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    stderr: list[str] = []
    for stream, keep in ((proc.stdout, lines.put), (proc.stderr, stderr.append)):
        threading.Thread(target=_pump, args=(stream, keep), daemon=True).start()
    started: float | None = None
    changed = 0.0  # set with `started`
    setup_deadline = time.monotonic() + 300.0
    try:
        while True:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                line = ""
            now = time.monotonic()
            words = line.split()
            if words[:1] == ["START"]:
                started = changed = now
            elif words[:1] == ["DONE"] and int(words[1]) != run.ticks:
                run.ticks, changed = int(words[1]), now
            elif words[:1] == ["FINISHED"]:
                run.ticks, run.seconds = int(words[1]), float(words[2])
                return
            if started is not None and now - changed > stall_after:
                run.stalled = True
                run.seconds = changed - started
                return
            if started is None and now > setup_deadline:
                run.error = "setup took over 300 s"
                return
            if not line and proc.poll() is not None and lines.empty():
                run.error = f"client exited ({proc.returncode}): {''.join(stderr)[-300:]}"
                return
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def one_run(run: Run, ticks: int, seed: int, stall_after: float, log_path: Path) -> None:
    flags = server_flags(run.config, run.scenario)
    with embedded_server(MAP, flags, log_path=log_path) as (port, _):
        if run.load == "loaded":
            with busy_processes(2):
                run_client(port, run, ticks, seed, stall_after)
        else:
            run_client(port, run, ticks, seed, stall_after)
    log = log_path.read_text(errors="replace")
    run.pokes, run.lags = log.count(POKE_LINE), log.count(LAG_LINE)
    run.load_average = os.getloadavg()[0]


def describe(run: Run) -> str:
    what = "STALLED" if run.stalled else f"ERROR {run.error}" if run.error else "ok"
    return (
        f"{run.scenario:6} {run.load:6} {run.config:11} {what}: {run.ticks} ticks, "
        f"{run.ticks_per_s:.0f} ticks/s, {run.pokes} pokes, {run.lags} lags, load {run.load_average:.1f}"
    )


def summary(runs: list[Run]) -> str:
    rates = [r.ticks_per_s for r in runs if not r.error and r.seconds > 0]
    stalls = sum(r.stalled for r in runs)
    errors = sum(bool(r.error) for r in runs)
    median = statistics.median(rates) if rates else 0.0
    return (
        f"stalls {stalls}/{len(runs)}, median {median:.0f} ticks/s, "
        f"{sum(r.pokes for r in runs)} pokes, {sum(r.lags for r in runs)} lags, "
        f"load average {min(r.load_average for r in runs):.1f}-{max(r.load_average for r in runs):.1f}"
        + (f", {errors} errors" if errors else "")
    )


def median_rate(runs: list[Run]) -> float:
    rates = [r.ticks_per_s for r in runs if not r.error and r.seconds > 0]
    return statistics.median(rates) if rates else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="fix runs per script and load")
    parser.add_argument(
        "--compare-runs", type=int, default=3, help="runs per script and load of the others"
    )
    parser.add_argument("--tm30-ticks", type=int, default=6000)
    parser.add_argument("--hybrid-ticks", type=int, default=3000)
    parser.add_argument("--stall-after", type=float, default=10.0, help="seconds without a tick")
    args = parser.parse_args()
    if args.runs < 1 or args.compare_runs < 0:
        parser.error("--runs must be at least 1 and --compare-runs at least 0")
    ticks = {"tm30": args.tm30_ticks, "hybrid": args.hybrid_ticks}
    gate = "gate + poke" if GATE_BY_DEFAULT else "poke alone"
    other = "poke alone" if GATE_BY_DEFAULT else "gate + poke"
    print(f"fix: {gate} (the server's defaults); alternative: {other}", flush=True)
    compared = {
        k * args.runs // args.compare_runs for k in range(min(args.compare_runs, args.runs))
    }
    runs: list[Run] = []
    log_path = Path(f"/tmp/tm-stall-server-{os.getpid()}.log")
    try:
        for i in range(args.runs):
            for scenario in ("tm30", "hybrid"):
                for load in ("quiet", "loaded"):
                    configs = ["fix"]
                    if i in compared:
                        configs += ["alternative", "without"]
                    for config in configs:
                        run = Run(scenario, load, config, i)
                        one_run(
                            run,
                            ticks[scenario],
                            seed=i,
                            stall_after=args.stall_after,
                            log_path=log_path,
                        )
                        runs.append(run)
                        print(f"[{i + 1}/{args.runs}] {describe(run)}", flush=True)
    finally:
        log_path.unlink(missing_ok=True)
    for config in ("fix", "alternative", "without"):
        for scenario in ("tm30", "hybrid"):
            for load in ("quiet", "loaded"):
                chosen = [
                    r for r in runs if (r.config, r.scenario, r.load) == (config, scenario, load)
                ]
                if chosen:
                    print(f"{config:11} {scenario:6} {load:6}: {summary(chosen)}", flush=True)
    fix = [r for r in runs if r.config == "fix"]
    quiet = [r for r in fix if r.load == "quiet"]
    loaded = [r for r in fix if r.load == "loaded"]
    without = [r for r in runs if r.config == "without"]
    paired = [r for r in fix if r.round in compared] or fix
    alternative = [r for r in runs if r.config == "alternative"]
    print(
        f"median ticks/s in the {len(compared)} compared rounds: fix {median_rate(paired):.0f}, "
        f"alternative {median_rate(alternative):.0f}, without the fix {median_rate(without):.0f}; "
        f"fix over all {args.runs} rounds {median_rate(fix):.0f}",
        flush=True,
    )

    loads = sorted(r.load_average for r in runs)
    print(
        f"load average (1 min, at each run's end; busy processes included when loaded): "
        f"{loads[0]:.1f}-{loads[-1]:.1f}, median {statistics.median(loads):.1f}",
        flush=True,
    )

    def stalls(chosen: list[Run]) -> str:
        return f"{sum(r.stalled or bool(r.error) for r in chosen)}/{len(chosen)}"

    print(
        f"tm stalls: {stalls(fix)} runs (quiet {stalls(quiet)}, loaded {stalls(loaded)}); "
        f"ticks/s {median_rate(paired):.0f} vs {median_rate(without):.0f} without the fix",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
