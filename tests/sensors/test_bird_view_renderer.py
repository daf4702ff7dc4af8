"""The bird's-eye-view renderer on its own: geometry, layers, palette, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.renderer import (
    GREEN,
    RED,
    TWO_WHEELER,
    VEHICLE,
    WALKER,
    YELLOW,
    BirdViewRenderer,
    Boxes,
    TrafficLights,
)
from rllib_integration.sensors.birdview.settings import BirdViewSettings
from tests.sensors.birdview_helpers import centroid, straight_static, town03

CAR = (2.4, 1.0)  # half length, half width


def masks_renderer(layers=("road", "lane_markings", "hero", "vehicles"), **kwargs):
    return BirdViewRenderer(
        straight_static(), BirdViewSettings(mode="masks", layers=layers, **kwargs)
    )


def hero_box(x, y, yaw, extent=CAR):
    return Boxes(np.array([[x, y]]), np.array([yaw]), np.array([extent]))


def actors(*rows):
    """rows of (x, y, yaw, kind[, extent])."""
    if not rows:
        return Boxes.empty()
    return Boxes(
        np.array([[r[0], r[1]] for r in rows], float),
        np.array([r[2] for r in rows], float),
        np.array([r[4] if len(r) > 4 else CAR for r in rows], float),
        np.array([r[3] for r in rows], np.uint8),
    )


def layer(image, renderer, name):
    return image[..., renderer.layers.index(name)]


def ahead(x, y, yaw, forward, right=0.0):
    rad = math.radians(yaw)
    return x + forward * math.cos(rad) - right * math.sin(rad), y + forward * math.sin(
        rad
    ) + right * math.cos(rad)


@pytest.mark.parametrize("yaw", [0.0, 30.0, 90.0, 180.0, -135.0])
def test_hero_box_sits_below_the_centre_with_its_heading_up(yaw):
    r = masks_renderer()
    s = r.settings
    image = r.render((50.0, 1.75), yaw, hero_box(50.0, 1.75, yaw), actors())
    hero = layer(image, r, "hero")
    half = (s.size - 1) / 2
    # default offset: the image centre is radius/2 ahead, so the hero is radius/2 * ppm below it
    assert s.offset == pytest.approx(s.radius / 2)
    np.testing.assert_allclose(
        centroid(hero), [half, half + s.offset * s.pixels_per_meter], atol=0.6
    )
    rows, cols = np.nonzero(hero)
    # 4.8 m long (vertical), 2.0 m wide (horizontal) at 5 px/m, whatever the world yaw
    assert rows.max() - rows.min() + 1 == pytest.approx(2 * CAR[0] * s.pixels_per_meter, abs=1.5)
    assert cols.max() - cols.min() + 1 == pytest.approx(2 * CAR[1] * s.pixels_per_meter, abs=1.5)


@pytest.mark.parametrize("yaw", [0.0, 45.0, 90.0, -100.0])
def test_vehicle_10m_ahead_is_10m_times_ppm_above_the_hero_and_right_is_right(yaw):
    r = masks_renderer()
    ppm = r.settings.pixels_per_meter
    x, y = 50.0, 1.75
    front = ahead(x, y, yaw, 10.0)
    right = ahead(x, y, yaw, 0.0, 6.0)
    image = r.render((x, y), yaw, hero_box(x, y, yaw), actors((*front, yaw, VEHICLE)))
    hero_at = centroid(layer(image, r, "hero"))
    np.testing.assert_allclose(
        centroid(layer(image, r, "vehicles")), hero_at - [0, 10 * ppm], atol=0.6
    )
    image = r.render((x, y), yaw, hero_box(x, y, yaw), actors((*right, yaw + 90, VEHICLE)))
    np.testing.assert_allclose(
        centroid(layer(image, r, "vehicles")), hero_at + [6 * ppm, 0], atol=0.6
    )


def test_offset_and_pixels_per_meter_are_honoured():
    r = masks_renderer(size=100, pixels_per_meter=4.0, offset=0.0)
    image = r.render((50.0, 0.0), 0.0, hero_box(50.0, 0.0, 0.0), actors())
    np.testing.assert_allclose(centroid(layer(image, r, "hero")), [49.5, 49.5], atol=0.6)
    assert image.shape == (100, 100, 4)


def test_road_and_markings_match_the_straight_road():
    r = masks_renderer(layers=("road", "sidewalk", "lane_markings"), offset=0.0)
    ppm = r.settings.pixels_per_meter
    # hero on the centre line heading +x: the road runs vertically, CARLA +y is to the right
    image = r.render((100.0, 0.0), 0.0, hero_box(100.0, 0.0, 0.0), actors())
    row = image[40]  # any row: the road is straight
    centre_col = (r.settings.size - 1) / 2
    lateral = (np.arange(r.settings.size) - centre_col) / ppm  # metres to the right (CARLA +y)
    road, sidewalk, marks = row[:, 0], row[:, 1], row[:, 2]
    assert set(np.unique(image)) <= {0, 1}
    inner = np.abs(lateral) < 3.3
    assert road[inner].all() and not road[np.abs(lateral) > 3.7].any()
    assert sidewalk[(np.abs(lateral) > 3.7) & (np.abs(lateral) < 5.3)].all()
    assert not sidewalk[np.abs(lateral) > 5.7].any()
    marked = lateral[marks.astype(bool)]
    for expected in (-3.5, 0.0):  # solid lines: present on every row
        assert np.min(np.abs(marked - expected)) < 0.3
    # the broken line at +3.5 m: dashes 1 m on, 2 m off along the road (rows)
    col = int(round(centre_col + 3.5 * ppm))
    dashed = image[:, col - 1 : col + 2, 2].any(axis=1)
    assert 0.2 < dashed.mean() < 0.5
    solid = image[
        :, int(round(centre_col - 3.5 * ppm)) - 1 : int(round(centre_col - 3.5 * ppm)) + 2, 2
    ]
    assert solid.any(axis=1).all()


def test_image_rotates_with_the_hero():
    r = BirdViewRenderer(straight_static(), BirdViewSettings(mode="rgb", offset=0.0))
    north = r.render(
        (100.0, 2.0), 0.0, hero_box(100.0, 2.0, 0.0), actors((108.0, -1.5, 0.0, VEHICLE))
    )
    east = r.render(
        (100.0, 2.0), 90.0, hero_box(100.0, 2.0, 90.0), actors((108.0, -1.5, 0.0, VEHICLE))
    )
    # turning the hero 90 degrees right turns the world 90 degrees left in the picture
    same = np.all(np.rot90(north, k=1) == east, axis=2).mean()
    assert same > 0.98
    assert not np.array_equal(north, east)


def test_two_wheelers_walkers_and_hero_go_to_their_own_layers():
    layers = ("vehicles", "two_wheelers", "walkers", "hero")
    r = masks_renderer(layers=layers, walker_scale=1.0)
    image = r.render(
        (50.0, 0.0),
        0.0,
        hero_box(50.0, 0.0, 0.0),
        actors(
            (60.0, 0.0, 0.0, VEHICLE),
            (55.0, 3.0, 0.0, TWO_WHEELER, (1.0, 0.4)),
            (52.0, -4.5, 0.0, WALKER, (0.3, 0.3)),
        ),
    )
    vehicles, bikes, walkers, hero = (image[..., i].astype(bool) for i in range(4))
    assert (bikes & ~vehicles).sum() == 0  # a two-wheeler is a vehicle too
    assert bikes.sum() == pytest.approx(2.0 * 0.8 * 25, rel=0.35)
    assert walkers.sum() == pytest.approx(0.6 * 0.6 * 25, abs=6)
    assert not (walkers & vehicles).any() and not (hero & vehicles).any()
    assert vehicles.sum() > bikes.sum() + 4.8 * 2.0 * 25 * 0.8


def test_overlapping_actors_leave_no_hole():
    r = masks_renderer(layers=("vehicles",))
    image = r.render(
        (50.0, 0.0),
        0.0,
        hero_box(50.0, 0.0, 0.0),
        actors((60.0, 0.0, 0.0, VEHICLE), (61.0, 0.5, 0.0, VEHICLE)),
    )
    mask = image[..., 0]
    hero_row, hero_col = (
        (r.settings.size - 1) / 2 + r.settings.offset * 5,
        (r.settings.size - 1) / 2,
    )
    overlap = mask[
        int(hero_row - 10.5 * 5) : int(hero_row - 9.5 * 5), int(hero_col) - 2 : int(hero_col) + 2
    ]
    assert overlap.all()


def test_actors_far_away_are_not_drawn_and_edge_actors_are_clipped():
    r = masks_renderer(layers=("vehicles",), offset=0.0)
    far = r.render(
        (50.0, 0.0), 0.0, hero_box(50.0, 0.0, 0.0), actors((50.0 + 200, 0.0, 0.0, VEHICLE))
    )
    assert not far.any()
    edge_x = 50.0 + r.settings.radius  # centre exactly on the top edge: half of it shows
    edge = r.render((50.0, 0.0), 0.0, hero_box(50.0, 0.0, 0.0), actors((edge_x, 0.0, 0.0, VEHICLE)))
    assert edge.sum() == pytest.approx(2.4 * 2.0 * 25, rel=0.2)


def test_traffic_lights_by_state_with_trigger_areas_or_discs():
    r = masks_renderer(
        layers=("traffic_lights_red", "traffic_lights_yellow", "traffic_lights_green")
    )
    areas = Boxes(
        np.array([[60.0, 1.75], [0, 0], [0, 0]]),
        np.zeros(3),
        np.array([[1.0, 1.75], [0, 0], [0, 0]]),
    )
    lights = TrafficLights(
        np.array([[60.0, 6.0], [62.0, -6.0], [70.0, 0.0]]), np.array([RED, GREEN, YELLOW]), areas
    )
    image = r.render((50.0, 0.0), 0.0, hero_box(50.0, 0.0, 0.0), actors(), lights)
    red, yellow, green = (image[..., i] for i in range(3))
    assert red.sum() == pytest.approx(2.0 * 3.5 * 25, rel=0.2)  # the governed lane stretch
    disc = math.pi * (1.2 * 5) ** 2
    assert green.sum() == pytest.approx(disc, rel=0.3) and yellow.sum() == pytest.approx(
        disc, rel=0.3
    )
    # green light stands at y=-6 (left of a hero heading +x), red's area at y=+1.75 (right)
    assert centroid(green)[0] < (r.settings.size - 1) / 2 < centroid(red)[0]


def test_route_layer_follows_set_route_and_clears():
    r = masks_renderer(layers=("route",), route_width=1.0, offset=0.0)
    r.set_route(np.array([[40.0, 1.75, 0.0], [70.0, 1.75, 0.0]]))
    image = r.render((50.0, 1.75), 0.0, hero_box(50.0, 1.75, 0.0), actors())
    cols = np.nonzero(image[..., 0])[1]
    assert abs(cols.mean() - (r.settings.size - 1) / 2) < 1.0
    assert image.sum() == pytest.approx(
        1.0 * 5 * r.settings.size, rel=0.15
    )  # crosses the whole view
    r.set_route(None)
    assert not r.render((50.0, 1.75), 0.0, hero_box(50.0, 1.75, 0.0), actors()).any()
    with pytest.raises(ValueError, match="route must be"):
        r.set_route(np.zeros((1, 2)))


def test_rgb_uses_the_original_palette():
    r = BirdViewRenderer(straight_static(), BirdViewSettings(mode="rgb", offset=0.0))
    lights = TrafficLights(np.array([[58.0, 8.0]]), np.array([RED]))
    image = r.render(
        (50.0, 1.75),
        0.0,
        hero_box(50.0, 1.75, 0.0),
        actors((60.0, -1.75, 180.0, VEHICLE), (45.0, 5.0, 0.0, WALKER, (0.3, 0.3))),
        lights,
    )
    assert image.shape == (192, 192, 3) and image.dtype == np.uint8
    ppm = 5

    def at(forward, right):
        return tuple(image[int(round(95.5 - forward * ppm)), int(round(95.5 + right * ppm))])

    assert at(0, 0) == palette.HERO
    assert at(10, -3.5) == palette.VEHICLE
    assert at(-5, 3.25) == palette.WALKER
    # the hero drives at y=1.75: road from y=-3.5 to 3.5, sidewalk to 5.5, yellow line at y=0
    assert at(-15, 0.5) == palette.ROAD
    assert at(-15, 3.0) == palette.SIDEWALK
    assert at(-15, 15.0) == palette.BACKGROUND
    assert at(-15, -1.75) == palette.MARKING_COLORS["Yellow"]
    assert at(-15, -5.25) == palette.MARKING_COLORS["White"]
    assert at(8, 6.25) == palette.LIGHT_COLORS["Red"]


@pytest.mark.parametrize("layers", [palette.STATIC_LAYERS, ("road", "lane_markings")])
def test_rgb_static_layers_are_the_palettes_colours_of_the_map_under_the_view(layers):
    """rgb warps the map's raster already in colour: every pixel is the palette's colour of
    the raster pixel under it, the background off the map; views anywhere, at any angle."""
    _, static = town03(2.0)
    settings = BirdViewSettings(size=64, pixels_per_meter=2.0, mode="rgb", layers=layers)
    renderer = BirdViewRenderer(static, settings)
    lut = palette.static_rgb_lut(layers)[:, 0]
    low = np.array(static.origin)
    high = low + np.array(static.raster.shape[::-1]) / static.pixels_per_meter
    rng = np.random.default_rng(0)
    for x, y in rng.uniform(low - 40.0, high + 40.0, (60, 2)):  # some views off the map
        yaw = float(rng.uniform(-180.0, 180.0))
        image = renderer.render((x, y), yaw, Boxes.empty(), Boxes.empty())
        world_to_px = renderer.view_transform((x, y), yaw)
        codes = renderer._warp_static(world_to_px, static.raster, 0)
        np.testing.assert_array_equal(image, lut[codes])
    assert static.coloured(layers) is static.coloured(layers)  # made once per layer set


def test_masks_are_binary_and_channels_follow_layers():
    static = town03()[1]
    for layers in (
        ("road",),
        ("hero", "road", "traffic_lights_green"),
        palette.DEFAULT_MASK_LAYERS,
    ):
        r = BirdViewRenderer(static, BirdViewSettings(mode="masks", layers=layers))
        image = r.render(
            (-80.0, 130.0),
            37.0,
            hero_box(-80.0, 130.0, 37.0),
            actors((-75.0, 133.0, 37.0, VEHICLE)),
        )
        assert image.shape == (192, 192, len(layers)) and image.dtype == np.uint8
        assert set(np.unique(image)) <= {0, 1}
        assert image[..., layers.index("road")].any()
    assert BirdViewSettings(mode="masks").layers == palette.DEFAULT_MASK_LAYERS


def test_town03_road_and_markings_agree_with_carla_map():
    """Sample pixels of real Town03 views and ask libcarla what lies under each."""
    import carla

    carla_map, static = town03()
    settings = BirdViewSettings(mode="masks", layers=("road", "lane_markings"))
    r = BirdViewRenderer(static, settings)
    rng = np.random.default_rng(3)
    waypoints = carla_map.generate_waypoints(20.0)
    # the map's drivable lane types (Town03's centre turn lanes are 'Bidirectional')
    drivable = carla.LaneType.Driving | carla.LaneType.Bidirectional
    agree = total = 0
    marking_lateral = []
    for wp in rng.choice(waypoints, 12, replace=False):
        loc, yaw = wp.transform.location, wp.transform.rotation.yaw
        image = r.render((loc.x, loc.y), yaw, Boxes.empty(), Boxes.empty())
        to_px = r.view_transform((loc.x, loc.y), yaw)
        inverse = np.linalg.inv(np.vstack([to_px, [0, 0, 1]]))[:2]
        for col, row in rng.integers(0, 192, (40, 2)):
            x, y = inverse @ [col, row, 1.0]
            on_road = carla_map.get_waypoint(
                carla.Location(x, y, 0.0), project_to_road=False, lane_type=drivable
            )
            agree += bool(image[row, col, 0]) == (on_road is not None)
            total += 1
        rows, cols = np.nonzero(image[..., 1])
        for col, row in list(zip(cols, rows, strict=True))[:: max(1, len(cols) // 20)]:
            x, y = inverse @ [col, row, 1.0]
            near = carla_map.get_waypoint(
                carla.Location(x, y, 0.0), project_to_road=True, lane_type=carla.LaneType.Any
            )
            centre = near.transform.location
            marking_lateral.append(
                abs(math.hypot(x - centre.x, y - centre.y) - near.lane_width / 2)
            )
    assert agree / total > 0.97, f"road mask agrees with carla.Map on {agree}/{total} pixels"
    # markings lie on lane borders: within about a pixel (0.2 m) plus the line's own width
    assert np.median(marking_lateral) < 0.3, np.percentile(marking_lateral, [50, 90])


def test_settings_from_yaml_attributes():
    s = BirdViewSettings.from_attributes({"type": "sensor.birdview", "size": "300", "radius": 15})
    assert (s.size, s.pixels_per_meter, s.radius, s.offset, s.mode) == (300, 10.0, 15.0, 7.5, "rgb")
    assert s.layers == palette.ALL_LAYERS and s.shape == (300, 300, 3)
    s = BirdViewSettings.from_attributes(
        {"mode": "masks", "layers": "road, hero", "pixels_per_meter": 4}
    )
    assert s.layers == ("road", "hero") and s.shape == (192, 192, 2) and s.radius == 24.0
    for bad, message in (
        ({"radius": 10, "pixels_per_meter": 5}, "radius or pixels_per_meter"),
        ({"mode": "lidar"}, "mode must be one of"),
        ({"layers": ["road", "clouds"]}, r"unknown layers \['clouds'\]"),
        ({"size": "big"}, "size must be a number"),
        ({"size": 100.5}, "whole number"),
        ({"radius": -1}, "radius must be positive"),
        ({"sizee": 100}, r"unknown option\(s\) \['sizee'\]"),
    ):
        with pytest.raises(ValueError, match=f"sensor 'bev': .*{message}"):
            BirdViewSettings.from_attributes(bad, "sensor 'bev'")


def test_rgb_layers_choose_what_is_drawn():
    settings = BirdViewSettings(mode="rgb", offset=0.0, layers=("road", "vehicles"))
    r = BirdViewRenderer(straight_static(), settings)
    bike = (60.0, -1.75, 0.0, TWO_WHEELER, (1.0, 0.4))
    image = r.render((50.0, 1.75), 0.0, hero_box(50.0, 1.75, 0.0), actors(bike))

    def at(forward, right):
        return tuple(image[int(round(95.5 - forward * 5)), int(round(95.5 + right * 5))])

    assert at(0, 0) == palette.ROAD  # no hero layer: the road shows through
    assert at(-15, 3.0) == palette.BACKGROUND  # no sidewalk layer
    assert at(-15, -1.75) == palette.ROAD  # no lane markings layer
    assert at(10, -3.5) == palette.TWO_WHEELER  # a two-wheeler is drawn with 'vehicles'


def test_the_route_span_draws_only_the_part_of_the_route_it_names():
    r = masks_renderer(layers=("route",), route_width=1.0, offset=0.0)
    r.set_route(np.array([[x, 1.75, 0.0] for x in range(40, 71)]))  # a point a metre
    view = ((50.0, 1.75), 0.0, hero_box(50.0, 1.75, 0.0), actors())
    whole = r.render(*view)[..., 0]
    r.set_route_span(10)  # from the hero's point (x = 50) on: the route ahead of it
    ahead = r.render(*view)[..., 0]
    centre = (r.settings.size - 1) / 2
    rows = np.nonzero(ahead)[0]
    # The hero drives up the image: what is left lies above the centre (give or take the line's
    # round end), where the whole route reached 10 m below it.
    assert rows.max() <= centre + 5.0 and np.nonzero(whole)[0].max() > centre + 20.0
    assert ahead.sum() < 0.8 * whole.sum()
    r.set_route_span(10, 11)  # a single metre
    assert 0 < r.render(*view)[..., 0].sum() < ahead.sum() / 5
