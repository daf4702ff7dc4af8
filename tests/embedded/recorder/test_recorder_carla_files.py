"""Recordings made by CarlaUE4 itself: scenario_runner ships two (0.9.13-era, version 1, Town01)
in `srunner/metrics/data/`. They are not part of this repository; point CARLA_RECORDER_SAMPLES at
a folder holding `DistanceBetweenVehicles.log` (e.g. a scenario_runner checkout's
`srunner/metrics/data`) to run these tests, which are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder import queries, reader
from rllib_integration.embedded.recorder.format import PacketId
from rllib_integration.embedded.recorder.replayer import split_frames
from tests.conftest import CARLA_TOWNS, start_embedded_server
from tests.embedded.helpers import run_on_server

SAMPLES = Path(os.environ.get("CARLA_RECORDER_SAMPLES", "/nonexistent"))
SAMPLE = SAMPLES / "DistanceBetweenVehicles.log"
pytestmark = pytest.mark.skipif(
    not SAMPLE.is_file(), reason="set CARLA_RECORDER_SAMPLES to scenario_runner's metrics data"
)


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE.read_bytes()


def test_carla_s_file_reads_to_the_end(sample):
    header, start = reader.read_header(sample)
    assert (header.version, header.magic, header.map_name) == (1, "CARLA_RECORDER", "Town01")
    frames = split_frames(sample, start)
    assert len(frames) == 847
    assert frames[0].start.elapsed == 0.0 and frames[-1].start.duration == -1.0
    assert all(f.start.id == n for n, f in enumerate(frames, start=1))
    positions = [p for p in frames[1].packets if p[0] == PacketId.POSITION]
    assert len(reader.records(positions[0][1], fmt.POSITION, "positions")) == 118


def test_carla_s_file_prints_as_carla_prints_it(sample):
    short = queries.file_info(sample, False)
    # The end of the reply as reference/carla_recorder.md §3.2 shows it.
    assert short.endswith(
        "Frame 847 at 24.7237 seconds\n Destroy 174\n\n\n\nFrames: 847\nDuration: 24.7237 seconds\n"
    )
    assert (
        "Frame 1 at 0 seconds\n Create 1: spectator (0) at (542.481, 4236.74, 490.868)\n" in short
    )
    full = queries.file_info(sample, True)
    assert (
        "Frame 2 at 0.0172128 seconds\n Positions: 118\n"
        "  Id: 1 Location: (542.481, 4236.74, 490.868) Rotation: (0, 0, -131.802)\n"
    ) in full
    assert (
        " Vehicle animations: 2\n"
        "  Id: 174 Steering: 0 Throttle: 0 Brake: 0 Handbrake: 0 Gear: 0\n"
        "  Id: 175 Steering: 0 Throttle: 0 Brake: 0 Handbrake: 0 Gear: 0\n"
        " Walker animations: 0\n"
        " Vehicle light animations: 2\n  Id: 174 None\n  Id: 175 None\n"
    ) in full
    # Sensors' bounding boxes are NaN and infinite in CARLA's files; glibc prints the sign.
    assert "  Id: 1 origin: (-nan, -nan, -nan) extension: (-inf, -inf, -inf)\n" in full
    blocked = queries.actors_blocked(sample, 60.0, 100.0)
    assert blocked.endswith("Duration\n\nFrames: 847\nDuration: 24.7237 seconds\n")


HERO_TRACK = """
reply = client.replay_file("DistanceBetweenVehicles.log", 0.0, 0.0, 0)
seen = {}
for _ in range(600):
    world.tick()
    for a in world.get_actors().filter("vehicle.*"):
        loc = a.get_location()
        seen.setdefault(a.type_id, []).append([loc.x, loc.y])
left = sorted(a.type_id for a in world.get_actors().filter("vehicle.*"))
result(reply=reply, seen=seen, left=left)
"""


@pytest.mark.slow
@pytest.mark.skipif(not (CARLA_TOWNS / "Town01.xodr").is_file(), reason="CARLA's Town01 absent")
def test_carla_s_file_replays_on_the_embedded_server(sample, tmp_path):
    shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
    args = ("--map", "Town01", "--map-dir", str(CARLA_TOWNS), "--recorder-dir", str(tmp_path))
    with start_embedded_server(*args, startup_timeout=240) as server:
        r, _ = run_on_server(server, HERO_TRACK, timeout=400)
    assert r["reply"].startswith(f"Replaying File: {tmp_path / SAMPLE.name}\n")
    assert "Total time recorded: 24.7237\n" in r["reply"]
    # The recorded positions of the two cars, from the file itself (cm -> m).
    recorded: dict[int, list] = {}
    for frame in split_frames(sample, reader.read_header(sample)[1]):
        for packet_id, payload in frame.packets:
            if packet_id == PacketId.POSITION:
                for row in reader.records(payload, fmt.POSITION, "positions"):
                    recorded.setdefault(row[0], []).append([row[1] / 100, row[2] / 100])
    for blueprint, actor_id in (("vehicle.lincoln.mkz_2017", 174), ("vehicle.nissan.patrol", 175)):
        path = np.array(recorded[actor_id])
        replayed = np.array(r["seen"][blueprint])
        gaps = np.min(np.linalg.norm(replayed[:, None, :] - path[None, :, :], axis=2), axis=1)
        assert gaps.max() < 0.5  # every replayed position lies on the recorded path
        assert np.linalg.norm(replayed[-1] - replayed[0]) > 5.0  # and the car went somewhere
    assert r["left"] == []  # the recording destroyed its cars before it ended
