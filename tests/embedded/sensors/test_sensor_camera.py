"""Cameras: pinhole geometry, CARLA's depth encoding, semantic/instance labels, wire payload."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rllib_integration.embedded.sensors import make_sensor
from rllib_integration.embedded.sensors.attributes import SensorAttributeError
from rllib_integration.embedded.sensors.camera import (
    CameraSensor,
    camera_rays,
    decode_depth,
    encode_depth,
    focal_length,
)

CAR = 14


def test_rays_follow_carla_pinhole_convention():
    rays = camera_rays(4, 2, 90.0).reshape(2, 4, 3)
    f = focal_length(4, 90.0)
    assert f == pytest.approx(2.0)
    assert (rays[..., 0] == 1).all()
    np.testing.assert_allclose(rays[0, :, 1], (np.arange(4) + 0.5 - 2) / f)  # y grows rightwards
    np.testing.assert_allclose(rays[:, 0, 2], [0.25, -0.25])  # top row looks up


def test_depth_encoding_round_trips_and_saturates_at_1000m():
    depth = np.array([0.0, 0.05, 1.0, 12.345, 999.0, 1000.0, 5000.0, np.inf])
    rgb = encode_depth(depth)
    bgra = np.concatenate([rgb[:, ::-1], np.full((len(depth), 1), 255, np.uint8)], axis=1)
    decoded = decode_depth(bgra)
    np.testing.assert_allclose(decoded, np.minimum(depth, 1000.0), atol=1000 / (256**3 - 1))


def test_depth_camera_on_flat_ground_matches_geometry(make_scene, make_pose):
    height, width, fov = 60, 80, 90.0
    camera = CameraSensor("depth", width, height, fov)
    image = camera.image(make_scene(), make_pose(location=(0.0, 0.0, 2.0)))
    depth = decode_depth(image)
    f = focal_length(width, fov)
    rows = np.arange(height // 2, height)  # below the horizon
    below = (rows + 0.5 - height / 2) / f  # tan of the angle below the axis
    expected = 2.0 / below  # planar depth of the ground hit
    visible = expected < 1000
    np.testing.assert_allclose(depth[rows[visible], width // 2], expected[visible], rtol=0.02)
    # planar depth does not change along a row of a level camera
    np.testing.assert_allclose(depth[height - 1], depth[height - 1, 0], rtol=1e-4)
    assert (depth[: height // 2] > 999.0).all()  # sky above the horizon


def test_vehicle_in_front_shows_in_semantic_and_instance_images(make_scene, make_pose):
    scene = make_scene([(300, CAR, (10.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    p = make_pose(location=(0.0, 0.0, 1.0))
    semantic = CameraSensor("semantic_segmentation", 64, 48, 90.0).image(scene, p)
    centre = semantic[24, 32]
    assert centre[2] == CAR and centre[1] == 0 and centre[0] == 0 and centre[3] == 255
    labels = set(np.unique(semantic[..., 2]).tolist())
    assert {1, 11, CAR} <= labels  # road, sky, the car
    instance = CameraSensor("instance_segmentation", 64, 48, 90.0).image(scene, p)
    r, g, b = (int(v) for v in instance[24, 32, 2::-1])
    assert (r, g + 256 * b) == (CAR, 300)
    depth = decode_depth(CameraSensor("depth", 64, 48, 90.0).image(scene, p))
    assert depth[24, 32] == pytest.approx(8.0, rel=1e-3)  # rear face at 10 - 2 m


def test_rgb_colours_by_class_and_payload_layout(make_scene, make_pose):
    scene = make_scene([(7, CAR, (10.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    sensor = make_sensor(
        "sensor.camera.rgb", {"image_size_x": "84", "image_size_y": "84", "fov": "100"}
    )
    payload = sensor.measure(scene, make_pose(location=(0.0, 0.0, 1.0)))
    assert sensor.type_id == 13
    assert len(payload) == 12 + 84 * 84 * 4
    assert struct.unpack("<IIf", payload[:12]) == (84, 84, pytest.approx(100.0))
    pixels = np.frombuffer(payload[12:], np.uint8).reshape(84, 84, 4)
    car, sky, road = pixels[42, 42], pixels[2, 42], pixels[83, 42]
    assert car[2] > 2 * car[1]  # the car is red
    assert sky[0] > sky[2]  # the sky is blue
    assert abs(int(road[0]) - int(road[2])) < 20  # the road is grey


def test_camera_rotation_and_attachment_transform(make_scene, make_pose):
    # a car 10 m to the camera's left (world -y) is centred when the camera yaws -90
    scene = make_scene([(9, CAR, (0.0, -10.0, 0.75), (1.0, 1.0, 0.75), 0.0)])
    semantic = CameraSensor("semantic_segmentation", 32, 32, 60.0)
    looking = semantic.image(scene, make_pose(location=(0, 0, 0.75), rotation=(0, -90, 0)))
    away = semantic.image(scene, make_pose(location=(0, 0, 0.75), rotation=(0, 90, 0)))
    assert looking[16, 16, 2] == CAR
    assert CAR not in away[..., 2]


@pytest.mark.parametrize(
    "attributes",
    [{"image_size_x": "0"}, {"fov": "180"}, {"image_size_y": "abc"}, {"sensor_tick": "-1"}],
)
def test_bad_camera_attributes_raise_one_clear_error(attributes):
    with pytest.raises(SensorAttributeError, match="image_size|fov|sensor_tick"):
        make_sensor("sensor.camera.rgb", attributes)


def test_sensors_work_without_a_map(make_scene, make_pose):
    from rllib_integration.embedded.scene import Scene

    scene = Scene.empty(ground=None)
    for blueprint in ("sensor.camera.depth", "sensor.lidar.ray_cast", "sensor.other.gnss"):
        sensor = make_sensor(blueprint, {"image_size_x": "8", "image_size_y": "6"})
        assert sensor.measure(scene, make_pose(location=(1.0, 2.0, 3.0))) is not None
    depth = decode_depth(CameraSensor("depth", 8, 6, 90.0).image(scene, make_pose()))
    assert (depth > 999.0).all()  # only sky


def test_screen_culling_loses_no_box_even_beside_or_behind_the_camera(flat_ground):
    from rllib_integration.embedded.sensors.camera import cast_camera
    from rllib_integration.embedded.sensors.geometry import rotation_matrix
    from rllib_integration.embedded.sensors.raycast import Boxes, cast_rays

    rng = np.random.default_rng(5)
    n = 40  # cars all around the camera, some straddling its image plane
    boxes = Boxes.from_arrays(
        centers=np.c_[rng.uniform(-15, 25, (n, 2)), np.full(n, 0.75)],
        extents=np.tile([2.3, 1.0, 0.75], (n, 1)),
        rotations=np.c_[np.zeros(n), rng.uniform(0, 360, n), np.zeros(n)],
        ids=np.arange(1, n + 1),
        tags=np.full(n, CAR),
    )
    location, rotation = np.array([0.0, 0.0, 1.6]), np.array([-8.0, 20.0, 0.0])
    rays = camera_rays(96, 72, 100.0)
    culled = cast_camera(location, rotation, rays, boxes, flat_ground, 96, 72, 100.0)
    world = rays @ rotation_matrix(rotation).T.astype(np.float32)
    everything = cast_rays(location, world, boxes, flat_ground, 1000.0)  # cone culling only
    np.testing.assert_array_equal(culled.box, everything.box)
    np.testing.assert_allclose(culled.t, everything.t, rtol=1e-5)
    assert (culled.box >= 0).sum() > 500


def test_normals_cosmos_and_optical_flow_render_what_the_scene_allows(make_scene, make_pose):
    scene = make_scene([(300, CAR, (10.0, 0.0, 0.75), (2.0, 1.0, 0.75), 0.0)])
    p = make_pose(location=(0.0, 0.0, 1.0))
    normals = CameraSensor("normals", 64, 48, 90.0).image(scene, p)
    assert normals[47, 5, 2::-1].tolist() == [128, 128, 255]  # the ground faces up
    assert normals[24, 32, 2::-1].tolist() == [0, 128, 128]  # the car's rear faces -x
    assert normals[0, 0, :3].tolist() == [0, 0, 0]  # the sky
    rgb = CameraSensor("rgb", 64, 48, 90.0).image(scene, p)
    cosmos = CameraSensor("cosmos_visualization", 64, 48, 90.0)
    assert cosmos.type_id == 16 and (cosmos.image(scene, p) == rgb).all()
    flow = CameraSensor("optical_flow", 64, 48, 90.0).measure(scene, p)
    width, height, fov = struct.unpack_from("<IIf", flow)
    assert (width, height, fov) == (64, 48, 90.0) and len(flow) == 12 + 64 * 48 * 8
    assert not any(flow[12:])
