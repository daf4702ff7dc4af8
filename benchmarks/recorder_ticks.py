"""What recording costs the embedded server per tick, measured against not recording in the same
run.

    .venv/bin/python benchmarks/recorder_ticks.py [--vehicles 50] [--ticks 400] [--rounds 5]
        [--frames 2000]

Part 1, through the real client: 1 hero + N vehicles driven by CARLA's client-side Traffic
Manager, sync mode at 20 Hz. Rounds alternate between not recording and recording
(`start_recorder` ... `stop_recorder`), in ABBA order, so machine load and the traffic's changes
over the run hit both alike; per round it measures
ticks/s and server CPU per tick, and prints the medians and the median ratio recording/not.
Part 2, in-process (no client, no sockets): N + 1 vehicles driving on the server's World, ticks
timed with and without a recording (alternating blocks): the recorder's own cost per frame.
Recordings go to a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from embedded_server import ROOT
from embedded_ticks import STALL, connect_sync, measure, profiled_server, tm_fleet

sys.path.insert(0, str(ROOT))  # run as `python benchmarks/recorder_ticks.py` from a checkout


def through_the_client(args: argparse.Namespace, folder: Path) -> None:
    import carla

    extra = ["--recorder-dir", str(folder)]
    with profiled_server(args.map, None, extra) as (port, server):
        client, world, settings = connect_sync(port)
        tm_port, ids = tm_fleet(client, world, args.vehicles, random.Random(0))
        autopilot = carla.command.SetAutopilot
        plain, recording, sizes = [], [], []

        def recorded(name: str) -> dict[str, float]:
            path = client.start_recorder(name)
            figures = measure(world, server, args.ticks)
            client.stop_recorder()
            sizes.append(Path(path).stat().st_size / (args.ticks + 50))  # with measure's warm-up
            return figures

        for round_ in range(args.rounds):  # ABBA: the traffic changes over a run
            if round_ % 2:
                recording.append(recorded(f"bench{round_}.log"))
            plain.append(measure(world, server, args.ticks))
            if not round_ % 2:
                recording.append(recorded(f"bench{round_}.log"))
        client.apply_batch_sync([autopilot(i, False, tm_port) for i in ids], True)
        client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
        settings.synchronous_mode = False
        world.apply_settings(settings)
    print(f"through the client, 1 hero + {len(ids)} TM vehicles, {args.rounds} rounds:")
    for name, runs in (("not recording", plain), ("recording", recording)):
        tps = statistics.median(m["ticks_per_s"] for m in runs)
        cpu = statistics.median(m["server_us"] for m in runs)
        print(f"  {name}: {tps:.0f} ticks/s, server CPU {cpu:.0f} us/tick (medians)")
    ratios = [r["ticks_per_s"] / p["ticks_per_s"] for p, r in zip(plain, recording, strict=True)]
    print(f"  recording: {statistics.median(ratios):.3f}x the ticks/s (median of rounds)")
    print(f"  file: {statistics.median(sizes) / 1024:.1f} KiB per frame", flush=True)


def in_process(args: argparse.Namespace, folder: Path) -> None:
    from rllib_integration.embedded import map_source
    from rllib_integration.embedded.blueprints import default_library
    from rllib_integration.embedded.physics import VehicleControl
    from rllib_integration.embedded.protocol.stream_server import StreamHub
    from rllib_integration.embedded.protocol.world_streams import WorldStreams
    from rllib_integration.embedded.recorder.paths import RecorderPaths
    from rllib_integration.embedded.recorder.service import Recorder, RecorderConfig
    from rllib_integration.embedded.world import EpisodeSettings, World

    world_map = map_source.load_map(args.map)
    world = World(default_library(), world_map, WorldStreams(StreamHub(), 2001))
    world.settings = EpisodeSettings(synchronous_mode=True, fixed_delta_seconds=0.05)
    for point in world_map.spawn_points[: args.vehicles + 1]:
        car = world.spawn("vehicle.audi.a2", {}, point)
        assert car.vehicle is not None  # a vehicle blueprint
        car.vehicle.control = VehicleControl(throttle=0.3)
    recorder = Recorder(world, RecorderConfig(RecorderPaths(folder)))
    block = max(args.frames // 10, 1)
    timings: dict[bool, list[float]] = {False: [], True: []}
    for i in range(20):
        recording = i % 2 == 1
        if recording:
            recorder.start("in_process.log")
        STALL.last = time.monotonic()
        t0 = time.perf_counter()
        for _ in range(block):
            world.tick()
        timings[recording].append((time.perf_counter() - t0) / block)
        recorder.stop()
    plain, recorded = (statistics.median(timings[k]) * 1e6 for k in (False, True))
    recorder.start("frames_only.log")
    writer = recorder.writer
    assert writer is not None
    t0 = time.perf_counter()
    for _ in range(args.frames):
        writer.write_frame(world, [])
    frame_us = (time.perf_counter() - t0) / args.frames * 1e6
    recorder.stop()
    print(f"in-process World, {len(world.actors) - 1} vehicles, blocks of {block} ticks:")
    print(f"  tick without recorder: {plain:.0f} us; with: {recorded:.0f} us (medians)")
    print(
        f"  recording: {recorded / plain:.3f}x the tick time; writing a frame alone: {frame_us:.0f} us"
    )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on `timeout`
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=400, help="per round, through the client")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=2000, help="in-process ticks per setting")
    parser.add_argument("--map", default="Loop01")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as folder:
        in_process(args, Path(folder))
        STALL.last = time.monotonic()
        through_the_client(args, Path(folder))


if __name__ == "__main__":
    main()
