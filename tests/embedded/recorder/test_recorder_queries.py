"""The show_recorder_* texts on hand-made files, character for character (reference §3)."""

from __future__ import annotations

import time

from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder import queries
from rllib_integration.embedded.recorder.format import NOT_AN_ACTOR, PacketId, packet
from tests.embedded.recorder import builder as b

HEAD = "Version: 2\nMap: Town01\nDate: {}\n\n".format(
    time.strftime("%m/%d/%y %H:%M:%S", time.localtime(b.DATE))
)
CAR = (("role_name", "autopilot"), ("object_type", ""))


def two_cars() -> b.Recording:
    rec = b.Recording()
    rec.frame(
        0.0,
        b.adds(
            b.event_add(1, 0, "spectator", (-260.0, -200.0, 382.001)),
            b.event_add(7, 1, "vehicle.audi.a2", (4347.63, -8409.51, 120.0), CAR),
        ),
        b.positions((1, -260.0, -200.0, 382.001), (7, 4347.63, -8409.51, 120.0)),
    )
    rec.frame(0.0254253, b.positions((1, -260.0, -200.0, 382.001), (7, 4350.0, -8409.51, 120.0)))
    rec.frame(0.05, b.dels(7), b.positions((1, -260.0, -200.0, 382.001)))
    return rec


def test_file_info_short_prints_events_with_their_frame_and_a_blank_line_per_frame():
    text = queries.file_info(bytes(two_cars()), show_all=False)
    assert (
        text
        == (
            HEAD + "Frame 1 at 0 seconds\n"
            " Create 1: spectator (0) at (-260, -200, 382.001)\n"
            " Create 7: vehicle.audi.a2 (1) at (4347.63, -8409.51, 120)\n"
            "  role_name = autopilot\n"
            "  object_type = \n"  # an empty value keeps its trailing space
            "\n"  # frame 1's end
            "\n"  # frame 2 has no events: only its end
            "Frame 3 at 0.05 seconds\n Destroy 7\n"
            "\n"  # frame 3's end
            "\n"  # CARLA reads the last FrameEnd twice
            "\nFrames: 3\nDuration: 0.05 seconds\n"
        )
    )


def test_file_info_show_all_prints_every_section_even_when_empty():
    rec = b.Recording().frame(
        0.0,
        b.positions((3, 1.5, -0.0, 1e-7)),
        packet(PacketId.STATE, b.collection(fmt.STATE, [(5, 1, 0.149079, 2)])),
        packet(PacketId.ANIM_VEHICLE, b.collection(fmt.ANIM_VEHICLE, [(3, -0.5, 1.0, 0.0, 1, -1)])),
        packet(PacketId.ANIM_WALKER, b.collection(fmt.ANIM_WALKER, [])),
        packet(PacketId.VEHICLE_DOOR, b.collection(fmt.VEHICLE_DOOR, [(3, 5, 1), (3, 9, 1)])),
        packet(
            PacketId.VEHICLE_LIGHT, b.collection(fmt.VEHICLE_LIGHT, [(3, 0), (4, 1 | 128 | 256)])
        ),
        packet(PacketId.KINEMATICS, b.collection(fmt.KINEMATICS, [(3, 1, 2, 3, 4, 5, 6)])),
        packet(
            PacketId.BOUNDING_BOX, b.collection(fmt.BOX, [(3, 0, 0, 63.5678, 36.5, 37.5, 63.5)])
        ),
        packet(PacketId.PLATFORM_TIME, fmt.F64.pack(0.021598)),
        packet(PacketId.WALKER_BONES, b.collection(fmt.U32, [])),
        packet(PacketId.ANIM_BIKER, fmt.U16.pack(0)),  # no printer: skipped
        packet(99, b"future packet"),  # unknown: skipped by its size
    )
    text = queries.file_info(bytes(rec), show_all=True)
    assert (
        text
        == (
            HEAD + "Frame 1 at 0 seconds\n"
            " Positions: 1\n"
            "  Id: 3 Location: (1.5, -0, 1e-07) Rotation: (0, 0, 0)\n"
            " State traffic lights: 1\n"
            "  Id: 5 state: 2 frozen: 1 elapsedTime: 0.149079\n"
            " Vehicle animations: 1\n"
            "  Id: 3 Steering: -0.5 Throttle: 1 Brake: 0 Handbrake: 1 Gear: -1\n"
            " Walker animations: 0\n"
            " Vehicle door animations: 2\n"
            "  Id: 3\n  Doors opened:  Trunk \n"
            "  Id: 3\n  Doors opened: "  # an unknown door prints no name and no newline
            " Vehicle light animations: 2\n"
            "  Id: 3 None\n"
            "  Id: 4 Position Interior Fog\n"  # CARLA's order: Interior before Fog
            " Dynamic actors: 1\n"
            "  Id: 3 linear_velocity: (1, 2, 3) angular_velocity: (4, 5, 6)\n"
            " Actor bounding boxes: 1\n"
            "  Id: 3 origin: (0, 0, 63.5678) extension: (36.5, 37.5, 63.5)\n"
            " Current platform time: 0.021598\n"
            " Walkers Bones: 0\n"
            "\n\n\nFrames: 1\nDuration: 0 seconds\n"
        )
    )


def test_collisions_print_the_start_of_each_contact_and_a_fixed_point_duration():
    hit = (0, 2, 7, 1, 0)  # collision id, actor 1 (a hero), actor 2, hero flags
    rec = b.Recording()
    rec.frame(
        0.0,
        b.adds(
            b.event_add(2, 1, "vehicle.lincoln.mkz_2017", attributes=(("role_name", "hero"),)),
            b.event_add(7, 1, "vehicle.audi.a2", attributes=CAR),
            b.event_add(9, 2, "walker.pedestrian.0001"),
        ),
    )
    rec.frame(16.4, b.collisions(hit))
    rec.frame(16.45, b.collisions((1, 2, 7, 1, 0)))  # the same contact goes on: not printed
    rec.frame(27.2, b.collisions((2, 2, NOT_AN_ACTOR, 1, 0)))
    rec.frame(46.3, b.collisions((3, 9, 2, 0, 1)))
    data = bytes(rec)
    header = f"{'Time':>8} {'Types':>6} {'Id':>6} {'Actor 1':<35} {'Id':>6} {'Actor 2':<35}\n"
    lincoln, audi = "vehicle.lincoln.mkz_2017".ljust(35), "vehicle.audi.a2".ljust(35)
    assert queries.collisions(data, "v", "a") == (
        HEAD + header + f"      16   v v       2 {lincoln}      7 {audi}\n"
        f"      27   v o       2 {lincoln} 4294967295 {'':35}\n"
        "\nFrames: 5\nDuration: 46 seconds\n"
    )
    assert queries.collisions(data, "w", "h") == (
        HEAD + header + f"      46   w v       9 {'walker.pedestrian.0001':<35}      2 {lincoln}\n"
        "\nFrames: 5\nDuration: 46 seconds\n"
    )
    # No row: the tail keeps the default number format.
    assert (
        queries.collisions(data, "t", "a")
        == HEAD + header + "\nFrames: 5\nDuration: 46.3 seconds\n"
    )


def test_a_destruction_forgets_the_last_created_actor_as_carla_does():
    rec = b.Recording()
    rec.frame(0.0, b.adds(b.event_add(2, 1, "vehicle.audi.a2"), b.event_add(3, 1, "vehicle.mini")))
    rec.frame(1.0, b.dels(2))
    rec.frame(2.0, b.collisions((0, 2, 3, 0, 0)))
    row = queries.collisions(bytes(rec), "a", "a").splitlines()[-4]
    # Actor 3 (created last) was forgotten, actor 2 (destroyed) is still named.
    assert row.split() == ["2", "v", "o", "2", "vehicle.audi.a2", "3"]


def test_blocked_actors_sorted_by_time_stood_still_with_carla_arithmetic():
    rec = b.Recording()
    rec.frame(0.0, b.adds(b.event_add(1, 1, "vehicle.a"), b.event_add(2, 1, "vehicle.b")))
    for step in range(1, 41):
        t = step * 0.5
        x2 = 500.0 if step > 20 else 100.0  # vehicle.b moves once, at t = 10.5 s
        rec.frame(t, b.positions((1, 100.0, 0.0, 0.0), (2, x2, 0.0, 0.0)))
    text = queries.actors_blocked(bytes(rec), 5.0, 10.0)
    header = f"{'Time':>8} {'Id':>6} {'Actor':<35} {'Duration':>10}\n"
    assert text == (
        HEAD
        + header
        # vehicle.a: still from 1 s to the end, and the last frame adds CARLA's -1 s.
        + f"{1.0:8.0f} {1:6d} {'vehicle.a':<35} {19.0 - 1.0:10.0f}\n"
        + f"{1.0:8.0f} {2:6d} {'vehicle.b':<35} {10.0:10.0f}\n"  # until it moved
        + f"{11.0:8.0f} {2:6d} {'vehicle.b':<35} {9.0 - 1.0:10.0f}\n"
        + "\nFrames: 41\nDuration: 20 seconds\n"
    )


def test_files_that_are_not_recordings_get_carla_s_answer():
    assert queries.file_info(b"", True) == "File is not a CARLA recorder\n"
    assert (
        queries.collisions(b"\x02\x00\x05\x00HELLO", "a", "a") == "File is not a CARLA recorder\n"
    )
    assert queries.actors_blocked(b"x" * 100, 1.0, 1.0) == "File is not a CARLA recorder\n"
