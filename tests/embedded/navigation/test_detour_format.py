"""The Detour file writer and its checker: layout, references, winding, links, BV tree."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rllib_integration.embedded.navigation import detour

# Two 3 m x 2 m quads side by side (CARLA x-y, clockwise as Detour needs), sharing x = 3.
VERTICES = np.array([(0, 0, 0), (0, 2, 0), (3, 2, 0), (3, 0, 0), (6, 2, 0.5), (6, 0, 0.5)], float)
POLYGONS = [(0, 1, 2, 3), (3, 2, 4, 5)]
NEIGHBOURS = [(0, 0, 2, 0), (1, 0, 0, 0)]  # edge 2 -> 3 of quad 0 is edge 3 -> 2 of quad 1
AREAS = np.array([1, 2], np.uint8)
FLAGS = np.array([0x02, 0x04], np.uint16)


def encode(**changes) -> bytes:
    args = dict(
        vertices=VERTICES, polygons=POLYGONS, neighbours=NEIGHBOURS, areas=AREAS, flags=FLAGS
    )
    return detour.encode_navmesh(**(args | changes))


def test_two_quads_round_trip_with_the_layout_the_client_reads():
    data = encode()
    magic, version, tiles = struct.unpack_from("<iii", data)
    assert (magic, version, tiles) == (0x4D534554, 1, 1)
    tile_ref, size = struct.unpack_from("<Ii", data, 40)
    assert tile_ref == 1 << 1  # slot 0, salt 1, one bit of polygon index for two polygons
    # header + 6 vertices + 2 polys + 8 links + 2 detail meshes + 4 triangles + 3 BV nodes
    assert size == 100 + 6 * 12 + 2 * 32 + 8 * 12 + 2 * 12 + 4 * 4 + 3 * 16
    assert len(data) == 48 + size
    parsed = detour.read_navmesh(data)
    assert (parsed.max_tiles, parsed.max_polys) == (1, 2)
    tile = parsed.tiles[0][1]
    assert tile.vertices[4].tolist() == [6.0, 0.5, 2.0]  # Detour is y-up: (x, z, y)
    assert detour.polygon_areas(tile).tolist() == [1, 2]
    assert tile.polygons["flags"].tolist() == [0x02, 0x04]
    assert detour.polygon_vertices(tile, 1)[:, :2].tolist() == [[3, 0], [3, 2], [6, 2], [6, 0]]
    # Every point of the mesh lies inside the tile grid cell Detour looks it up in.
    ox, _, oz = parsed.origin
    assert ox < 0 < 6 < ox + parsed.tile_width and oz < 0 < 2 < oz + parsed.tile_height


def test_detail_triangles_are_the_fan_detour_builds_without_detail_meshes():
    tile = detour.read_navmesh(encode()).tiles[0][1]
    assert tile.detail_triangles.tolist() == [
        [0, 1, 2, 0x04 | 0x01],
        [0, 2, 3, 0x04 | 0x10],
        [0, 1, 2, 0x04 | 0x01],
        [0, 2, 3, 0x04 | 0x10],
    ]
    assert tile.detail_meshes["tri_base"].tolist() == [0, 2]


def test_bv_tree_holds_every_polygon_once_with_escape_indices():
    rng = np.random.default_rng(0)
    # A strip of 50 quads: enough for a deep tree.
    xs = np.arange(51) * 2.0
    top = [(x, 2.0, rng.uniform(0, 1)) for x in xs]
    bottom = [(x, 0.0, rng.uniform(0, 1)) for x in xs]
    vertices = np.array(top + bottom)
    n = len(xs)
    polygons = [(n + i, i, i + 1, n + i + 1) for i in range(50)]
    neighbours = [(i if i > 0 else 0, 0, i + 2 if i < 49 else 0, 0) for i in range(50)]
    data = detour.encode_navmesh(
        vertices, polygons, neighbours, np.ones(50, np.uint8), np.full(50, 2, np.uint16)
    )
    tile = detour.read_navmesh(data).tiles[0][1]
    assert len(tile.bv_nodes) == 99
    assert tile.bv_nodes["i"][0] == -99  # the root's escape jumps past the whole tree
    # Each leaf box contains its polygon's quantised vertices.
    q = (tile.vertices - np.array(tile.bmin, np.float32)) * tile.bv_quant_factor
    for node in tile.bv_nodes[tile.bv_nodes["i"] >= 0]:
        poly = tile.polygons[node["i"]]
        pts = q[poly["verts"][: poly["vert_count"]]]
        assert (node["bmin"] <= np.floor(pts.min(axis=0)) + 1e-3).all()
        assert (node["bmax"] >= np.ceil(pts.max(axis=0)) - 1e-3).all()


def test_checker_rejects_what_would_crash_or_mislead_the_client():
    reversed_winding = [(3, 2, 1, 0), (3, 2, 4, 5)]
    with pytest.raises(detour.NavMeshFormatError, match="wound"):
        detour.read_navmesh(encode(polygons=reversed_winding))
    with pytest.raises(detour.NavMeshFormatError, match="no twin edge"):
        detour.read_navmesh(encode(neighbours=[(0, 0, 2, 0), (0, 0, 0, 0)]))
    data = encode()
    with pytest.raises(detour.NavMeshFormatError, match="has only"):
        detour.read_navmesh(data[:-20])
    with pytest.raises(detour.NavMeshFormatError, match="set header"):
        detour.read_navmesh(b"TESM" + data[4:10])
    bad_tile = bytearray(data)
    struct.pack_into("<i", bad_tile, 48 + 4, 8)  # tile version 8: the client loads 0 tiles
    with pytest.raises(detour.NavMeshFormatError, match="version"):
        detour.read_navmesh(bytes(bad_tile))
    zero_ref = bytearray(data)
    struct.pack_into("<I", zero_ref, 40, 0)  # tile_ref 0 ends the tile list in the client
    with pytest.raises(detour.NavMeshFormatError, match="tile record"):
        detour.read_navmesh(bytes(zero_ref))


def test_writer_refuses_polygons_detour_cannot_hold():
    with pytest.raises(ValueError, match="vertices"):
        encode(polygons=[(0, 1, 2, 3, 4, 5, 0), (3, 2, 4, 5)])
    too_many = np.zeros((70_000, 3))
    with pytest.raises(ValueError, match="at most 65535 vertices"):
        encode(vertices=too_many)
