"""What the scene has, through the real client: level boxes, environment objects, crosswalks,
and the maps a server offers."""

import pytest

from tests.conftest import CARLA_TOWNS, start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

CARLA_2020_TOWNS = CARLA_TOWNS.parent / "carla-2020"  # OpenDRIVE exports with crosswalks

SCENE = """
L = carla.CityObjectLabel
car = world.spawn_actor(library.find("vehicle.audi.a2"), spawn_points[0])
world.tick()
def boxes(label):
    return [[b.location.x, b.location.y, b.location.z, b.extent.x, b.extent.y, b.extent.z,
             b.rotation.yaw] for b in world.get_level_bbs(label)]
def objects(label):
    return [[o.id, o.name, int(o.type), o.bounding_box.location.x, o.bounding_box.location.y]
            for o in world.get_environment_objects(label)]
crosswalks = [[p.x, p.y] for p in carla_map.get_crosswalks()]
t = car.get_transform()
result(
    boxes={name: boxes(getattr(L, name)) for name in
           ("Any", "Roads", "Sidewalks", "RoadLines", "Car", "Buildings")},
    objects={name: objects(getattr(L, name)) for name in
             ("Any", "Roads", "Sidewalks", "RoadLines", "Buildings")},
    again=objects(L.Any), crosswalks=crosswalks, car=[t.location.x, t.location.y, t.rotation.yaw],
    spawn=[[p.location.x, p.location.y] for p in spawn_points[:20]])
car.destroy()
"""


def _inside(point, box, margin=0.05) -> bool:
    x, y = point[:2]
    cx, cy, _, ex, ey = box[:5]
    return abs(x - cx) <= ex + margin and abs(y - cy) <= ey + margin


def test_level_boxes_and_environment_objects_are_the_roads_sidewalks_crosswalks_and_actors(
    embedded_server,
):
    r, _ = run_on_server(embedded_server, SCENE)
    boxes, objects = r["boxes"], r["objects"]
    # Loop01: its roads, its sidewalks, the crosswalks of its OpenDRIVE; no buildings.
    for label in ("Roads", "Sidewalks", "RoadLines"):
        assert objects[label] and len(boxes[label]) == len(objects[label]), label
    assert objects["Buildings"] == [] and boxes["Buildings"] == []
    assert len(objects["Any"]) == sum(len(objects[k]) for k in ("Roads", "Sidewalks", "RoadLines"))
    assert r["again"] == objects["Any"]  # ids and names are stable
    assert len({o[0] for o in objects["Any"]}) == len(objects["Any"])
    # Every crosswalk point the client reads from the OpenDRIVE lies in a crosswalk object ...
    assert r["crosswalks"]
    for point in r["crosswalks"]:
        assert any(_inside(point, box) for box in boxes["RoadLines"]), point
    # ... every spawn point on a road object, and the car is a level box where it stands.
    for point in r["spawn"]:
        assert any(_inside(point, box) for box in boxes["Roads"]), point
    (car,) = boxes["Car"]
    assert car[:2] == pytest.approx(r["car"][:2], abs=0.01) and car[6] == pytest.approx(r["car"][2])
    assert len(boxes["Any"]) == len(objects["Any"]) + 1
    assert_no_unknown_rpc(embedded_server)


@pytest.mark.skipif(not CARLA_2020_TOWNS.is_dir(), reason="CARLA's 2020 town exports absent")
def test_a_carla_town_served_from_map_dir_has_its_crosswalks():
    with start_embedded_server("--map-dir", str(CARLA_2020_TOWNS), map_name="Town10HD") as server:
        body = """
result(points=len(carla_map.get_crosswalks()),
       objects=len(world.get_environment_objects(carla.CityObjectLabel.RoadLines)),
       maps=client.get_available_maps())
"""
        r, _ = run_on_server(server, body)
    assert r["points"] == 80  # 16 outlines of 5 points (closed), as the client parses them
    assert r["objects"] == 16
    assert "/Game/Carla/Maps/Town10HD" in r["maps"]


LIST_AND_LOAD = """
maps = client.get_available_maps()
world = client.load_world("Town01")
result(maps=maps, loaded=world.get_map().name)
"""


@pytest.mark.skipif(not (CARLA_TOWNS / "Town01.xodr").exists(), reason="CARLA towns absent")
@pytest.mark.parametrize("source", ["--map-dir", "CARLA_ROOT"])
def test_available_maps_list_the_carla_towns_served_and_load_by_name(source, tmp_path, monkeypatch):
    if source == "--map-dir":
        args = ("--map-dir", str(CARLA_TOWNS))
    else:  # a CARLA install: its towns' OpenDRIVE lives in CarlaUE4/Content/Carla/Maps/OpenDrive
        folder = tmp_path / "CarlaUE4" / "Content" / "Carla" / "Maps" / "OpenDrive"
        folder.mkdir(parents=True)
        for town in ("Town01", "Town02"):
            (folder / f"{town}.xodr").symlink_to(CARLA_TOWNS / f"{town}.xodr")
        monkeypatch.setenv("CARLA_ROOT", str(tmp_path))
        args = ()
    with start_embedded_server(*args) as server:
        r, _ = run_on_server(server, LIST_AND_LOAD, sync=False, timeout=120)
    assert r["maps"][:4] == [
        f"/Game/Carla/Maps/{t}" for t in ("Loop01", "Grid01", "Highway01", "Roundabout01")
    ]
    assert {"/Game/Carla/Maps/Town01", "/Game/Carla/Maps/Town02"} <= set(r["maps"])
    assert r["loaded"].endswith("Town01")
