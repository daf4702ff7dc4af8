"""Frame-matched collection: exactly the requested frame, stale data dropped, clear timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from rllib_integration.sensors.base import BaseSensor
from rllib_integration.sensors.collector import SensorCollector, SensorTimeoutError


class Regular(BaseSensor):
    pass


class Event(BaseSensor):
    is_event = True


class ClientSideEvent(Event):
    client_side = True  # like CARLA's lane-invasion sensor


def make_interface(*sensors):
    interface = SensorCollector()
    for sensor in sensors:
        interface.register(sensor)
    return interface


def test_returns_exactly_the_requested_frame_and_drops_older_readings():
    interface = make_interface(Regular("cam"))
    for frame in (8, 9, 10, 11):
        interface.put("cam", frame, f"image-{frame}")
    assert interface.get_data(10, timeout=1) == {"cam": (10, "image-10")}
    # 8 and 9 were dropped; 11 is kept for the next step.
    assert interface.get_data(11, timeout=1) == {"cam": (11, "image-11")}
    with pytest.raises(SensorTimeoutError):
        interface.get_data(9, timeout=0.05)


def test_waits_for_a_reading_that_arrives_late_from_another_thread():
    interface = make_interface(Regular("cam"), Regular("lidar"))
    interface.put("cam", 5, "old")  # an earlier frame must not satisfy the wait

    def deliver():
        time.sleep(0.1)
        interface.put("lidar", 6, "points")
        interface.put("cam", 6, "new")

    threading.Thread(target=deliver).start()
    assert interface.get_data(6, timeout=2) == {"cam": (6, "new"), "lidar": (6, "points")}


def test_timeout_names_the_sensor_frame_and_latest_frame():
    interface = make_interface(Regular("cam"))
    interface.put("cam", 41, "x")
    started = time.monotonic()
    with pytest.raises(
        SensorTimeoutError,
        match=r"sensor 'cam' sent no data for frame 42 .*latest frame it sent: 41",
    ):
        interface.get_data(42, timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2


def test_event_sensor_gives_all_of_this_frames_events_and_never_blocks():
    interface = make_interface(Event("collision"), Regular("cam"))
    interface.put("collision", 3, "hit-a")
    interface.put("collision", 3, "hit-b")
    interface.put("collision", 4, "hit-next-frame")
    interface.put("cam", 3, "img")
    assert interface.get_data(3, timeout=1) == {
        "collision": (3, ["hit-a", "hit-b"]),
        "cam": (3, "img"),
    }
    interface.put("cam", 4, "img4")
    interface.put("cam", 5, "img5")
    assert interface.get_data(4, timeout=1)["collision"] == (4, ["hit-next-frame"])
    assert interface.get_data(5, timeout=1)["collision"] == (5, [])


def test_client_side_sensor_waits_until_the_sensors_have_run_for_its_frame():
    interface = make_interface(ClientSideEvent("lane"), Event("collision"))
    assert interface.has_client_side_sensors()
    assert not make_interface(Event("collision")).has_client_side_sensors()
    interface.confirm(6)

    def detect():  # CARLA's thread: the event of frame 7, then the confirmation of frame 7
        time.sleep(0.1)
        interface.put("lane", 7, "crossed")
        interface.confirm(7)

    threading.Thread(target=detect).start()
    assert interface.get_data(7, timeout=2) == {"lane": (7, ["crossed"]), "collision": (7, [])}
    interface.confirm(9)  # a later confirmation covers the frames before it
    assert interface.get_data(8, timeout=0.01)["lane"] == (8, [])
    with pytest.raises(
        SensorTimeoutError,
        match=r"client-side sensor 'lane' has not run for frame 10 .*latest frame it ran for: 9",
    ):
        interface.get_data(10, timeout=0.1)


def test_sensor_with_long_sensor_tick_returns_latest_reading_without_waiting():
    slow = Regular("gnss")
    slow.every_frame = False
    interface = make_interface(slow)
    assert interface.get_data(1, timeout=0.01) == {"gnss": (-1, None)}
    interface.put("gnss", 2, "fix")
    assert interface.get_data(4, timeout=0.01) == {"gnss": (2, "fix")}


def test_destroy_destroys_sensors_and_ignores_late_readings():
    destroyed = []

    class Tracked(Regular):
        def destroy(self):
            destroyed.append(self.name)

    interface = make_interface(Tracked("a"), Tracked("b"))
    interface.destroy()
    assert sorted(destroyed) == ["a", "b"]
    interface.put("a", 1, "late")  # from CARLA's thread after destroy: ignored
    assert interface.get_data(1, timeout=0.01) == {}
    interface.register(Tracked("a"))  # names are free again for the next episode


def test_duplicate_names_are_rejected():
    interface = make_interface(Regular("cam"))
    with pytest.raises(ValueError, match="'cam' is already registered"):
        interface.register(Regular("cam"))


def test_all_delivered_tracks_first_readings_of_every_frame_sensors():
    slow = Regular("gnss")
    slow.every_frame = False
    interface = make_interface(Regular("cam"), Event("collision"), slow)
    assert not interface.all_delivered()
    interface.put("cam", 7, "img")  # event and long-tick sensors are not waited for
    assert interface.all_delivered()
    interface.destroy()
    interface.register(Regular("cam"))
    assert not interface.all_delivered()
