"""`sensor.birdview` on the embedded server through the real `carla` client, with known actors.

Client code runs in a subprocess (the real client can abort on malformed data); it places the
actors, renders, and prints measurements as JSON for the assertions here.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from tests.conftest import client_code, run_client, start_embedded_server

pytest.importorskip("carla")

PPM = 5.0
# Places a hero on a straight stretch of the served map, a car 10 m ahead, a motorbike 8 m
# behind and a walker 5 m to the right, then renders masks through BirdViewSensor.
SETUP = """
import json, math, sys, types
import numpy as np
from rllib_integration.sensors.birdview.sensor import BirdViewSensor
from rllib_integration.sim_view import SimulatorView

settings = world.get_settings()
settings.synchronous_mode = True
settings.fixed_delta_seconds = 0.05
world.apply_settings(settings)
carla_map = world.get_map()
library = world.get_blueprint_library()
"""
SCENE = (
    SETUP
    + """

def straight_ahead(point):
    wp = carla_map.get_waypoint(point.location)
    ahead = wp.next(15.0)
    return ahead and abs((ahead[0].transform.rotation.yaw - wp.transform.rotation.yaw + 180) % 360 - 180) < 1.0

start = next(p for p in carla_map.get_spawn_points() if straight_ahead(p))
yaw = start.rotation.yaw
fwd = np.array([math.cos(math.radians(yaw)), math.sin(math.radians(yaw))])
right = np.array([-fwd[1], fwd[0]])
origin = np.array([start.location.x, start.location.y])

def place(blueprint_id, offset, role=None, yaw_offset=0.0):
    blueprint = library.find(blueprint_id)
    if role:
        blueprint.set_attribute("role_name", role)
    x, y = origin + offset
    transform = carla.Transform(carla.Location(x=float(x), y=float(y), z=start.location.z + 0.3),
                                carla.Rotation(yaw=yaw + yaw_offset))
    actor = world.spawn_actor(blueprint, transform)
    return actor

hero = place("vehicle.tesla.model3", 0 * fwd, role="hero")
car = place("vehicle.audi.a2", 10 * fwd)
bike = place("vehicle.kawasaki.ninja", -8 * fwd)
walker = place("walker.pedestrian.0001", 5 * right)
for actor in (hero, car, bike):
    actor.set_simulate_physics(False)
world.tick()
core = SimulatorView(types.SimpleNamespace(client=client, world=world, map=carla_map, hero=hero,
                                           frame=0, timestep=0.05))
LAYERS = ["road", "lane_markings", "hero", "vehicles", "two_wheelers", "walkers"]

def centroid(mask):
    rows, cols = np.nonzero(mask)
    return [float(cols.mean()), float(rows.mean())] if len(rows) else None

def measure(sensor, image):
    out = {"shape": list(image.shape), "dtype": str(image.dtype),
           "values": sorted(int(v) for v in np.unique(image))}
    for i, name in enumerate(sensor.layers):
        out[name] = centroid(image[..., i])
        out[name + "_pixels"] = int(image[..., i].sum())
    hero_rows, hero_cols = np.nonzero(image[..., sensor.layers.index("hero")])
    out["hero_size"] = [int(np.ptp(hero_cols)) + 1, int(np.ptp(hero_rows)) + 1]
    return out
"""
)


def run_scene(server, body: str, timeout: float = 90.0) -> dict:
    code = client_code(server, SCENE + textwrap.dedent(body), timeout=20.0)
    result = run_client(code, timeout=timeout)
    assert result.returncode == 0, f"client failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def measurements(module_embedded_server, tmp_path_factory):
    cache_dir = str(tmp_path_factory.mktemp("bev-cache"))
    body = f"""
    attributes = {{"type": "sensor.birdview", "mode": "masks", "layers": LAYERS,
                  "pixels_per_meter": {PPM}, "cache_dir": {cache_dir!r}}}
    sensor = BirdViewSensor("bev", attributes, core)
    first_source = sensor.cache.source
    frame = world.tick()
    image = sensor.tick(frame, world.get_snapshot())
    results = {{"straight": measure(sensor, image), "first_source": first_source}}

    # road and markings against the client's own carla.Map, at pixels of this view
    hero_tf = hero.get_transform()
    anchor, hero_yaw = (hero_tf.location.x, hero_tf.location.y), hero_tf.rotation.yaw
    to_px = np.vstack([sensor.renderer.view_transform(anchor, hero_yaw), [0, 0, 1]])
    to_world = np.linalg.inv(to_px)[:2]
    drivable = carla.LaneType.Driving | carla.LaneType.Bidirectional
    agree = total = 0
    rng = np.random.default_rng(0)
    for col, row in rng.integers(0, 192, (300, 2)):
        x, y = to_world @ [col, row, 1.0]
        wp = carla_map.get_waypoint(carla.Location(x=x, y=y), project_to_road=False, lane_type=drivable)
        agree += bool(image[row, col, 0]) == (wp is not None)
        total += 1
    border_distance = []
    rows, cols = np.nonzero(image[..., 1])
    for col, row in list(zip(cols, rows))[:: max(1, len(cols) // 40)]:
        x, y = to_world @ [col, row, 1.0]
        wp = carla_map.get_waypoint(carla.Location(x=x, y=y), project_to_road=True, lane_type=carla.LaneType.Any)
        c = wp.transform.location
        border_distance.append(abs(math.hypot(x - c.x, y - c.y) - wp.lane_width / 2))
    results["road_agreement"] = agree / total
    results["marking_border_distance_median"] = float(np.median(border_distance))
    results["marking_pixels"] = int(len(cols))

    # turn the hero 90 degrees to the right where it stands: the car ahead must now be on its left
    hero.set_transform(carla.Transform(hero_tf.location, carla.Rotation(yaw=hero_yaw + 90.0)))
    frame = world.tick()
    results["turned"] = measure(sensor, sensor.tick(frame, world.get_snapshot()))
    results["turned_frame_matches"] = frame == world.get_snapshot().frame
    sensor.destroy()

    # a reset builds a new sensor: the static map comes from memory, no rasterising again
    again = BirdViewSensor("bev", attributes, core)
    results["reset_source"] = again.cache.source
    results["reset_seconds"] = again.cache.seconds
    results["cache_file"] = str(again.cache.path)
    rgb = BirdViewSensor("bev_rgb", {{"type": "sensor.birdview", "cache_dir": {cache_dir!r}}}, core)
    picture = rgb.tick(world.tick(), world.get_snapshot())
    results["rgb_shape"] = list(picture.shape)
    results["rgb_hero_color"] = [int(v) for v in picture[142, 95]]
    for actor in (walker, bike, car, hero):
        actor.destroy()
    world.tick()
    print(json.dumps(results))
    """
    return run_scene(module_embedded_server, body), cache_dir


def test_hero_box_is_at_the_expected_pixels(measurements):
    m = measurements[0]["straight"]
    # the image centre is radius/2 = 9.6 m ahead of the hero: the hero is 48 px below it
    half = (192 - 1) / 2
    np.testing.assert_allclose(m["hero"], [half, half + 9.6 * PPM], atol=1.0)
    # model3 bounding box 4.79 m x 2.16 m, heading up
    width, length = m["hero_size"]
    assert length == pytest.approx(4.79 * PPM, abs=2) and width == pytest.approx(2.16 * PPM, abs=2)


def test_vehicle_10m_ahead_is_10m_times_ppm_above_and_others_where_placed(measurements):
    m = measurements[0]["straight"]
    hero = np.array(m["hero"])
    np.testing.assert_allclose(m["two_wheelers"], hero + [0, 8 * PPM], atol=1.5)
    # 'vehicles' holds the car and the motorbike; the car alone is in vehicles minus two_wheelers
    car_and_bike = np.array(m["vehicles"]) * m["vehicles_pixels"]
    bike = np.array(m["two_wheelers"]) * m["two_wheelers_pixels"]
    car = (car_and_bike - bike) / (m["vehicles_pixels"] - m["two_wheelers_pixels"])
    np.testing.assert_allclose(car, hero - [0, 10 * PPM], atol=1.5)
    np.testing.assert_allclose(m["walkers"], hero + [5 * PPM, 0], atol=1.5)


def test_image_rotates_with_the_hero(measurements):
    before, after = measurements[0]["straight"], measurements[0]["turned"]
    np.testing.assert_allclose(after["hero"], before["hero"], atol=1.0)
    # after a right turn on the spot the car that was ahead is 10 m to the left, and the walker
    # that was on the right is 5 m ahead
    car_and_bike = np.array(after["vehicles"]) * after["vehicles_pixels"]
    bike = np.array(after["two_wheelers"]) * after["two_wheelers_pixels"]
    car = (car_and_bike - bike) / (after["vehicles_pixels"] - after["two_wheelers_pixels"])
    np.testing.assert_allclose(car, np.array(after["hero"]) - [10 * PPM, 0], atol=1.5)
    np.testing.assert_allclose(after["walkers"], np.array(after["hero"]) - [0, 5 * PPM], atol=1.5)
    assert measurements[0]["turned_frame_matches"]


def test_road_and_lane_markings_match_the_map(measurements):
    m = measurements[0]
    assert m["road_agreement"] > 0.97
    assert m["marking_pixels"] > 50
    assert m["marking_border_distance_median"] < 0.3


def test_masks_are_binary_with_one_channel_per_layer(measurements):
    m = measurements[0]["straight"]
    assert m["shape"] == [192, 192, 6] and m["dtype"] == "uint8" and m["values"] == [0, 1]
    assert m["road_pixels"] > 1000 and m["hero_pixels"] > 0 and m["walkers_pixels"] > 0


def test_rgb_mode_and_static_map_reuse(measurements):
    m, cache_dir = measurements
    assert m["first_source"] == "built"
    assert m["reset_source"] == "memory" and m["reset_seconds"] < 0.05
    assert m["rgb_shape"] == [192, 192, 3]
    assert tuple(m["rgb_hero_color"]) == (138, 226, 52)  # the original's chameleon green
    assert m["cache_file"].startswith(cache_dir)


def test_cache_is_reused_by_another_process_and_rebuilt_when_corrupt(
    measurements, module_embedded_server
):
    cache_file = measurements[0]["cache_file"]
    cache_dir = measurements[1]
    body = f"""
    sensor = BirdViewSensor("bev", {{"type": "sensor.birdview", "mode": "masks",
                                      "pixels_per_meter": {PPM}, "cache_dir": {cache_dir!r}}}, core)
    first = sensor.cache.source
    open({cache_file!r}, "r+b").truncate(1000)  # damaged on disk (e.g. a killed copy)
    from rllib_integration.sensors.birdview import cache
    cache.clear_memory()  # as a fresh worker process
    rebuilt = BirdViewSensor("bev2", {{"type": "sensor.birdview", "mode": "masks",
                                        "pixels_per_meter": {PPM}, "cache_dir": {cache_dir!r}}}, core)
    image = rebuilt.tick(world.tick(), world.get_snapshot())
    for actor in (walker, bike, car, hero):
        actor.destroy()
    world.tick()
    print(json.dumps({{"first": first, "rebuilt": rebuilt.cache.source, "road": int(image[..., 0].sum())}}))
    """
    m = run_scene(module_embedded_server, body)
    assert m["first"] == "disk"  # written by the first process, read by this one
    assert m["rebuilt"] == "built" and m["road"] > 1000


LIGHTS = (
    SETUP
    + """
light = sorted(world.get_actors().filter("traffic.traffic_light*"), key=lambda a: a.id)[0]
area = carla_map.get_waypoint(light.get_transform().transform(light.trigger_volume.location))
start = area.previous(10.0)[0].transform  # the hero 10 m before the area the light governs
start.location.z += 0.3
bp = library.find("vehicle.tesla.model3")
bp.set_attribute("role_name", "hero")
hero = world.spawn_actor(bp, start)
hero.set_simulate_physics(False)
core = SimulatorView(types.SimpleNamespace(client=client, world=world, map=carla_map, hero=hero,
                                           frame=0, timestep=0.05))
layers = ["hero", "traffic_lights_red", "traffic_lights_yellow", "traffic_lights_green"]
sensor = BirdViewSensor("bev", {{"type": "sensor.birdview", "mode": "masks", "layers": layers,
                                 "pixels_per_meter": {ppm}, "cache_dir": {cache_dir!r}}}, core)
world.freeze_all_traffic_lights(True)
out = dict()
for state in ("Red", "Green", "Yellow"):
    light.set_state(getattr(carla.TrafficLightState, state))
    frame = world.tick()
    image = sensor.tick(frame, world.get_snapshot())
    rows, cols = np.nonzero(image[..., 0])
    hero_at = np.array([cols.mean(), rows.mean()])
    col, row = np.round(hero_at - [0, 10 * {ppm}]).astype(int)  # the area's centre
    out[state] = [int(image[row - 1 : row + 2, col - 1 : col + 2, k].sum()) for k in (1, 2, 3)]
hero.destroy()
world.freeze_all_traffic_lights(False)
print(json.dumps(out))
"""
)


def test_traffic_lights_are_drawn_by_state_over_the_lane_they_govern(tmp_path):
    with start_embedded_server(map_name="Grid01") as server:
        code = client_code(server, LIGHTS.format(ppm=PPM, cache_dir=str(tmp_path)))
        result = run_client(code, timeout=90)
    assert result.returncode == 0, f"client failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    m = json.loads(result.stdout.strip().splitlines()[-1])
    # red, yellow, green masks around the governed area's centre: only the light's state
    assert m == {"Red": [9, 0, 0], "Green": [0, 0, 9], "Yellow": [0, 9, 0]}
