"""GroundModel: heights, surface classes, speed limits and spawn points against libcarla."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest

from rllib_integration.embedded.maps import (
    SURFACE_NONE,
    SURFACE_ROAD,
    SURFACE_SHOULDER,
    SURFACE_SIDEWALK,
    SURFACE_WHITE_MARKING,
    SURFACE_YELLOW_MARKING,
    GroundModel,
    builtin_xodr,
    ground_model,
    load_map,
)
from rllib_integration.map_geometry import MapGeometry
from tests.conftest import CARLA_TOWNS

carla = pytest.importorskip("carla")

TOWNS = CARLA_TOWNS
ROAD_OR_PAINT = (SURFACE_ROAD, SURFACE_WHITE_MARKING, SURFACE_YELLOW_MARKING)


def need_towns() -> None:
    if not TOWNS.is_dir():
        pytest.skip(f"CARLA town files not available ({TOWNS})")


@functools.cache
def carla_town(name: str):
    loaded = load_map(name, [TOWNS])
    return carla.Map(name, loaded.xodr), ground_model(name, loaded.xodr)


def xy(waypoints) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([wp.transform.location.x for wp in waypoints]),
        np.array([wp.transform.location.y for wp in waypoints]),
    )


@pytest.mark.parametrize("name", [f"Town0{k}" for k in range(1, 8)])
def test_carla_towns_load_validate_and_give_spawn_points(name):
    need_towns()
    start = time.perf_counter()
    carla_map, ground = carla_town(name)
    spawns = ground.spawn_points()
    assert len(spawns) > 100
    xmin, ymin, xmax, ymax = ground.bounds
    locations = np.array([p.location for p in spawns])
    assert (locations[:, 0] >= xmin).all() and (locations[:, 0] <= xmax).all()
    assert (locations[:, 1] >= ymin).all() and (locations[:, 1] <= ymax).all()
    on_road = ground.surface(locations[:, 0], locations[:, 1])
    assert np.isin(on_road, ROAD_OR_PAINT).mean() > 0.99
    geo = carla_map.transform_to_geolocation(carla.Location(0, 0, 0))
    assert ground.geo_reference == pytest.approx((geo.latitude, geo.longitude, geo.altitude))
    print(f"{name}: validated + geometry + ground in {time.perf_counter() - start:.2f} s")


def test_spawn_points_face_the_lane_direction_outside_junctions():
    need_towns()
    carla_map, ground = carla_town("Town03")
    spawns = ground.spawn_points()
    for point in spawns[:: max(1, len(spawns) // 80)]:
        location = carla.Location(*point.location)
        wp = carla_map.get_waypoint(location)
        assert not wp.is_junction
        assert location.distance(wp.transform.location) < 0.6  # 0.5 m above the lane centre
        yaw_error = (point.rotation[1] - wp.transform.rotation.yaw + 180) % 360 - 180
        assert abs(yaw_error) < 10
    xy_all = np.array([p.location[:2] for p in spawns])
    gaps = np.linalg.norm(xy_all[:, None] - xy_all[None], axis=-1) + np.eye(len(xy_all)) * 1e9
    assert gaps.min() > 2.0


def test_height_follows_the_slopes_of_town04():
    need_towns()
    carla_map, ground = carla_town("Town04")
    waypoints = carla_map.generate_waypoints(4.0)
    x, y = xy(waypoints)
    z = np.array([wp.transform.location.z for wp in waypoints])
    assert np.ptp(z) > 8.0  # Town04 climbs
    h = ground.height(x, y, z)
    assert np.quantile(np.abs(h - z), 0.98) < 0.1
    sloped = np.array(
        [abs(np.sin(np.radians(wp.transform.rotation.pitch))) > 0.03 for wp in waypoints]
    )
    assert sloped.sum() > 100 and np.median(np.abs(h - z)[sloped]) < 0.05
    # Moving 1 m along a sloped lane changes the height continuously, not in raster steps.
    wp = waypoints[int(np.argmax(sloped))]
    ahead = [wp.next(0.25 * k)[0] if k else wp for k in range(8)]
    ax, ay = xy(ahead)
    steps = np.diff(ground.height(ax, ay, np.full(8, wp.transform.location.z)))
    assert np.all(np.abs(steps) < 0.05)


def test_surface_classes_at_known_points_on_town03():
    need_towns()
    carla_map, ground = carla_town("Town03")
    driving = [wp for wp in carla_map.generate_waypoints(5.0) if not wp.is_junction]
    assert np.isin(ground.surface(*xy(driving)), ROAD_OR_PAINT).mean() > 0.97
    for lane_type, expected in (
        (carla.LaneType.Sidewalk, SURFACE_SIDEWALK),
        (carla.LaneType.Shoulder, SURFACE_SHOULDER),
    ):
        found = []
        for wp in driving[::5]:
            lane = wp
            while (lane := lane.get_right_lane()) is not None:
                if lane.lane_type == lane_type and lane.lane_width > 1.0:
                    found.append(lane)
                    break
        assert len(found) > 10
        assert (ground.surface(*xy(found)) == expected).mean() > 0.9
    xmin, ymin, xmax, ymax = ground.bounds
    outside = ground.surface(np.array([xmin - 15, xmax + 1000]), np.array([ymin - 15, 0.0]))
    assert (outside == SURFACE_NONE).all()


def test_markings_are_painted_dashed_where_broken():
    geometry = MapGeometry.from_xodr("Loop01", builtin_xodr("Loop01"))
    ground = GroundModel(geometry)
    centre = next(m for m in geometry.markings if m.type == "Broken" and m.color == "Yellow")
    along = np.linspace(0, 1, 400)
    pts = np.column_stack(
        [
            np.interp(
                along * (len(centre.points) - 1), np.arange(len(centre.points)), centre.points[:, i]
            )
            for i in range(2)
        ]
    )
    classes = ground.surface(pts[:, 0], pts[:, 1])
    assert 0.2 < (classes == SURFACE_YELLOW_MARKING).mean() < 0.5  # 3 m dashes every 9 m
    edge = next(m for m in geometry.markings if m.type == "Solid" and m.color == "White")
    assert (
        ground.surface(edge.points[:, 0], edge.points[:, 1]) == SURFACE_WHITE_MARKING
    ).mean() > 0.9


def test_queries_are_vectorised_and_accept_any_shape():
    ground = ground_model("Loop01", builtin_xodr("Loop01"))
    x = np.linspace(-200, 200, 12).reshape(3, 4)
    assert ground.height(x, 0.0).shape == (3, 4)
    assert ground.surface(x, np.zeros((3, 4))).dtype == np.uint8
    assert ground.speed_limit(x, x).shape == (3, 4)
    assert ground.height(np.array([np.nan]), np.array([0.0])).shape == (1,)
    assert ground_model("Loop01", builtin_xodr("Loop01")) is ground  # cached by content


def test_flat_height_only_for_flat_maps():
    assert ground_model("Loop01", builtin_xodr("Loop01")).flat_height == 0.0
    hilly = ground_model("Highway01", builtin_xodr("Highway01"))
    assert hilly.flat_height is None
    # The hill: the first 380 m of the south straight (CARLA y = +250) rise 8 m and fall again.
    h = hilly.height(np.array([-50.0, 0.0, 190.0, 380.0]), np.full(4, 250.0 + 1.75))
    assert h == pytest.approx([0.0, 0.0, 8.0, 0.0], abs=0.02)


def test_raster_memory_is_capped_for_huge_maps(monkeypatch):
    from rllib_integration.embedded.maps import ground as ground_module

    monkeypatch.setattr(ground_module, "MAX_SURFACE_PIXELS", 100_000)
    monkeypatch.setattr(ground_module, "MAX_INDEX_PIXELS", 50_000)
    geometry = MapGeometry.from_xodr("Highway01", builtin_xodr("Highway01"))
    coarse = GroundModel(geometry)
    assert coarse.resolution > 2.0 and coarse._surface.size <= 110_000
    assert coarse.height(np.array([190.0]), np.array([251.75])).item() == pytest.approx(
        8.0, abs=0.1
    )


def test_sidewalk_points_for_walkers():
    need_towns()
    _, ground = carla_town("Town03")
    points = ground.sidewalk_points()
    assert len(points) > 200
    xy = np.array([p.location[:2] for p in points])
    assert (ground.surface(xy[:, 0], xy[:, 1]) == SURFACE_SIDEWALK).mean() > 0.95
    loop = ground_model("Loop01", builtin_xodr("Loop01"))
    xy = np.array([p.location[:2] for p in loop.sidewalk_points(spacing=5.0)])
    assert len(xy) > 300 and (loop.surface(xy[:, 0], xy[:, 1]) == SURFACE_SIDEWALK).all()
