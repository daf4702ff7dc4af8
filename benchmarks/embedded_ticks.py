"""Synchronous ticks per second of the embedded server, measured with the real carla client.

    .venv/bin/python benchmarks/embedded_ticks.py [--ticks 5000] [--tm-ticks 1000] [--vehicles 50]
        [--walkers 50] [--map Loop01] [--signals-map Grid01] [--rounds 2] [--profile]

Scenario 1: one hero vehicle driving (throttle) in sync mode at 20 Hz.
Scenario 2: the same plus N NPC vehicles driven by CARLA's client-side Traffic Manager.
Scenario 3: scenario 2 plus W walkers with AI controllers spawned as CARLA's generate_traffic.py
does (random navigation-mesh points, then `controller.ai.walker`, `start`, `go_to_location`);
their crowd runs in the client, which sends their poses every tick. Printed as a ratio to
scenario 2, measured in the same run.
Scenario 4: the hero and N Traffic Manager vehicles on a signalised town (--signals-map), with
its traffic lights and signs stripped from the OpenDRIVE and as it is (lights cycling, vehicles
stopping at red), in rounds of alternating order (the machine's load drifts); the median ratio
of the two (target: with lights >= 80 %).
For each it prints ticks/s and where the time goes: server CPU per tick (psutil on the server
process), client CPU per tick (this process, including the Traffic Manager's threads), and the
remainder (waiting on sockets / other load). With --profile the server also runs under cProfile
and its top functions are printed (profiling slows the server down; figures are then lower).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
from embedded_server import embedded_server, free_port_block

ROOT = Path(__file__).resolve().parents[1]


_SERVER_GROUPS: list[int] = []  # process groups to stop however this script ends


def stop_servers() -> None:
    for pgid in _SERVER_GROUPS:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)


@contextlib.contextmanager
def profiled_server(map_name: str, profile_path: str | None, extra: list[str]):
    args = ["--log-level", "WARNING", *extra] + (
        ["--profile", profile_path] if profile_path else []
    )
    with embedded_server(map_name, args) as (port, proc):
        _SERVER_GROUPS.append(proc.pid)
        yield port, psutil.Process(proc.pid)


class Stall:
    """Exit with a message if world.tick() stops returning (e.g. the client TM's lost wake-up,
    which blocks inside the carla library where no Python timeout can reach)."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.last = time.monotonic()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            if time.monotonic() - self.last > self.seconds:
                print(f"world.tick() stalled for {self.seconds:.0f} s; giving up", flush=True)
                stop_servers()
                os._exit(3)


STALL = Stall()


def measure(world, server: psutil.Process, ticks: int) -> dict[str, float]:
    for _ in range(50):  # warm up
        world.tick()
        STALL.last = time.monotonic()
    server_cpu0 = sum(server.cpu_times()[:2])
    client_cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(ticks):
        world.tick()
        STALL.last = time.monotonic()
    wall = time.perf_counter() - t0
    server_cpu = sum(server.cpu_times()[:2]) - server_cpu0
    client_cpu = time.process_time() - client_cpu0
    return {
        "ticks_per_s": ticks / wall,
        "wall_us": 1e6 * wall / ticks,
        "server_us": 1e6 * server_cpu / ticks,
        "client_us": 1e6 * client_cpu / ticks,
    }


def report(name: str, m: dict[str, float]) -> None:
    rest = max(m["wall_us"] - m["server_us"] - m["client_us"], 0.0)
    print(
        f"{name}: {m['ticks_per_s']:.0f} ticks/s ({m['wall_us']:.0f} us/tick = "
        f"server CPU {m['server_us']:.0f} + client CPU {m['client_us']:.0f} "
        f"+ waiting/other {rest:.0f})",
        flush=True,
    )


def connect_sync(port: int):
    """A client in synchronous mode at 20 Hz with a hero driving at half throttle on the first
    spawn point: (client, world, the settings applied)."""
    import carla

    client = carla.Client("127.0.0.1", port)
    client.set_timeout(20.0)
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = 0.05
    world.apply_settings(settings)
    hero_bp = world.get_blueprint_library().find("vehicle.lincoln.mkz_2017")
    hero_bp.set_attribute("role_name", "hero")
    hero = world.spawn_actor(hero_bp, world.get_map().get_spawn_points()[0])
    hero.apply_control(carla.VehicleControl(throttle=0.5))
    return client, world, settings


def tm_fleet(client, world, count: int, rng: random.Random) -> tuple[int, list[int]]:
    """``count`` four-wheeled vehicles on the map's spawn points after the first (the hero's),
    driven by a synchronous Traffic Manager: its port and their ids."""
    import carla

    tm_port = free_port_block(1)
    tm = client.get_trafficmanager(tm_port)
    tm.set_synchronous_mode(True)
    tm.set_random_device_seed(0)
    library = world.get_blueprint_library()
    cars = [
        b for b in library.filter("vehicle.*") if b.get_attribute("number_of_wheels").as_int() == 4
    ]
    spawn, autopilot = carla.command.SpawnActor, carla.command.SetAutopilot
    batch = [
        spawn(rng.choice(cars), p).then(autopilot(carla.command.FutureActor, True, tm_port))
        for p in world.get_map().get_spawn_points()[1 : count + 1]
    ]
    return tm_port, [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]


def spawn_walkers(client, world, count: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """``count`` walkers at random navigation points with started AI controllers: their ids and
    the controllers' ids."""
    import carla

    library = world.get_blueprint_library()
    STALL.last = time.monotonic()
    world.tick()  # the client loads the navigation mesh on its first tick of an episode
    spawn = carla.command.SpawnActor
    batch = []
    for _ in range(count):
        location = world.get_random_location_from_navigation()
        if location is not None:
            location.z += 1.0
            blueprint = rng.choice(library.filter("walker.pedestrian.*"))
            batch.append(spawn(blueprint, carla.Transform(location)))
    walkers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    controller = library.find("controller.ai.walker")
    batch = [spawn(controller, carla.Transform(), w) for w in walkers]
    controllers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    STALL.last = time.monotonic()
    world.tick()
    for actor in world.get_actors(controllers):
        actor.start()
        actor.go_to_location(world.get_random_location_from_navigation())
        actor.set_max_speed(1.0 + rng.random())
    return walkers, controllers


def run(args: argparse.Namespace) -> None:
    import carla

    prof = tempfile.NamedTemporaryFile(suffix=".prof", delete=False).name if args.profile else None
    extra = ["--tm-gate"] if args.tm_gate else []
    extra += ["--event-loop", args.event_loop]
    with profiled_server(args.map, prof, extra) as (port, server):
        client, world, settings = connect_sync(port)
        report("1 hero vehicle", measure(world, server, args.ticks))

        rng = random.Random(0)
        tm_port, ids = tm_fleet(client, world, args.vehicles, rng)
        autopilot = carla.command.SetAutopilot
        vehicles_only = measure(world, server, args.tm_ticks)
        report(f"1 hero + {len(ids)} TM vehicles", vehicles_only)
        walkers, controllers = spawn_walkers(client, world, args.walkers, rng)
        if walkers:
            with_walkers = measure(world, server, args.tm_ticks)
            report(f"1 hero + {len(ids)} TM vehicles + {len(walkers)} walkers", with_walkers)
            ratio = with_walkers["ticks_per_s"] / vehicles_only["ticks_per_s"]
            print(f"  with walkers: {ratio:.2f}x the ticks/s of the same run without", flush=True)
            destroy = [carla.command.DestroyActor(i) for i in controllers + walkers]
            client.apply_batch_sync(destroy, True)
        client.apply_batch_sync([autopilot(i, False, tm_port) for i in ids], True)
        client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
        client.get_trafficmanager(tm_port).shut_down()  # its threads would poll a stopped server
        settings.synchronous_mode = False
        world.apply_settings(settings)
    if prof:
        print("\nserver profile (whole run, cProfile, by internal time):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    if args.signals_map and args.rounds > 0:
        run_signals(args, extra)


def without_signals(xodr: str) -> str:
    """The same roads with every signal, signal reference and controller removed."""
    root = ET.fromstring(xodr)
    for road in root.iter("road"):
        for signals in road.findall("signals"):
            road.remove(signals)
    for parent in [root, *root.iter("junction")]:
        for controller in parent.findall("controller"):
            parent.remove(controller)
    return ET.tostring(root, encoding="unicode")


def traffic_on(spec: str, args: argparse.Namespace, extra: list[str]) -> tuple[int, dict]:
    """Scenario 2 on map `spec` in a server of its own: (traffic lights, figures)."""
    import carla

    with profiled_server(spec, None, extra) as (port, server):
        client, world, settings = connect_sync(port)
        lights = len(world.get_actors().filter("traffic.traffic_light*"))
        tm_port, ids = tm_fleet(client, world, args.vehicles, random.Random(0))
        figures = measure(world, server, args.tm_ticks)
        autopilot = carla.command.SetAutopilot
        client.apply_batch_sync([autopilot(i, False, tm_port) for i in ids], True)
        client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
        client.get_trafficmanager(tm_port).shut_down()  # before its server goes
        settings.synchronous_mode = False
        world.apply_settings(settings)
    return lights, figures


def run_signals(args: argparse.Namespace, extra: list[str]) -> None:
    """Scenario 4: the same traffic on a signalised town without and with its lights and signs."""
    sys.path.insert(0, str(ROOT))
    from rllib_integration.embedded.maps import resolve_map

    name, xodr = resolve_map(args.signals_map)
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder, f"{name}NoSignals.xodr")
        bare.write_text(without_signals(xodr))
        cases = [("without lights", str(bare)), ("with lights", name)]
        for round_ in range(args.rounds):
            results = {}
            for label, spec in cases if round_ % 2 == 0 else cases[::-1]:
                lights, results[label] = traffic_on(spec, args, extra)
                title = f"{name} {label} ({lights} lights), 1 hero + {args.vehicles} TM vehicles"
                report(title, results[label])
            with_, without = results["with lights"], results["without lights"]
            ratios.append(with_["ticks_per_s"] / without["ticks_per_s"])
            cpu = (without["server_us"] + without["client_us"]) / (
                with_["server_us"] + with_["client_us"]
            )
            print(
                f"  round {round_ + 1}: with lights {100 * ratios[-1]:.0f} % of the ticks/s "
                f"without ({100 * cpu:.0f} % by server + client CPU per tick)",
                flush=True,
            )
    print(
        f"{name}: with lights {100 * statistics.median(ratios):.0f} % of the ticks/s without "
        f"(median of {len(ratios)} rounds; target >= 80 %)"
    )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on `timeout`
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=5000)
    parser.add_argument("--tm-ticks", type=int, default=1000)
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--walkers", type=int, default=50, help="0 skips scenario 3")
    parser.add_argument("--map", default="Loop01")
    parser.add_argument(
        "--signals-map", default="Grid01", help="signalised town of scenario 4 ('' skips it)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of scenario 4 (0 skips it)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--tm-gate", action="store_true", help="server flag, for comparison")
    parser.add_argument("--event-loop", default="auto", choices=["auto", "uvloop", "asyncio"])
    run(parser.parse_args())


if __name__ == "__main__":
    main()
