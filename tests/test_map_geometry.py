"""MapGeometry built from real CARLA town OpenDRIVE files with libcarla's offline carla.Map."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

carla = pytest.importorskip("carla")

from rllib_integration.map_geometry import LANE_KINDS, MapGeometry, xodr_sha1  # noqa: E402
from tests.conftest import CARLA_TOWNS  # noqa: E402

TOWNS = CARLA_TOWNS
MARKING_TYPES = {"Solid", "Broken", "SolidSolid", "SolidBroken", "BrokenSolid", "BrokenBroken"}
MARKING_TYPES |= {"Curb", "Grass", "BottsDots", "Other"}
COLORS = {"White", "Yellow", "Blue", "Green", "Red", "Other"}


def town_xodr(name: str) -> str:
    path = TOWNS / f"{name}.xodr"
    if not path.is_file():
        pytest.skip(f"CARLA town files not available ({path})")
    return path.read_text()


@functools.cache
def town(name: str) -> tuple[object, MapGeometry]:
    xodr = town_xodr(name)
    carla_map = carla.Map(name, xodr)
    return carla_map, MapGeometry.from_carla_map(carla_map)


def inside_any(point_xy: np.ndarray, polygons: list[np.ndarray], tolerance: float = 0.05) -> bool:
    """Whether the point is inside (or within ``tolerance`` metres of) one of the polygons."""
    pt = (float(point_xy[0]), float(point_xy[1]))
    return any(cv2.pointPolygonTest(p.astype(np.float32), pt, True) >= -tolerance for p in polygons)


@pytest.mark.parametrize("name", ["Town01", "Town03"])
def test_driving_lanes_cover_every_waypoint(name):
    carla_map, geom = town(name)
    driving = [lane.polygon for lane in geom.lanes if lane.kind == "driving"]
    waypoints = carla_map.generate_waypoints(7.0)[::3]
    assert len(waypoints) > 50
    misses = [
        wp
        for wp in waypoints
        if not inside_any(np.array([wp.transform.location.x, wp.transform.location.y]), driving)
    ]
    assert len(misses) <= 0.01 * len(waypoints), f"{len(misses)} waypoints off the driving surface"


def test_lane_strips_are_well_formed_and_inside_bounds():
    _, geom = town("Town03")
    xmin, ymin, xmax, ymax = geom.bounds
    assert {lane.kind for lane in geom.lanes} >= {"driving", "sidewalk", "shoulder", "parking"}
    for lane in geom.lanes:
        assert lane.kind in LANE_KINDS
        assert lane.polygon.shape == (len(lane.z), 2) and len(lane.z) >= 4
        assert np.isfinite(lane.polygon).all() and np.isfinite(lane.z).all()
        assert (lane.polygon[:, 0] >= xmin).all() and (lane.polygon[:, 0] <= xmax).all()
        assert (lane.polygon[:, 1] >= ymin).all() and (lane.polygon[:, 1] <= ymax).all()
        assert lane.center.shape == (len(lane.s), 3) and (np.diff(lane.s) > 0).all()
    assert any(lane.junction for lane in geom.lanes) and not all(
        lane.junction for lane in geom.lanes
    )
    assert geom.xodr_sha1 == xodr_sha1(town_xodr("Town03"))


def test_markings_lie_on_lane_borders_with_carla_types():
    carla_map, geom = town("Town03")
    assert len(geom.markings) > 100
    kinds = {(m.type, m.color) for m in geom.markings}
    assert ("Broken", "White") in kinds and ("Solid", "White") in kinds
    assert any(color == "Yellow" for _, color in kinds), "no yellow centre line"
    for mark in geom.markings:
        assert mark.type in MARKING_TYPES and mark.color in COLORS
        assert mark.points.shape[1] == 3 and len(mark.points) >= 2
    # A broken white marking is half a lane width from the centre of the lane it borders.
    mark = next(m for m in geom.markings if m.type == "Broken" and m.color == "White")
    point = mark.points[len(mark.points) // 2]
    wp = carla_map.get_waypoint(carla.Location(*map(float, point)), project_to_road=True)
    centre = np.array([wp.transform.location.x, wp.transform.location.y])
    assert np.linalg.norm(centre - point[:2]) == pytest.approx(wp.lane_width / 2, abs=0.3)


def test_elevation_follows_carla_waypoints_on_town04():
    carla_map, geom = town("Town04")
    z = np.concatenate([lane.center[:, 2] for lane in geom.lanes])
    assert z.max() - z.min() > 5.0, "Town04 has slopes"
    lane = max(geom.lanes, key=lambda strip: np.ptp(strip.center[:, 2]))
    for k in range(0, len(lane.s), max(1, len(lane.s) // 10)):
        wp = carla_map.get_waypoint_xodr(lane.road_id, lane.lane_id, float(lane.s[k]))
        assert lane.center[k, 2] == pytest.approx(wp.transform.location.z, abs=1e-6)


def test_geo_reference_matches_libcarla():
    carla_map, geom = town("Town01")
    geo = carla_map.transform_to_geolocation(carla.Location(0, 0, 0))
    assert geom.geo_reference == pytest.approx((geo.latitude, geo.longitude, geo.altitude))


def test_step_must_be_positive():
    carla_map, _ = town("Town01")
    with pytest.raises(ValueError, match="step"):
        MapGeometry.from_carla_map(carla_map, step=0)


def polygon_area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def test_builtin_loop_surfaces_and_markings():
    from rllib_integration.embedded.maps import builtin_xodr

    geom = MapGeometry.from_xodr("Loop01", builtin_xodr("Loop01"))
    assert geom.name == "Loop01"
    driving = [lane for lane in geom.lanes if lane.kind == "driving"]
    assert {lane.lane_id for lane in driving} == {-1, 1}
    assert {lane.kind for lane in geom.lanes} == {"driving", "shoulder", "sidewalk"}
    for lane in driving:  # a strip's area is its length times its width
        length = np.linalg.norm(np.diff(lane.center[:, :2], axis=0), axis=1).sum()
        assert polygon_area(lane.polygon) == pytest.approx(3.5 * length, rel=0.02)
    centre = [m for m in geom.markings if m.lane_id == 0]
    assert {(m.type, m.color) for m in centre} == {("Broken", "Yellow"), ("Solid", "Yellow")}
    edges = {(m.type, m.color) for m in geom.markings if m.lane_id != 0}
    assert ("Solid", "White") in edges and ("Curb", "White") in edges
    xmin, ymin, xmax, ymax = geom.bounds
    assert xmax - xmin == pytest.approx(300 + 2 * 7.5, abs=0.5)  # loop plus lanes each side
    assert ymax - ymin == pytest.approx(200 + 2 * 7.5, abs=0.5)
