"""The built-in towns: valid OpenDRIVE that libcarla loads, drivable forever, with markings."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from rllib_integration.embedded.maps import BUILTIN_TOWNS, builtin_xodr, ground_model, validate_xodr
from rllib_integration.embedded.maps.opendrive import Pose, path

carla = pytest.importorskip("carla")


@functools.cache
def town_map(name: str):
    return carla.Map(name, builtin_xodr(name))


@pytest.mark.parametrize("name", sorted(BUILTIN_TOWNS))
def test_validates_without_dead_ends(name):
    report = validate_xodr(name, builtin_xodr(name))
    assert report.dead_ends == 0 and report.waypoints > 500 and report.spawn_candidates >= 8


@pytest.mark.parametrize("name", sorted(BUILTIN_TOWNS))
def test_every_lane_can_be_followed_for_two_kilometres(name):
    """What the Traffic Manager does: keep taking a successor; it must never run out or jump."""
    carla_map = town_map(name)
    waypoints = carla_map.generate_waypoints(2.0)
    assert all(wp.next(2.0) for wp in waypoints)
    rng = np.random.default_rng(0)
    for start in rng.choice(len(waypoints), 6, replace=False):
        wp = waypoints[int(start)]
        for _ in range(1000):
            options = wp.next(2.0)
            nxt = options[int(rng.integers(len(options)))]
            assert wp.transform.location.distance(nxt.transform.location) < 2.6
            wp = nxt


def test_loop01_is_a_two_lane_loop_long_enough_for_a_minute_at_30_kmh():
    carla_map = town_map("Loop01")
    wp = carla_map.generate_waypoints(5.0)[0]
    assert wp.get_left_lane().lane_type == carla.LaneType.Driving  # oncoming lane
    assert wp.get_left_lane().lane_id == -wp.lane_id
    start, travelled = wp.transform.location, 0.0
    for _ in range(1000):
        wp = wp.next(1.0)[0]
        travelled += 1.0
        if travelled > 50 and wp.transform.location.distance(start) < 1.5:
            break
    assert 60 * 30 / 3.6 < travelled < 1500, f"lap of {travelled} m"
    assert not carla_map.get_topology()[0][0].is_junction
    locations = [w.transform.location for w in carla_map.generate_waypoints(5.0)]
    width = max(p.x for p in locations) - min(p.x for p in locations)
    height = max(p.y for p in locations) - min(p.y for p in locations)
    assert width > 250 and height > 150


def marking_kinds(name: str) -> set[tuple[str, str]]:
    kinds = set()
    for wp in town_map(name).generate_waypoints(3.0):
        for mark in (wp.left_lane_marking, wp.right_lane_marking):
            kinds.add((mark.type.name, mark.color.name))
    return kinds


def test_markings_as_the_lane_invasion_sensor_sees_them():
    loop = marking_kinds("Loop01")
    assert {("Broken", "Yellow"), ("Solid", "Yellow"), ("Solid", "White")} <= loop
    highway = marking_kinds("Highway01")
    assert {("Broken", "White"), ("SolidSolid", "Yellow"), ("Solid", "White")} <= highway
    assert ("Solid", "Yellow") in marking_kinds("Grid01")


def test_grid_has_four_way_junctions_and_roundabout_is_one_way():
    grid = town_map("Grid01")
    arms = {}
    for wp in grid.generate_waypoints(2.0):
        if wp.is_junction:
            arms.setdefault(wp.junction_id, set()).add(wp.road_id)
    assert len(arms) == 12
    assert sum(len(roads) == 12 for roads in arms.values()) == 4  # 4 arms -> 12 connections
    ring = [wp for wp in town_map("Roundabout01").generate_waypoints(2.0) if wp.road_id <= 4]
    assert ring and all(
        wp.get_left_lane() is None or wp.get_left_lane().lane_type != carla.LaneType.Driving
        for wp in ring
    )


@pytest.mark.parametrize("name", sorted(BUILTIN_TOWNS))
def test_sidewalks_speed_limit_and_geo_reference(name):
    carla_map = town_map(name)
    wp = next(w for w in carla_map.generate_waypoints(5.0) if not w.is_junction)
    lane = wp
    kinds = []
    while (lane := lane.get_right_lane()) is not None:
        kinds.append(lane.lane_type)
    assert carla.LaneType.Sidewalk in kinds
    geo = carla_map.transform_to_geolocation(carla.Location(0, 0, 0))
    assert (geo.latitude, geo.longitude) == pytest.approx((49.0, 8.0))
    ground = ground_model(name, builtin_xodr(name))
    limit = ground.speed_limit(wp.transform.location.x, wp.transform.location.y)
    assert float(limit) == (90.0 if name == "Highway01" else 30.0)


def test_highway_has_a_town04_like_hill():
    z = [wp.transform.location.z for wp in town_map("Highway01").generate_waypoints(2.0)]
    assert max(z) == pytest.approx(8.0, abs=0.05) and min(z) == pytest.approx(0.0, abs=1e-6)
    pitch = [
        abs(wp.transform.rotation.pitch) % 360
        for wp in town_map("Highway01").generate_waypoints(2.0)
    ]
    assert max(min(p, 360 - p) for p in pitch) > 2.0  # about 3.6 degrees at the steepest


def test_path_joins_poses_exactly():
    start, end = Pose(0, 0, 0), Pose(50, 30, math.pi / 2)
    pose = start
    for piece in path(start, end, radius=20):
        pose = pose.advanced(piece)
    assert (pose.x, pose.y) == pytest.approx((end.x, end.y), abs=1e-9)
    assert math.cos(pose.heading - end.heading) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        path(Pose(0, 0, 0), Pose(0, 10, math.pi))  # U-turn


@pytest.mark.parametrize("name", sorted(BUILTIN_TOWNS))
def test_spawn_points_sit_on_driving_lanes_outside_junctions(name):
    carla_map, ground = town_map(name), ground_model(name, builtin_xodr(name))
    points = ground.spawn_points()
    assert len(points) >= 60  # room for a few dozen NPCs
    xy = np.array([p.location[:2] for p in points])
    assert np.isin(ground.surface(xy[:, 0], xy[:, 1]), (1, 4, 5)).all()
    for point in points:
        location = carla.Location(*point.location)
        wp = carla_map.get_waypoint(location, project_to_road=False)
        assert wp is not None and not wp.is_junction and wp.lane_type == carla.LaneType.Driving
        assert location.z - wp.transform.location.z == pytest.approx(0.5, abs=0.05)
        assert math.cos(math.radians(point.rotation[1] - wp.transform.rotation.yaw)) > 0.98
