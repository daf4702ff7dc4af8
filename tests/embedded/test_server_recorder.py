"""The recorder through the real client: start_recorder / stop_recorder, the three show_recorder_*
queries in CARLA's text format, replay_file, stop_replayer, and where recorder files may go.

One episode is recorded per test (Loop01, sync mode at 20 Hz): a hero vehicle with a collision
sensor drives into a parked car, a third car stands still the whole time, a fourth is destroyed
after tick 40. The client keeps what it saw after every tick to compare with the file and the
replay.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

TICKS = 60
LEAVES_AFTER = 40
DT = 0.05

RECORD = """
name = {name!r}
wp = carla_map.get_waypoint(spawn_points[0].location)
parked_tf = wp.next(13.0)[0].transform
parked_tf.location.z += 0.3
parked = world.spawn_actor(library.find("vehicle.tesla.model3"), parked_tf)
still = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[4])
leaver = world.spawn_actor(library.find("vehicle.nissan.patrol"), spawn_points[8])
parked.apply_control(carla.VehicleControl(hand_brake=True))
world.tick()
path = client.start_recorder(name)
hero_bp = library.find("vehicle.lincoln.mkz_2017")
hero_bp.set_attribute("role_name", "hero")
hero = world.spawn_actor(hero_bp, spawn_points[0])
sensor = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=hero)
hits = []
sensor.listen(lambda e: hits.append(e.frame))
hero.apply_control(carla.VehicleControl(throttle=1.0))
track, frames = [], []
for tick in range(1, {ticks} + 1):
    frames.append(world.tick())
    loc = hero.get_location()
    track.append([loc.x, loc.y, loc.z])
    if tick == {leaves_after}:
        leaver.destroy()
client.stop_recorder()
import time; time.sleep(0.3)  # sensor events arrive on the client's streaming thread
hit_tick = frames.index(min(hits)) + 1 if hits else None
ids = dict(hero=hero.id, sensor=sensor.id, parked=parked.id, still=still.id, leaver=leaver.id)
result(path=path, ids=ids, track=track, hit_tick=hit_tick)
"""

CLEAN_UP = """
sensor.stop()
for actor in (sensor, hero, parked, still):
    actor.destroy()
world.tick()
"""


@pytest.fixture(scope="module")
def recorder_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def server(recorder_dir):
    with start_embedded_server("--recorder-dir", str(recorder_dir)) as handle:
        yield handle


def record(name: str, then: str = "") -> str:
    return RECORD.format(name=name, ticks=TICKS, leaves_after=LEAVES_AFTER) + then


def g(value: float) -> str:
    return f"{value:g}"


def elapsed(frame: int) -> float:
    """A frame's elapsed time as the recorder sums it (frame 1 is 0)."""
    total = 0.0
    for _ in range(frame - 1):
        total += DT
    return total


def frames_of(info: str) -> dict[int, str]:
    """show_all text -> {frame id: the frame's lines}."""
    chunks = re.split(r"^Frame (\d+) at [^\n]* seconds\n", info, flags=re.M)
    return {int(chunks[i]): chunks[i + 1] for i in range(1, len(chunks), 2)}


def test_file_info_collisions_and_blocked_actors_of_a_recorded_episode(server, recorder_dir):
    queries = """
info = client.show_recorder_file_info(name, False)
full = client.show_recorder_file_info(name, True)
vv = client.show_recorder_collisions(name, "v", "v")
hero_any = client.show_recorder_collisions(name, "h", "a")
walkers = client.show_recorder_collisions(name, "w", "a")
blocked = client.show_recorder_actors_blocked(name, 1.0, 10.0)
result(info=info, full=full, vv=vv, hero_any=hero_any, walkers=walkers, blocked=blocked)
"""
    r, _ = run_on_server(server, record("episode.log", queries + CLEAN_UP), timeout=180)
    ids, total = r["ids"], elapsed(TICKS)
    assert r["path"] == str(recorder_dir / "episode.log")
    assert (recorder_dir / "episode.log").read_bytes()[2:18] == b"\x0e\x00CARLA_RECORDER"

    info = r["info"]
    assert re.match(r"Version: 2\nMap: Loop01\nDate: \d\d/\d\d/\d\d \d\d:\d\d:\d\d\n\n", info)
    assert "Frame 1 at 0 seconds\n Create 1: spectator (0) at (" in info
    assert f" Create {ids['still']}: vehicle.audi.a2 (1) at (" in info  # there before the start
    hero_create = f" Create {ids['hero']}: vehicle.lincoln.mkz_2017 (1) at ("
    assert hero_create in info and "  role_name = hero\n" in info
    assert f" Create {ids['sensor']}: sensor.other.collision (5) at (0, 0, 0)\n" in info
    assert f" Parenting {ids['sensor']} with {ids['hero']} (parent)\n" in info
    leave = f"Frame {LEAVES_AFTER + 1} at {g(elapsed(LEAVES_AFTER + 1))} seconds\n"
    leave += f" Destroy {ids['leaver']}\n"
    assert leave in info
    # One blank line per frame, one more for the last FrameEnd, then the tail.
    assert info.endswith(f"\n\n\nFrames: {TICKS}\nDuration: {g(total)} seconds\n")
    assert info.splitlines().count("") == 1 + TICKS + 1 + 1  # header, frames, last again, tail

    frames = frames_of(r["full"])
    assert sorted(frames) == list(range(1, TICKS + 1))
    for tick, (x, y, z) in enumerate(r["track"], start=1):
        lines = frames[tick]
        assert " Positions: " in lines and " Vehicle animations: " in lines
        m = re.search(rf"  Id: {ids['hero']} Location: \(([^,]+), ([^,]+), ([^)]+)\)", lines)
        assert m, lines
        assert [float(v) / 100 for v in m.groups()] == pytest.approx([x, y, z], abs=1e-3)
        assert (f"  Id: {ids['leaver']} Location" in lines) == (tick <= LEAVES_AFTER)
        assert f"  Id: {ids['sensor']} Location" not in lines  # sensors follow their parent

    hit = r["hit_tick"]
    assert hit is not None
    header = f"{'Time':>8} {'Types':>6} {'Id':>6} {'Actor 1':<35} {'Id':>6} {'Actor 2':<35}\n"
    assert len(header) == 102  # 101 characters and the newline, trailing spaces kept
    row = (
        f"{elapsed(hit):8.0f}   v v  {ids['hero']:6d} {'vehicle.lincoln.mkz_2017':<35} "
        f"{ids['parked']:6d} {'vehicle.tesla.model3':<35}\n"
    )
    tail_fixed = f"\nFrames: {TICKS}\nDuration: {total:.0f} seconds\n"
    assert r["vv"].endswith("\n\n" + header + row + tail_fixed)  # only the start of the contact
    assert r["hero_any"].endswith(header + row + tail_fixed)
    assert r["walkers"].endswith(header + f"\nFrames: {TICKS}\nDuration: {g(total)} seconds\n")

    blocked = r["blocked"]
    assert blocked.startswith(info[: info.index("\n\n") + 2])
    assert f"{'Time':>8} {'Id':>6} {'Actor':<35} {'Duration':>10}\n" in blocked
    # Still for the whole file: from frame 2 on, plus CARLA's -1 s of the last frame.
    still = elapsed(TICKS) - elapsed(2) - 1.0
    assert f"{DT:8.0f} {ids['still']:6d} {'vehicle.audi.a2':<35} {still:10.0f}\n" in blocked
    # CARLA's quirk: destroying an actor forgets the last one created (the sensor), so the
    # destroyed car stays listed with the time it stood still before it went.
    leaver = elapsed(LEAVES_AFTER) - elapsed(1)
    leaver_row = f"{DT:8.0f} {ids['leaver']:6d} {'vehicle.nissan.patrol':<35} {leaver:10.0f}\n"
    assert leaver_row in blocked
    durations = [float(line.split()[-1]) for line in blocked.splitlines() if "vehicle." in line]
    assert durations == sorted(durations, reverse=True)
    assert_no_unknown_rpc(server)


REPLAY = """
for actor in (sensor, hero, parked, still):  # the live world is empty again
    actor.destroy()
world.tick()
reply = client.replay_file(name, 0.0, 0.0, ids["hero"])
hero_at, leaver_there, spectator_gap = [], [], []
for tick in range(1, {ticks} + 6):
    world.tick()
    actor = world.get_actor(ids["hero"])
    loc = actor.get_location()
    hero_at.append([loc.x, loc.y, loc.z])
    leaver_there.append(ids["leaver"] in [a.id for a in world.get_actors()])
    spectator_gap.append(world.get_spectator().get_location().distance(loc))
vehicles = sorted(a.type_id for a in world.get_actors().filter("vehicle.*"))
sensors = [a.type_id for a in world.get_actors().filter("sensor.*")]
# After the end the replayer no longer moves the hero: a teleport sticks.
moved = carla.Transform(carla.Location(x=loc.x + 5.0, y=loc.y, z=loc.z + 0.5), actor.get_transform().rotation)
actor.set_transform(moved)
for _ in range(3):
    world.tick()
after = actor.get_location()
result(reply=reply, hero_at=hero_at, leaver_there=leaver_there, spectator_gap=spectator_gap,
       vehicles=vehicles, sensors=sensors, moved=[moved.location.x, moved.location.y],
       after=[after.x, after.y])
for a in world.get_actors().filter("vehicle.*"):
    a.destroy()
world.tick()
"""


def test_replay_file_moves_the_recorded_actors_along_their_path_and_ends(server, recorder_dir):
    body = record("replay.log", REPLAY.format(ticks=TICKS))
    r, _ = run_on_server(server, body, timeout=180)
    track, total = np.array(r["track"]), elapsed(TICKS)
    assert r["reply"] == (
        f"Replaying File: {recorder_dir / 'replay.log'}\n"
        f"Total time recorded: {g(total)}\n"
        f"Replaying from 0 s - {g(total)} s ({g(total)} s) at 1.0x\n"
        "Ignoring Spectator camera\n"
    )
    # Replay tick k shows recorded frame k (CARLA's one-frame lag) until the last applied frame,
    # TICKS - 2: the last frame's duration is -1, so its positions are never applied.
    last = TICKS - 2
    hero_at = np.array(r["hero_at"])
    np.testing.assert_allclose(hero_at[:last], track[:last], atol=1e-3)
    np.testing.assert_allclose(hero_at[last:], track[[last - 1]].repeat(7, axis=0), atol=0.05)
    # Destroyed after tick 40 of the recording: gone after replay tick 40.
    assert r["leaver_there"] == [t < LEAVES_AFTER for t in range(1, TICKS + 6)]
    # The spectator follows the hero at the default offset (10 m behind, 5 m up).
    assert r["spectator_gap"][5] == pytest.approx(125**0.5, abs=0.2)
    # The recording's other cars are back (kept at the end); its sensor is not (replay_sensors).
    assert r["vehicles"] == sorted(
        ["vehicle.lincoln.mkz_2017", "vehicle.tesla.model3", "vehicle.audi.a2"]
    )
    assert r["sensors"] == []
    assert r["after"] == pytest.approx(r["moved"], abs=0.05)
    assert_no_unknown_rpc(server)


STOP_REPLAYER = """
for actor in (sensor, hero, parked, still):
    actor.destroy()
world.tick()
outcome = {}
for keep in (False, True):
    client.replay_file(name, 0.0, 0.0, 0)
    for _ in range(10):
        world.tick()
    client.stop_replayer(keep)
    world.tick()
    actor = world.get_actor(ids["hero"])
    before = actor.get_location()
    for _ in range(5):
        world.tick()
    outcome[str(keep)] = dict(
        leaver=ids["leaver"] in [a.id for a in world.get_actors()],
        hero=actor.is_alive,
        drift=actor.get_location().distance(before),
        at=[before.x, before.y],
    )
    for a in world.get_actors().filter("vehicle.*"):
        a.destroy()
    world.tick()
result(outcome=outcome)
"""


def test_stop_replayer_keeps_or_finishes_the_recorded_actors(server):
    r, _ = run_on_server(server, record("stop.log", STOP_REPLAYER), timeout=180)
    track = r["track"]
    dropped, kept = r["outcome"]["False"], r["outcome"]["True"]
    # keep_actors=False plays the rest of the file's spawns and destructions first: the car
    # destroyed at tick 40 goes; the hero, alive when the recording stopped, stays.
    assert not dropped["leaver"] and dropped["hero"]
    assert kept["leaver"] and kept["hero"]
    for outcome in (dropped, kept):
        assert outcome["drift"] < 0.05  # stopped: physics back, neutral control, zero speed
        assert outcome["at"] == pytest.approx(track[9][:2], abs=1e-3)  # where tick 10 put it


def test_recorder_files_stay_inside_the_recorder_folder(server, recorder_dir, tmp_path):
    outside = tmp_path / "outside.log"
    (recorder_dir / "notes.txt").write_text("not a recording\n")
    (recorder_dir / "link.log").symlink_to(outside)
    body = f"""
names = ["{outside}", "../escape.log", "link.log", "notes.txt", "sub/dir/run.log"]
started = {{n: client.start_recorder(n) for n in names}}
client.stop_recorder()
shown = client.show_recorder_file_info("/etc/hostname", False)
missing = client.show_recorder_file_info("nothing.log", False)
not_rec = client.show_recorder_file_info("notes.txt", False)
result(started=started, shown=shown, missing=missing, not_rec=not_rec)
"""
    r, _ = run_on_server(server, body)
    started = r["started"]
    assert started[str(outside)] == "" and not outside.exists()
    assert started["../escape.log"] == "" and not (recorder_dir.parent / "escape.log").exists()
    assert started["link.log"] == "" and not outside.exists()
    assert started["notes.txt"] == ""
    assert (recorder_dir / "notes.txt").read_text() == "not a recording\n"
    assert started["sub/dir/run.log"] == str(recorder_dir / "sub" / "dir" / "run.log")
    assert r["shown"] == "File /etc/hostname not found on server\n"
    assert r["missing"] == f"File {recorder_dir / 'nothing.log'} not found on server\n"
    assert r["not_rec"] == "File is not a CARLA recorder\n"


OTHER_MAP = """
for actor in (sensor, hero, parked, still):
    actor.destroy()
world.tick()
world = client.load_world("Grid01")
reply = client.replay_file(name, 0.0, 0.0, 0)
import time
deadline, seen = time.monotonic() + 60.0, []
while time.monotonic() < deadline and len(seen) < 20:
    snapshot = world.wait_for_tick(10.0)
    world = client.get_world()
    if world.get_map().name.endswith("Loop01"):
        for a in world.get_actors().filter("vehicle.lincoln.*"):
            loc = a.get_location()
            seen.append([loc.x, loc.y, loc.z])
result(reply=reply, seen=seen, settings_sync=world.get_settings().synchronous_mode)
"""


def test_a_recording_of_another_map_loads_that_map_and_then_replays(recorder_dir):
    with start_embedded_server("--recorder-dir", str(recorder_dir)) as server:
        r, _ = run_on_server(server, record("other_map.log", OTHER_MAP), timeout=240)
    assert r["reply"].startswith(
        f"Replaying File: {recorder_dir / 'other_map.log'}\n"
        "Loading map Loop01\nReplayer will start after map is loaded...\n"
        f"Total time recorded: {g(elapsed(TICKS))}\n"
    )
    # As on CarlaUE4 the new map starts with default (asynchronous) settings; the replay then
    # follows wall-clock ticks, and the hero moves along its recorded path.
    assert not r["settings_sync"]
    seen, track = np.array(r["seen"]), np.array(r["track"])
    assert len(seen) == 20
    gaps = np.min(np.linalg.norm(seen[:, None, :2] - track[None, :, :2], axis=2), axis=1)
    assert gaps.max() < 0.2
    assert seen[-1][1] - seen[0][1] > 0.5


LIGHT_TICKS = 400  # 20 s: Grid01's lights change stage (green 10 s, yellow 3 s)
FREEZE_AT = 200

LIGHTS = """
name = "lights.log"
lights = sorted(world.get_actors().filter("traffic.traffic_light"), key=lambda a: a.id)
path = client.start_recorder(name)
shown = []
for tick in range(1, {ticks} + 1):
    if tick == 20:
        lights[0].set_state(carla.TrafficLightState.Off)
    if tick == {freeze_at}:
        lights[0].freeze(True)
    world.tick()
    shown.append([int(light.get_state()) for light in lights])
client.stop_recorder()
info = client.show_recorder_file_info(name, True)
world.freeze_all_traffic_lights(False)
world.reset_all_traffic_lights()
world.tick()
reply = client.replay_file(name, 0.0, 0.0, 0)
replayed = []
for tick in range(1, {ticks} + 1):
    world.tick()
    replayed.append([int(light.get_state()) for light in lights])
result(ids=[l.id for l in lights], info=info, shown=shown, replayed=replayed,
       frozen_after=lights[0].is_frozen())
"""


def test_traffic_light_states_are_recorded_and_replayed(tmp_path):
    body = LIGHTS.format(ticks=LIGHT_TICKS, freeze_at=FREEZE_AT)
    with start_embedded_server("--map", "Grid01", "--recorder-dir", str(tmp_path)) as server:
        r, _ = run_on_server(server, body, timeout=240)
    ids, frames, shown = r["ids"], frames_of(r["info"]), r["shown"]
    assert len(ids) >= 4 and len(frames) == LIGHT_TICKS
    assert shown[19][0] == 3  # switched off by the client
    assert len({tuple(s) for s in shown}) >= 3  # and the lights went through their cycle
    for tick, states in enumerate(shown, start=1):
        lines = frames[tick]
        assert f" State traffic lights: {len(ids)}\n" in lines
        for light_id, state in zip(ids, states, strict=True):
            m = re.search(rf"  Id: {light_id} state: (\d) frozen: (\d) elapsedTime: ", lines)
            assert m and int(m.group(1)) == state, (tick, light_id, lines)
            if light_id == ids[0]:
                assert m.group(2) == ("1" if tick >= FREEZE_AT else "0")
    # Replay tick k shows the lights of recorded frame k + 1 (CARLA applies the states of the
    # frame it reads, while positions lag one frame); the light frozen at the end stays frozen.
    assert r["replayed"][: LIGHT_TICKS - 2] == shown[1 : LIGHT_TICKS - 1]
    assert r["frozen_after"]
