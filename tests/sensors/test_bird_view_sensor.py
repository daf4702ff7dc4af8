"""BirdViewSensor's bookkeeping, with world objects built from real carla value types (a light
placed exactly where the assertions need it); the live tests cover the real client."""

from __future__ import annotations

import types

import numpy as np
import pytest

carla = pytest.importorskip("carla")

from rllib_integration.sensors.birdview.sensor import BirdViewSensor  # noqa: E402
from rllib_integration.sim_view import SimulatorView  # noqa: E402
from tests.sensors.birdview_helpers import STRAIGHT_XODR, centroid  # noqa: E402


class Actor:
    def __init__(self, actor_id, type_id, x, y, yaw=0.0, extent=(2.3, 1.0), **attributes):
        self.id, self.type_id, self.attributes = actor_id, type_id, attributes
        self.bounding_box = carla.BoundingBox(
            carla.Location(0.0, 0.0, 0.7), carla.Vector3D(extent[0], extent[1], 0.7)
        )
        self.transform = carla.Transform(carla.Location(x, y, 0.0), carla.Rotation(yaw=yaw))

    def get_transform(self):
        return self.transform


class World:
    """What BirdViewSensor asks of carla.World: actors by id (counted), and snapshots."""

    def __init__(self, actors):
        self.actors = {a.id: a for a in actors}
        self.queries = []

    def get_actors(self, ids):
        self.queries.append(sorted(ids))
        return [self.actors[i] for i in ids if i in self.actors]

    def snapshot(self):
        return [
            types.SimpleNamespace(id=a.id, get_transform=a.get_transform)
            for a in self.actors.values()
        ]


def view_of(world, carla_map, hero) -> SimulatorView:
    """A SimulatorView over stand-ins: what the sensor is built from in an env."""
    simulator = types.SimpleNamespace(
        client=None, world=world, map=carla_map, hero=hero, frame=0, timestep=0.05
    )
    return SimulatorView(simulator)


@pytest.fixture
def scene(tmp_path):
    hero = Actor(1, "vehicle.tesla.model3", 50.0, 1.75, role_name="hero")
    light = Actor(7, "traffic.traffic_light", 60.0, 6.0)
    light.trigger_volume = carla.BoundingBox(
        carla.Location(0.0, -4.25, 0.0), carla.Vector3D(1.0, 1.75, 1.0)
    )
    light.state = carla.TrafficLightState.Red
    world = World(
        [hero, light, Actor(2, "sensor.other.gnss", 50.0, 1.75), Actor(9, "spectator", 0, 0)]
    )
    core = view_of(world, carla.Map("Straight", STRAIGHT_XODR), hero)
    layers = ["hero", "vehicles", "two_wheelers", "traffic_lights_red", "traffic_lights_green"]
    attributes = {
        "type": "sensor.birdview",
        "mode": "masks",
        "layers": layers,
        "cache_dir": str(tmp_path),
    }
    return world, light, BirdViewSensor("bev", attributes, core)


def test_traffic_lights_follow_their_state_over_the_lane_they_govern(scene):
    world, light, sensor = scene
    image = sensor.tick(1, world.snapshot())
    red, green = image[..., 3], image[..., 4]
    hero_at = centroid(image[..., 0])
    # trigger volume centre: the light at y=6 plus -4.25 m -> y=1.75, the hero's lane, 10 m ahead
    np.testing.assert_allclose(centroid(red), hero_at - [0, 10 * 5], atol=1.0)
    assert red.sum() == pytest.approx(2.0 * 3.5 * 25, rel=0.2) and not green.any()
    light.state = carla.TrafficLightState.Green
    image = sensor.tick(2, world.snapshot())
    assert not image[..., 3].any() and image[..., 4].sum() == red.sum()


def test_actors_are_looked_up_once_and_classified(scene):
    world, _, sensor = scene
    sensor.tick(1, world.snapshot())
    # everything, the hero too (the views of other heroes draw it), in one query
    assert world.queries == [[1, 2, 7, 9]]
    sensor.tick(2, world.snapshot())
    assert len(world.queries) == 1  # known actors cost nothing more
    world.actors[3] = Actor(
        3, "vehicle.kawasaki.ninja", 60.0, -1.75, extent=(1.0, 0.4), number_of_wheels="2"
    )
    world.actors[4] = Actor(4, "vehicle.audi.a2", 40.0, 1.75, number_of_wheels="4")
    image = sensor.tick(3, world.snapshot())
    assert world.queries[1:] == [[3, 4]]
    vehicles, bikes = image[..., 1], image[..., 2]
    hero_at = centroid(image[..., 0])
    np.testing.assert_allclose(centroid(bikes), hero_at + [-3.5 * 5, -10 * 5], atol=1.0)
    assert vehicles.sum() > bikes.sum() > 0 and (vehicles >= bikes).all()
    # an actor the client does not know yet is asked for again on the next tick
    world.snapshot_extra = types.SimpleNamespace(id=5, get_transform=world.actors[4].get_transform)
    sensor.tick(4, world.snapshot() + [world.snapshot_extra])
    sensor.tick(5, world.snapshot() + [world.snapshot_extra])
    assert world.queries[2:] == [[5], [5]]


def test_missing_hero_and_bad_record_option_are_clear_errors(scene, tmp_path):
    world, _, sensor = scene
    with pytest.raises(RuntimeError, match="sensor 'bev': the hero is not in the world at frame 8"):
        sensor.tick(8, [s for s in world.snapshot() if s.id != 1])
    core = view_of(world, carla.Map("Straight", STRAIGHT_XODR), world.actors[1])
    with pytest.raises(ValueError, match=r"sensor 'cam': record: .*\.gif or \.mp4"):
        BirdViewSensor("cam", {"record": str(tmp_path / "x.avi"), "cache_dir": str(tmp_path)}, core)
    with pytest.raises(ValueError, match=r"sensor 'cam': unknown option\(s\) \['zoom'\]"):
        BirdViewSensor("cam", {"zoom": 2}, core)


def test_views_of_several_heroes_render_together_as_each_would_alone(tmp_path):
    """`tick_all` (one snapshot read, one pass over the actors for every view) gives each hero
    exactly the frame its sensor renders alone, each hero drawn as the hero in its own view and
    as a vehicle in the others', and every tick shows that tick's world."""
    heroes = [
        Actor(1, "vehicle.tesla.model3", 50.0, 1.75),
        Actor(2, "vehicle.audi.a2", 62.0, 1.75, yaw=10.0),
        Actor(3, "vehicle.kawasaki.ninja", 40.0, -1.75, yaw=180.0, number_of_wheels="2"),
    ]
    world = World([*heroes, Actor(4, "walker.pedestrian.0001", 56.0, 4.5)])
    carla_map = carla.Map("Straight", STRAIGHT_XODR)
    attributes = {
        "type": "sensor.birdview",
        "mode": "masks",
        "layers": ["road", "hero", "vehicles", "two_wheelers", "walkers"],
        "cache_dir": str(tmp_path),
    }

    def sensors():
        return [BirdViewSensor("bev", attributes, view_of(world, carla_map, h)) for h in heroes]

    together, alone = sensors(), sensors()
    for frame in (1, 2, 3):
        snapshot = world.snapshot()
        images = BirdViewSensor.tick_all(together, frame, snapshot)
        # The actors looked up once for all the views together (and once by each lone one).
        assert len(world.queries) == (1 if frame == 1 else 4)
        for image, sensor in zip(images, alone, strict=True):
            np.testing.assert_array_equal(image, sensor.tick(frame, snapshot))
        first, second, _ = images
        hero, vehicles, bikes, walkers = (first[..., c] for c in range(1, 5))
        # The first hero's view: itself as the hero, the car ahead (12 m, then 1 m more each
        # tick: every frame shows its own tick's world) and the bike 10 m behind as vehicles
        # (the bike on its own layer too), the walker.
        assert hero.any() and bikes.any() and walkers.any()
        assert not (hero & vehicles).any() and (vehicles >= bikes).all()
        assert second[..., 1].any() and not (second[..., 1] & second[..., 2]).any()
        ahead = centroid(vehicles & ~bikes)
        metres = 12.0 + frame - 1
        np.testing.assert_allclose(ahead[1], centroid(hero)[1] - metres * 5, atol=2.0)
        heroes[1].transform.location.x += 1.0  # the second hero drives on: 1 m more per tick
        world.actors[4].transform.location.y -= 0.5
