"""Red-light and stop-sign infractions, from the world's traffic lights and stop signs.

Red light: each light's stop waypoints (``TrafficLight.get_stop_waypoints()``: one per lane its
trigger volume covers) are carried forward along their lane to where it enters the junction; that
is the stop line. The hero runs the light when its centre crosses a stop line, moving forward,
while the light is red.

Stop sign: the hero must come to a stop (below ``STOPPED_SPEED``) while inside the sign's trigger
volume when driving through it in the lane's direction; leaving the volume without having stopped
is an infraction.

Both read only CARLA's API (actors ``traffic.traffic_light*`` and ``traffic.stop``, their trigger
volumes, light states), so they work on CarlaUE4 and on any server that has signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import carla
import numpy as np

STOP_LINE_SEARCH = 20.0  # metres a stop waypoint is carried forward to reach the junction
STOP_LINE_STEP = 0.5
STOPPED_SPEED = 0.1  # m/s, the leaderboard's
ALONG_LANE = 0.5  # cosine: the hero's heading within 60 degrees of the lane's


def _xy(location: carla.Location) -> np.ndarray:
    return np.array([location.x, location.y])


def _heading(transform: carla.Transform) -> np.ndarray:
    yaw = np.radians(transform.rotation.yaw)
    return np.array([np.cos(yaw), np.sin(yaw)])


@dataclass(frozen=True)
class StopLine:
    light_id: int
    centre: np.ndarray  # (2,)
    along: np.ndarray  # (2,) unit heading of the lane that stops here
    half_width: float

    def crossed(self, before: np.ndarray, after: np.ndarray) -> bool:
        """Whether moving from ``before`` to ``after`` (x, y) crosses this line going forward."""
        d0 = float(np.dot(before - self.centre, self.along))
        d1 = float(np.dot(after - self.centre, self.along))
        if not d0 < 0.0 <= d1:
            return False
        point = before + (after - before) * (d0 / (d0 - d1))
        across = np.array([-self.along[1], self.along[0]])
        return abs(float(np.dot(point - self.centre, across))) <= self.half_width


def stop_line(light_id: int, waypoint: carla.Waypoint) -> StopLine:
    """The stop line of one lane: its stop waypoint carried forward to the junction's edge."""
    for _ in range(int(STOP_LINE_SEARCH / STOP_LINE_STEP)):
        if waypoint.is_junction:
            break
        ahead = [w for w in waypoint.next(STOP_LINE_STEP) if not w.is_junction]
        if not ahead:
            break
        waypoint = ahead[0]
    return StopLine(
        light_id,
        _xy(waypoint.transform.location),
        _heading(waypoint.transform),
        waypoint.lane_width / 2.0,
    )


class RedLightMonitor:
    def __init__(self, world: carla.World) -> None:
        self.lights = {
            light.id: light for light in world.get_actors().filter("traffic.traffic_light*")
        }
        self.lines = [
            stop_line(light.id, waypoint)
            for light in self.lights.values()
            for waypoint in light.get_stop_waypoints()
        ]

    def run(self, before: np.ndarray, after: np.ndarray) -> list[carla.TrafficLight]:
        """The red lights whose stop line the hero crossed moving from ``before`` to ``after``."""
        ran = []
        for line in self.lines:
            light = self.lights[line.light_id]
            if line.crossed(before, after) and light.state == carla.TrafficLightState.Red:
                if light not in ran:
                    ran.append(light)
        return ran


@dataclass
class _StopZone:
    sign: carla.Actor
    centre: np.ndarray  # (2,)
    axes: np.ndarray  # (2, 2) unit axes of the trigger box
    extent: np.ndarray  # (2,) half sizes along the axes
    along: np.ndarray  # (2,) heading of the lane the sign controls
    inside: bool = False
    stopped: bool = False

    def contains(self, point: np.ndarray) -> bool:
        local = self.axes @ (point - self.centre)
        return bool(np.all(np.abs(local) <= self.extent))


class StopSignMonitor:
    def __init__(self, world: carla.World, carla_map: carla.Map) -> None:
        self.zones = [
            self._zone(sign, carla_map) for sign in world.get_actors().filter("traffic.stop")
        ]

    @staticmethod
    def _zone(sign: carla.Actor, carla_map: carla.Map) -> _StopZone:
        transform = sign.get_transform()
        volume = sign.trigger_volume
        centre = transform.transform(volume.location)
        yaw = np.radians(transform.rotation.yaw + volume.rotation.yaw)
        axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
        lane = carla_map.get_waypoint(centre)
        return _StopZone(
            sign,
            _xy(centre),
            axes,
            np.array([volume.extent.x, volume.extent.y]),
            _heading(lane.transform),
        )

    def update(self, point: np.ndarray, heading: np.ndarray, speed: float) -> list[carla.Actor]:
        """The stop signs the hero at ``point`` just drove past without stopping."""
        ran = []
        for zone in self.zones:
            inside = zone.contains(point) and float(np.dot(heading, zone.along)) > ALONG_LANE
            if inside:
                zone.stopped = zone.stopped or speed < STOPPED_SPEED
            elif zone.inside:
                if not zone.stopped:
                    ran.append(zone.sign)
                zone.stopped = False
            zone.inside = inside
        return ran
