"""Ray casting against the ground and oriented boxes, and CARLA's rotation convention."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_integration.embedded.sensors.geometry import rotation_matrix, world_to_local
from rllib_integration.embedded.sensors.raycast import (
    HIT_GROUND,
    HIT_NOTHING,
    Boxes,
    cast_rays,
)

CAR = 14


def test_rotation_matrix_matches_carla_transform_matrix():
    carla = pytest.importorskip("carla")
    rng = np.random.default_rng(3)
    for pitch, yaw, roll in rng.uniform(-180, 180, (20, 3)):
        t = carla.Transform(carla.Location(), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll))
        expected = np.array(t.get_matrix())[:3, :3]
        np.testing.assert_allclose(rotation_matrix((pitch, yaw, roll)), expected, atol=1e-5)


def test_world_to_local_inverts_carla_transform():
    carla = pytest.importorskip("carla")
    t = carla.Transform(carla.Location(3, -2, 1), carla.Rotation(pitch=10, yaw=75, roll=-5))
    world = t.transform(carla.Location(1.5, 0.25, -0.5))
    local = world_to_local(np.array([[world.x, world.y, world.z]]), (3, -2, 1), (10, 75, -5))
    np.testing.assert_allclose(local[0], (1.5, 0.25, -0.5), atol=1e-4)


def _car_boxes(centers, yaws=None, ids=None):
    n = len(centers)
    return Boxes.from_arrays(
        centers=np.array(centers, float),
        extents=np.tile([2.0, 1.0, 0.75], (n, 1)),
        rotations=np.array([(0, y, 0) for y in (yaws or [0.0] * n)], float),
        ids=np.arange(1, n + 1) if ids is None else ids,
        tags=np.full(n, CAR),
    )


def test_ray_hits_nearest_box_face_with_outward_normal(flat_ground):
    boxes = _car_boxes([(20.0, 0.0, 0.75), (10.0, 0.0, 0.75)])
    hits = cast_rays(np.array([0.0, 0.0, 0.75]), np.array([[1.0, 0, 0]]), boxes, flat_ground, 100)
    assert hits.box[0] == 1  # the nearer car
    assert hits.t[0] == pytest.approx(8.0, abs=1e-4)  # front face at 10 - 2
    np.testing.assert_allclose(hits.normal[0], (-1, 0, 0), atol=1e-6)
    assert hits.labels(boxes)[0] == CAR
    assert hits.actor_ids(boxes)[0] == 2


def test_rotated_box_is_hit_on_its_side(flat_ground):
    boxes = _car_boxes([(10.0, 0.0, 0.75)], yaws=[90.0])  # long axis along world y
    hits = cast_rays(np.array([0.0, 0.0, 0.75]), np.array([[1.0, 0, 0]]), boxes, flat_ground, 100)
    assert hits.t[0] == pytest.approx(9.0, abs=1e-4)  # half width 1 m


def test_ground_hit_distance_and_surface(flat_ground):
    # 45 degrees down from 2 m: ground at 2 m ahead, inside the road strip
    d = np.array([[1.0, 0.0, -1.0]]) / np.sqrt(2)
    hits = cast_rays(np.array([0.0, 0.0, 2.0]), d, _car_boxes([]), flat_ground, 100)
    assert hits.box[0] == HIT_GROUND
    assert hits.t[0] == pytest.approx(2.0 * np.sqrt(2), rel=1e-5)
    assert hits.labels(_car_boxes([]))[0] == 1  # Roads


def test_rays_up_or_beyond_range_hit_nothing(flat_ground):
    dirs = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, -0.01]])
    hits = cast_rays(np.array([0.0, 0.0, 2.0]), dirs, _car_boxes([]), flat_ground, 50.0)
    assert (hits.box == HIT_NOTHING).all()
    assert np.isinf(hits.t).all()


def test_box_containing_the_origin_is_ignored(flat_ground):
    boxes = _car_boxes([(0.0, 0.0, 0.75), (10.0, 0.0, 0.75)])
    hits = cast_rays(np.array([0.5, 0.0, 1.0]), np.array([[1.0, 0, 0]]), boxes, flat_ground, 100)
    assert hits.box[0] == 1 and hits.t[0] == pytest.approx(7.5, abs=1e-4)


def test_many_rays_match_a_per_ray_reference(flat_ground):
    rng = np.random.default_rng(0)
    centers = np.c_[rng.uniform(-30, 30, (15, 2)), np.full(15, 0.75)]
    boxes = _car_boxes(centers.tolist(), yaws=rng.uniform(0, 360, 15).tolist())
    origin = np.array([0.0, 0.0, 1.5])
    dirs = rng.normal(size=(3000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    hits = cast_rays(origin, dirs, boxes, flat_ground, 80.0)
    # brute force: every ray against every box, no culling
    best = np.full(len(dirs), np.inf)
    for b in range(len(boxes)):
        o = (origin - boxes.centers[b]) @ boxes.axes[b]
        d = dirs @ boxes.axes[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-boxes.extents[b] - o) / d
            t2 = (boxes.extents[b] - o) / d
        near = np.minimum(t1, t2).max(1)
        far = np.maximum(t1, t2).min(1)
        ok = (near <= far) & (near > 0)
        best = np.where(ok & (near < best), near, best)
    ground = np.where(dirs[:, 2] < 0, -1.5 / dirs[:, 2], np.inf)
    ground[ground > 80.0] = np.inf
    expected = np.minimum(best, ground)
    expected[expected > 80.0] = np.inf
    np.testing.assert_allclose(hits.t, expected, rtol=1e-4)


def test_box_beyond_range_is_not_hit(flat_ground):
    boxes = _car_boxes([(82.5, 0.0, 0.75)])  # front face at 80.5 m
    hits = cast_rays(np.array([0.0, 0.0, 0.75]), np.array([[1.0, 0, 0]]), boxes, flat_ground, 80)
    assert hits.box[0] == HIT_NOTHING and np.isinf(hits.t[0])


def test_ground_intersection_follows_a_slope():
    from tests.embedded.sensors.conftest import SlopedGround

    ground = SlopedGround(slope=0.05)
    angles = np.radians([-5.0, -10.0, -20.0, -45.0, -80.0])
    dirs = np.c_[np.cos(angles), np.zeros(5), np.sin(angles)]
    hits = cast_rays(np.array([10.0, 0.0, 2.5]), dirs, _car_boxes([]), ground, 500.0, 4)
    # z(t) = 2.5 + t dz meets 0.05 (10 + t dx)
    expected = (2.5 - 0.5) / (0.05 * dirs[:, 0] - dirs[:, 2])
    np.testing.assert_allclose(hits.t, expected, rtol=2e-3)


def test_height_grid_interpolates_and_detects_flat_maps(flat_ground):
    from rllib_integration.embedded.sensors.height_grid import HeightGrid
    from tests.embedded.sensors.conftest import SlopedGround

    ramp = HeightGrid.sample(SlopedGround(0.1), (-20.0, -20.0, 20.0, 20.0))
    assert ramp.flat_height is None
    x = np.array([-3.3, 0.0, 7.77, 19.9])
    np.testing.assert_allclose(ramp.height(x, np.zeros(4)), 0.1 * x, atol=1e-4)
    flat = HeightGrid.sample(flat_ground, flat_ground.bounds)
    assert flat.flat_height == 0.0


def test_a_ray_under_an_overpass_sees_the_road_it_is_on():
    from tests.embedded.sensors.conftest import BridgeGround

    ground = BridgeGround()
    down = np.array([[1.0, 0.0, -1.0]]) / np.sqrt(2)
    under = cast_rays(np.array([0.0, 0.0, 2.0]), down, _car_boxes([]), ground, 100.0)
    above = cast_rays(np.array([0.0, 0.0, 8.0]), down, _car_boxes([]), ground, 100.0)
    assert under.t[0] == pytest.approx(2.0 * np.sqrt(2), rel=1e-3)  # the lower road
    assert above.t[0] == pytest.approx(2.0 * np.sqrt(2), rel=1e-3)  # the deck, 6 m up


def test_large_maps_build_their_height_grid_in_the_background():
    from rllib_integration.embedded.sensors.height_grid import height_grid
    from tests.embedded.sensors.conftest import BridgeGround

    ground = BridgeGround()
    ground.bounds = (-600.0, -600.0, 600.0, 600.0)  # ~6M cells: too slow to build inline
    first = height_grid(ground)  # None while building: callers use exact queries
    grid = height_grid(ground, wait=True)
    assert grid is not None and grid.lower is not None and height_grid(ground) is grid
    assert first is None or first is grid
    x = np.array([0.0, 0.0, 50.0])
    np.testing.assert_allclose(grid.height(x, np.zeros(3), z=np.float32(1.5)), [0, 0, 0])
    np.testing.assert_allclose(grid.height(x, np.zeros(3), z=np.float32(7.0)), [6, 6, 0])


def test_rays_climbing_a_hill_meet_it():
    from tests.embedded.sensors.conftest import SlopedGround

    ground = SlopedGround(slope=0.08)  # an 8 % climb along +x
    angles = np.radians([3.0, 1.0, 0.0, -1.0, 10.0])  # the last one is steeper than the hill
    dirs = np.c_[np.cos(angles), np.zeros(5), np.sin(angles)]
    hits = cast_rays(np.array([0.0, 0.0, 1.5]), dirs, _car_boxes([]), ground, 500.0)
    # 1.5 + t dz = 0.08 t dx
    expected = 1.5 / (0.08 * dirs[:, 0] - dirs[:, 2])
    np.testing.assert_allclose(hits.t[:4], expected[:4], rtol=1e-3)
    assert hits.box[4] == HIT_NOTHING
