"""Navigation meshes built from maps: where walkers may go, how areas connect, heights, caching."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_integration.embedded.maps import builtin_xodr, ground_model
from rllib_integration.embedded.maps.opendrive import Geometry, OpenDrive, Pose, Road
from rllib_integration.embedded.maps.towns import DRIVING
from rllib_integration.embedded.navigation import (
    NAV_FOLDER,
    NavigationError,
    build_navmesh_bytes,
    navigation_mesh,
)
from rllib_integration.embedded.navigation import (
    mesh as nav_mesh,
)
from rllib_integration.embedded.navigation.surfaces import crosswalk_outlines
from rllib_integration.map_geometry import MapGeometry
from tests.conftest import CARLA_TOWNS
from tests.embedded.navigation.helpers import CROSSWALK, ROAD, SIDEWALK, MeshView

TOWN01 = CARLA_TOWNS / "Town01.xodr"


def built(name: str, xodr: str) -> MeshView:
    return MeshView(build_navmesh_bytes(name, xodr, ground_model(name, xodr).height))


@pytest.fixture(scope="module")
def grid01() -> MeshView:
    return built("Grid01", builtin_xodr("Grid01"))


def test_every_builtin_town_gets_a_valid_mesh_with_sidewalks_and_roads():
    for name in ("Loop01", "Grid01", "Highway01", "Roundabout01"):
        view = built(name, builtin_xodr(name))  # read back and checked by detour.read_navmesh
        areas = set(view.areas.tolist())
        assert {SIDEWALK, ROAD} <= areas, name


def test_sidewalks_of_the_map_are_walkable_sidewalk_or_crosswalk(grid01):
    geometry = MapGeometry.from_xodr("Grid01", builtin_xodr("Grid01"))
    samples = np.concatenate([s.center[:, :2] for s in geometry.lanes if s.kind == "sidewalk"])
    missing = [p for p in samples if not grid01.area_at(*p, tolerance=0.05) & {SIDEWALK, CROSSWALK}]
    assert not missing, f"{len(missing)} of {len(samples)} sidewalk points off the mesh"
    driving = np.concatenate([s.center[:, :2] for s in geometry.lanes if s.kind == "driving"])
    on_road = [grid01.area_at(*p) for p in driving[::7]]
    assert all(areas & {ROAD, CROSSWALK} for areas in on_road)


def test_crosswalks_join_the_blocks_at_every_junction_arm(grid01):
    # Grid01: four 4-way and eight T-junctions, 40 arms, each with sidewalks on both sides.
    assert len(grid01.components({CROSSWALK})) == 40
    assert len(grid01.components({SIDEWALK})) > 1  # roads part the blocks ...
    assert grid01.components({SIDEWALK, CROSSWALK}) == [
        int(np.isin(grid01.areas, [SIDEWALK, CROSSWALK]).sum())
    ]  # ... and crosswalks join them all: a walker that never steps on a road reaches any block


def test_junction_corners_are_paved_between_neighbouring_arms(grid01):
    # The junction at the lattice node (50, 50): its arms end 10 m from the centre and their
    # sidewalks run 4.5-7.5 m off the road's centre line, so the corner at (+8, +8) is pavement.
    for cx, cy in ((50, 50), (-50, 50), (50, -50)):
        for sx in (-1, 1):
            for sy in (-1, 1):
                assert SIDEWALK in grid01.area_at(cx + 8.5 * sx, cy + 8.5 * sy), (cx, cy, sx, sy)
        assert grid01.area_at(cx, cy) == {ROAD}  # the junction centre stays road


def test_mesh_heights_follow_the_ground_on_a_hill():
    xodr = builtin_xodr("Highway01")
    ground = ground_model("Highway01", xodr)
    view = built("Highway01", xodr)
    vertices = view.tile.vertices[:, [0, 2, 1]].astype(float)  # back to CARLA x, y, z
    expected = ground.height(vertices[:, 0], vertices[:, 1])
    assert np.abs(vertices[:, 2] - expected).max() < 1e-3
    assert vertices[:, 2].max() > 7.5  # the 8 m hill is in the mesh
    # Polygons are short enough that the mesh surface stays on the hill between vertices.
    centroids = np.array([p.centroid.coords[0] for p in view.polygons])
    mean_z = np.array(
        [vertices[view.tile.polygons["verts"][p, :n], 2].mean()
         for p, n in enumerate(view.tile.polygons["vert_count"])]
    )  # fmt: skip
    assert np.abs(mean_z - ground.height(centroids[:, 0], centroids[:, 1])).max() < 0.3


@pytest.mark.skipif(not TOWN01.exists(), reason=f"CARLA's towns not found at {CARLA_TOWNS}")
def test_town01_sidewalks_and_synthesised_crosswalks_form_one_network():
    view = built("Town01", TOWN01.read_text())
    assert len(view.components({CROSSWALK})) == 36  # one per arm of its 12 T-junctions
    assert len(view.components({SIDEWALK, CROSSWALK})) == 1


def test_a_map_without_sidewalks_has_no_navigation():
    odr = OpenDrive("NoSidewalk")
    odr.roads.append(
        Road(1, Pose(0.0, 0.0, 0.0), [Geometry(100.0)], right=[DRIVING], left=[DRIVING])
    )
    xodr = odr.to_xml()
    with pytest.raises(NavigationError, match="no sidewalk"):
        build_navmesh_bytes("NoSidewalk", xodr, ground_model("NoSidewalk", xodr).height)


def test_meshes_are_cached_on_disk_under_a_content_named_file(tmp_path, monkeypatch):
    xodr = builtin_xodr("Loop01")
    height = ground_model("Loop01", xodr).height
    nav_mesh.clear_memory()
    first = navigation_mesh("Loop01", xodr, height, cache_dir=tmp_path)
    assert first.file_name.startswith(NAV_FOLDER + "/Loop01_") and first.file_name.endswith(".bin")
    (cached,) = tmp_path.glob("*.bin")

    def no_build(*args):
        raise AssertionError("built again instead of read from the cache")

    monkeypatch.setattr(nav_mesh, "build_navmesh_bytes", no_build)
    nav_mesh.clear_memory()
    assert navigation_mesh("Loop01", xodr, height, cache_dir=tmp_path) == first
    # A damaged file fails its checksum and is rebuilt.
    cached.write_bytes(cached.read_bytes()[:-1] + b"\0")
    monkeypatch.undo()
    nav_mesh.clear_memory()
    assert navigation_mesh("Loop01", xodr, height, cache_dir=tmp_path) == first
    assert cached.read_bytes()[:-20] == first.data
    nav_mesh.clear_memory()


def test_prepare_builds_in_the_background_and_reports_unusable_maps_as_none(caplog):
    odr = OpenDrive("NoSidewalk2")
    odr.roads.append(Road(1, Pose(0.0, 0.0, 0.0), [Geometry(80.0)], right=[DRIVING]))
    xodr = odr.to_xml()
    future = nav_mesh.prepare("NoSidewalk2", xodr, ground_model("NoSidewalk2", xodr).height)
    assert future.result(timeout=60) is None
    assert "no pedestrian navigation" in caplog.text


def test_loop01_declares_crosswalks_that_join_its_inner_and_outer_sidewalks():
    import carla

    xodr = builtin_xodr("Loop01")
    outlines = crosswalk_outlines(carla.Map("Loop01", xodr).get_crosswalks())
    assert len(outlines) == 4  # one per side, across both lanes and shoulders (9 m) ...
    assert sorted(float(np.ptp(o, axis=0).max()) for o in outlines) == pytest.approx([9.0] * 4)
    view = built("Loop01", xodr)
    assert len(view.components({SIDEWALK})) == 2  # ... between the two rings of sidewalk
    assert len(view.components({SIDEWALK, CROSSWALK})) == 1
