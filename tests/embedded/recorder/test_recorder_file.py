"""Recordings written by the embedded server, read back packet by packet (no client): the 0.9.16
frame layout, patched durations, blueprint uids and attribute types; and the readers on damaged
files (truncated, corrupted, lying counts) answer without crashing."""

from __future__ import annotations

import importlib.util
import os
import random
import time
from pathlib import Path

import pytest

from rllib_integration.embedded import map_source
from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.physics import VehicleControl
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder import queries, reader
from rllib_integration.embedded.recorder.format import PacketId as P
from rllib_integration.embedded.recorder.paths import RecorderPaths
from rllib_integration.embedded.recorder.reader import RecordingError
from rllib_integration.embedded.recorder.replayer import split_frames
from rllib_integration.embedded.recorder.service import Recorder, RecorderConfig
from rllib_integration.embedded.world import EpisodeSettings, World

TICKS = 12
BASE_LAYOUT = [P.FRAME_START, P.VISUAL_TIME, P.EVENT_ADD, P.EVENT_DEL, P.EVENT_PARENT, P.COLLISION]
ACTOR_LAYOUT = [
    P.POSITION,
    P.STATE,
    P.ANIM_VEHICLE,
    P.ANIM_WALKER,
    P.VEHICLE_LIGHT,
    P.ANIM_VEHICLE_WHEELS,
    P.ANIM_BIKER,
]


@pytest.fixture(scope="module")
def loop01():
    return map_source.load_map("Loop01")


def record(tmp_path, world_map, additional_data=False, doors=False) -> tuple[bytes, dict]:
    world = World(default_library(), world_map, WorldStreams(StreamHub(), 2001))
    world.settings = EpisodeSettings(synchronous_mode=True, fixed_delta_seconds=0.05)
    config = RecorderConfig(RecorderPaths(tmp_path), doors=doors)
    recorder = Recorder(world, config)
    car = world.spawn("vehicle.audi.a2", {"color": "10,20,30"}, world_map.spawn_points[0])
    path = recorder.start("run.log", additional_data)
    walker = world.spawn("walker.pedestrian.0001", {}, world_map.spawn_points[3])
    sensor = world.spawn("sensor.other.imu", {}, (0.5, 0.0, 1.5, 0.0, 0.0, 0.0), car.id)
    car.vehicle.control = VehicleControl(throttle=0.8)
    car.light_state = 1 | 2
    for tick in range(TICKS):
        world.tick()
        if tick == 5:
            world.destroy(walker.id)
    recorder.stop()
    assert (
        world.after_physics == world.before_publish == world.on_spawn == []
    )  # nothing left behind when stopped
    ids = dict(spectator=world.spectator.id, car=car.id, walker=walker.id, sensor=sensor.id)
    return (tmp_path / "run.log").read_bytes(), dict(ids, path=path)


def frames(data: bytes) -> list[list[tuple[int, memoryview]]]:
    header, start = reader.read_header(data)
    out: list = []
    for packet_id, payload in reader.packets(data, start):
        if packet_id == P.FRAME_START:
            out.append([])
        out[-1].append((packet_id, payload))
    return out


def test_a_recording_has_carla_s_header_and_frame_layout(tmp_path, loop01):
    before = int(time.time())
    data, ids = record(tmp_path, loop01)
    header, _ = reader.read_header(data)
    assert (header.version, header.magic, header.map_name) == (2, "CARLA_RECORDER", "Loop01")
    assert before <= header.date <= time.time()
    assert ids["path"] == str(tmp_path / "run.log")
    recorded = frames(data)
    assert len(recorded) == TICKS
    elapsed = 0.0
    for number, frame in enumerate(recorded, start=1):
        assert [p for p, _ in frame] == BASE_LAYOUT + ACTOR_LAYOUT + [P.FRAME_END]
        start = reader.frame_start(frame[0][1])
        assert (start.id, start.elapsed) == (number, elapsed)
        assert start.duration == (0.05 if number < TICKS else -1.0)  # patched, the last one not
        elapsed += 0.05


def test_additional_data_and_strict_doors_add_their_packets(tmp_path, loop01):
    data, ids = record(tmp_path, loop01, additional_data=True, doors=True)
    first = frames(data)[0]
    additional = [P.KINEMATICS, P.BOUNDING_BOX, P.PLATFORM_TIME, P.WALKER_BONES, P.FRAME_END]
    assert [p for p, _ in first] == BASE_LAYOUT + [P.VEHICLE_DOOR] + ACTOR_LAYOUT + additional
    boxes = reader.records(dict(first)[P.BOUNDING_BOX], fmt.BOX, "boxes")
    car_box = next(b for b in boxes if b[0] == ids["car"])
    a2 = default_library().get("vehicle.audi.a2")
    assert car_box[4:] == pytest.approx([e * 100 for e in a2.extent], rel=1e-6)


def test_actors_are_created_with_uid_type_attributes_and_parent(tmp_path, loop01):
    data, ids = record(tmp_path, loop01)
    first = dict(frames(data)[0])
    created = {e.id: e for e in reader.event_adds(first[P.EVENT_ADD])}
    library = default_library()
    uid = {bp.id: n for n, bp in enumerate(library.blueprints, start=1)}
    spectator, car, sensor = created[ids["spectator"]], created[ids["car"]], created[ids["sensor"]]
    assert (spectator.type, spectator.uid, spectator.blueprint) == (0, 0, "spectator")
    assert (car.type, car.uid) == (fmt.ActorType.VEHICLE, uid["vehicle.audi.a2"])
    assert car.attribute("color") == "10,20,30"
    assert (created[ids["walker"]].type, sensor.type) == (
        fmt.ActorType.WALKER,
        fmt.ActorType.SENSOR,
    )
    # The sensor: its requested transform relative to the car, in cm, and a parenting event.
    assert sensor.location == pytest.approx((50.0, 0.0, 150.0))
    parents = reader.records(first[P.EVENT_PARENT], fmt.EVENT_PARENT, "parents")
    assert parents == [(ids["sensor"], ids["car"])]
    # Attribute types are 0.9.16's wire numbers (Bool 1 ... RGBColor 5).
    raw = bytes(first[P.EVENT_ADD])
    types = {t for t in range(1, 6) if bytes([t]) + fmt.pack_string("color") in raw}
    assert types == {5}


def test_positions_controls_and_lights_follow_the_world(tmp_path, loop01):
    data, ids = record(tmp_path, loop01)
    last = dict(frames(data)[-1])
    positions = {r[0]: r for r in reader.records(last[P.POSITION], fmt.POSITION, "p")}
    assert ids["sensor"] not in positions and ids["walker"] not in positions
    assert set(positions) == {ids["spectator"], ids["car"]}
    (car_anim,) = reader.records(last[P.ANIM_VEHICLE], fmt.ANIM_VEHICLE, "v")
    assert car_anim[0] == ids["car"] and car_anim[2] == pytest.approx(0.8) and car_anim[5] == 1
    assert reader.records(last[P.VEHICLE_LIGHT], fmt.VEHICLE_LIGHT, "l") == [(ids["car"], 3)]
    destroyed = [dict(f).get(P.EVENT_DEL) for f in frames(data)]
    dels = [reader.records(d, fmt.EVENT_DEL, "d") for d in destroyed]
    assert dels[6] == [(ids["walker"],)] and sum(len(d) for d in dels) == 1


def test_damaged_files_never_break_the_readers(tmp_path, loop01):
    data, _ = record(tmp_path, loop01, additional_data=True)
    rng = random.Random(0)
    variants = [data[:n] for n in range(0, len(data), 13)]
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        variants.append(bytes(damaged))
    for variant in variants:
        for text in (
            queries.file_info(variant, True),
            queries.collisions(variant, "a", "a"),
            queries.actors_blocked(variant, 1.0, 1.0),
        ):
            assert text == queries.NOT_A_RECORDER or (
                text.startswith("Version: ") and text.endswith(" seconds\n")
            )
        header, start = reader.read_header(variant)
        split_frames(variant, start)


def test_counts_and_sizes_that_overrun_their_data_are_errors():
    positions = fmt.U16.pack(3) + fmt.POSITION.pack(1, 0, 0, 0, 0, 0, 0)
    with pytest.raises(RecordingError, match="3 records do not fit"):
        reader.records(memoryview(positions), fmt.POSITION, "positions")
    oversized = fmt.PACKET_HEADER.pack(P.POSITION, 1 << 30) + b"\0" * 10
    with pytest.raises(RecordingError, match="runs past the end"):
        list(reader.packets(oversized, 0))
    lying_string = fmt.U16.pack(1) + fmt.EVENT_ADD_HEAD.pack(1, 0, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(RecordingError, match="string runs past"):
        reader.event_adds(memoryview(lying_string + fmt.U16.pack(500) + b"abc"))


SCENARIO_RUNNER = Path(os.environ.get("SCENARIO_RUNNER_ROOT", "/nonexistent"))
METRICS_PARSER = SCENARIO_RUNNER / "srunner" / "metrics" / "tools" / "metrics_parser.py"


@pytest.mark.skipif(not METRICS_PARSER.is_file(), reason="set SCENARIO_RUNNER_ROOT to a checkout")
def test_scenario_runner_s_metrics_parser_reads_every_actor_state(tmp_path, loop01):
    """scenario_runner's metrics_manager parses `show_recorder_file_info(name, True)`; it finds
    no actor state at all in frames with CARLA 0.9.16's door line (reference §5.2), which the
    embedded server leaves out unless asked for strict output."""
    spec = importlib.util.spec_from_file_location("metrics_parser", METRICS_PARSER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for doors, expected in ((False, TICKS * 2), (True, 0)):
        data, ids = record(tmp_path, loop01, additional_data=True, doors=doors)
        text = queries.file_info(data, True)
        simulation, actors, frames_info = module.MetricsParser(text).parse_recorder_info()
        assert (simulation["map"], simulation["total_frames"]) == ("Loop01", TICKS)
        car_states = [f["actors"][ids["car"]] for f in frames_info if ids["car"] in f["actors"]]
        spectator = [f for f in frames_info if ids["spectator"] in f["actors"]]
        assert len(car_states) + len(spectator) == expected


def test_a_recording_stops_at_its_size_cap(tmp_path, loop01):
    world = World(default_library(), loop01, WorldStreams(StreamHub(), 2001))
    world.settings = EpisodeSettings(synchronous_mode=True, fixed_delta_seconds=0.05)
    recorder = Recorder(world, RecorderConfig(RecorderPaths(tmp_path), max_bytes=4000))
    world.spawn("vehicle.audi.a2", {}, loop01.spawn_points[0])
    recorder.start("capped.log")
    for _ in range(200):
        world.tick()
    size = (tmp_path / "capped.log").stat().st_size
    assert 3000 < size <= 4000 and recorder.writer is None and world.before_publish == []
    # What was written is whole frames: the queries read it to its last frame.
    assert queries.file_info((tmp_path / "capped.log").read_bytes(), False).endswith(" seconds\n")


def test_signals_get_trigger_volumes_and_light_times_with_additional_data(tmp_path):
    grid01 = map_source.load_map("Grid01")
    world = World(default_library(), grid01, WorldStreams(StreamHub(), 2001))
    world.settings = EpisodeSettings(synchronous_mode=True, fixed_delta_seconds=0.05)
    recorder = Recorder(world, RecorderConfig(RecorderPaths(tmp_path)))
    recorder.start("signals.log", additional_data=True)
    world.tick()
    recorder.stop()
    (first,) = frames((tmp_path / "signals.log").read_bytes())
    packets = dict(first)
    signals = world.signals
    lights = [signals.actor_ids[k] for k in signals.light_rows]
    created = {e.id: e for e in reader.event_adds(packets[P.EVENT_ADD])}
    assert {created[i].type for i in lights} == {fmt.ActorType.TRAFFIC_LIGHT}
    volumes = reader.records(packets[P.TRIGGER_VOLUME], fmt.BOX, "volumes")
    assert sorted(v[0] for v in volumes) == sorted(signals.actor_ids)
    times = reader.records(packets[P.TRAFFIC_LIGHT_TIME], fmt.TRAFFIC_LIGHT_TIME, "times")
    assert [t[0] for t in times] == lights and {t[1:] for t in times} == {(10.0, 3.0, 2.0)}
    states = reader.records(packets[P.STATE], fmt.STATE, "states")
    assert [s[0] for s in states] == lights
