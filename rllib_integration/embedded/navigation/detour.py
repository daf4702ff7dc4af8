"""Detour navigation-mesh files as CARLA 0.9.16's client loads them (``Navigation::Load``).

A file is RecastBuilder's "MSET" set header (magic, version 1, tile count, ``dtNavMeshParams``)
followed by tile records ``(tile_ref: u32, size: i32, tile data)``; a tile is a ``dtMeshHeader``
('DNAV', version 7) and its arrays, each padded to 4 bytes: vertices, ``dtPoly``s, ``dtLink``s
(rebuilt on load, written zeroed), ``dtPolyDetail``s, detail vertices, detail triangles and the
bounding-volume tree. Everything is little-endian, 32-bit polygon references (the wheel is built
without ``DT_POLYREF64``). Detour is y-up: a CARLA point (x, y, z) is stored as (x, z, y).

This module writes one tile and reads files back for validation; the layout was checked against
Detour's ``dtNavMesh::addTile`` / ``dtCreateNavMeshData`` and the client's loader (see
shared/docs/reference/carla_walker_navigation.md §2). The client does not check what it loads:
a wrong count or winding crashes it, so ``read_navmesh`` re-checks every rule the writer relies on.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

SET_MAGIC = 0x4D534554  # 'MSET'
SET_VERSION = 1
TILE_MAGIC = 0x444E4156  # 'DNAV'
TILE_VERSION = 7
VERTS_PER_POLYGON = 6
MAX_VERTICES = 0xFFFF  # polygon vertex indices are u16
MAX_POLY_BITS = 22  # salt bits (32 - tile bits - poly bits) must stay >= 10
EXTERNAL_LINK = 0x8000
DETAIL_EDGE_BOUNDARY = 0x01

_SET_HEADER = struct.Struct("<iii3fffii")  # magic, version, tiles, orig, tile w/h, max tiles/polys
_TILE_RECORD = struct.Struct("<Ii")
_MESH_HEADER = struct.Struct("<iiiiiIiiiiiiiiifff3f3ff")
_POLY = np.dtype(
    [
        ("first_link", "<u4"),
        ("verts", "<u2", (6,)),
        ("neis", "<u2", (6,)),
        ("flags", "<u2"),
        ("vert_count", "u1"),
        ("area_and_type", "u1"),
    ]
)
_LINK_SIZE = 12
_POLY_DETAIL = np.dtype(
    [("vert_base", "<u4"), ("tri_base", "<u4"), ("vert_count", "u1"), ("tri_count", "u1")],
    align=True,
)
_BV_NODE = np.dtype([("bmin", "<u2", (3,)), ("bmax", "<u2", (3,)), ("i", "<i4")])
assert _SET_HEADER.size == 40 and _MESH_HEADER.size == 100
assert _POLY.itemsize == 32 and _POLY_DETAIL.itemsize == 12 and _BV_NODE.itemsize == 16

TILE_MARGIN_M = 1.0  # the tile grid cell reaches this far beyond the vertices


@dataclass(frozen=True)
class AgentSettings:
    """Header values RecastBuilder writes for CARLA (walkable height/radius/climb, metres)."""

    height: float = 1.8
    radius: float = 0.3
    climb: float = 0.3
    cell_size: float = 0.3  # BV-tree quantisation step (1 / bvQuantFactor)


@dataclass
class NavTile:
    """One tile as Detour sees it, in Detour coordinates (y up)."""

    vertices: np.ndarray  # (V, 3) float32, Detour (x, y, z) = CARLA (x, z, y)
    polygons: np.ndarray  # (P,) _POLY records
    detail_meshes: np.ndarray  # (P,) _POLY_DETAIL records
    detail_triangles: np.ndarray  # (T, 4) uint8
    bv_nodes: np.ndarray  # (N,) _BV_NODE records
    bmin: tuple[float, float, float]
    bmax: tuple[float, float, float]
    bv_quant_factor: float
    max_link_count: int
    agent: AgentSettings


@dataclass
class NavMeshFile:
    """A parsed file: the set parameters and its tiles with their references."""

    origin: tuple[float, float, float]
    tile_width: float
    tile_height: float
    max_tiles: int
    max_polys: int
    tiles: list[tuple[int, NavTile]]


class NavMeshFormatError(ValueError):
    """A navigation-mesh file that the client would reject or crash on."""


def poly_bits(max_polys: int) -> int:
    """Bits of a polygon index in a reference (Detour: log2 of the next power of two)."""
    return max(0, math.ceil(math.log2(max(1, max_polys))))


def encode_navmesh(
    vertices: np.ndarray,
    polygons: list[tuple[int, ...]],
    neighbours: list[tuple[int, ...]],
    areas: np.ndarray,
    flags: np.ndarray,
    agent: AgentSettings = AgentSettings(),
) -> bytes:
    """A one-tile navigation-mesh file.

    ``vertices`` are CARLA (x, y, z); each polygon lists 3..6 vertex indices, convex and wound so
    that Detour's fan areas are positive (clockwise seen from above in CARLA's x-y axes);
    ``neighbours[p][j]`` is 1 + the polygon across edge j (vertex j to j+1) or 0 for a wall.
    """
    tile = _tile_data(vertices, polygons, neighbours, areas, flags, agent)
    bmin = np.asarray(vertices, np.float64).min(axis=0)
    bmax = np.asarray(vertices, np.float64).max(axis=0)
    orig = (bmin[0] - TILE_MARGIN_M, bmin[2] - TILE_MARGIN_M, bmin[1] - TILE_MARGIN_M)
    width = float(bmax[0] - bmin[0]) + 2 * TILE_MARGIN_M
    height = float(bmax[1] - bmin[1]) + 2 * TILE_MARGIN_M
    count = len(polygons)
    header = _SET_HEADER.pack(SET_MAGIC, SET_VERSION, 1, *orig, width, height, 1, count)
    # Tile slot 0 with salt 1: a salt of 0 would make polygon 0's reference 0 ("none").
    tile_ref = 1 << poly_bits(count)
    return header + _TILE_RECORD.pack(tile_ref, len(tile)) + tile


def _tile_data(vertices, polygons, neighbours, areas, flags, agent: AgentSettings) -> bytes:
    count = len(polygons)
    if not 0 < count <= 1 << MAX_POLY_BITS:
        raise ValueError(f"a tile holds 1..{1 << MAX_POLY_BITS} polygons, got {count}")
    if len(vertices) > MAX_VERTICES:
        raise ValueError(f"a tile holds at most {MAX_VERTICES} vertices, got {len(vertices)}")
    carla_xyz = np.asarray(vertices, np.float64)
    verts = carla_xyz[:, [0, 2, 1]].astype(np.float32)
    polys = np.zeros(count, _POLY)
    detail = np.zeros(count, _POLY_DETAIL)
    triangles: list[tuple[int, int, int, int]] = []
    for p, (poly, neis) in enumerate(zip(polygons, neighbours, strict=True)):
        n = len(poly)
        if not 3 <= n <= VERTS_PER_POLYGON:
            raise ValueError(f"polygon {p} has {n} vertices (3..{VERTS_PER_POLYGON} allowed)")
        polys["verts"][p, :n] = poly
        polys["neis"][p, :n] = neis
        detail[p] = (0, len(triangles), 0, n - 2)
        triangles += _fan(n)
    polys["first_link"] = 0xFFFFFFFF
    polys["flags"] = flags
    polys["vert_count"] = [len(p) for p in polygons]
    polys["area_and_type"] = np.asarray(areas, np.uint8) & 0x3F
    bmin = verts.min(axis=0) - np.float32(0.5)
    bmax = verts.max(axis=0) + np.float32(0.5)
    quant = min(1.0 / agent.cell_size, 0xFFFF / float(max(bmax - bmin)))
    bv = _bv_tree(verts, polygons, bmin, quant)
    links = sum(len(p) for p in polygons)  # one per edge at most in a single tile
    header = _MESH_HEADER.pack(
        TILE_MAGIC, TILE_VERSION, 0, 0, 0, 0,
        count, len(verts), links, count, 0, len(triangles), len(bv), 0, count,
        agent.height, agent.radius, agent.climb, *bmin, *bmax, quant,
    )  # fmt: skip
    parts = [
        header,
        verts.tobytes(),
        polys.tobytes(),
        bytes(_LINK_SIZE * links),
        detail.tobytes(),
        np.asarray(triangles, np.uint8).tobytes(),
        bv.tobytes(),
    ]
    return b"".join(part + bytes(-len(part) % 4) for part in parts)


def _fan(n: int) -> list[tuple[int, int, int, int]]:
    """Detail triangles (0, j-1, j) of an n-gon with no detail vertices, flagging the edges on the
    polygon outline as ``dtCreateNavMeshData`` does (a polygon must have >= 1 triangle: Detour's
    height query dereferences them)."""
    tris = []
    for j in range(2, n):
        edge_flags = DETAIL_EDGE_BOUNDARY << 2  # j-1 -> j is always an outline edge
        if j == 2:
            edge_flags |= DETAIL_EDGE_BOUNDARY  # 0 -> 1
        if j == n - 1:
            edge_flags |= DETAIL_EDGE_BOUNDARY << 4  # n-1 -> 0
        tris.append((0, j - 1, j, edge_flags))
    return tris


def _bv_tree(verts: np.ndarray, polygons, bmin: np.ndarray, quant: float) -> np.ndarray:
    """Detour's bounding-volume tree: depth-first nodes, median split on the longest axis;
    a leaf holds its polygon index, an inner node minus the size of its subtree (escape)."""
    boxes = np.empty((len(polygons), 6), np.int64)
    for p, poly in enumerate(polygons):
        q = (verts[list(poly)] - bmin) * quant
        boxes[p, :3] = np.floor(q.min(axis=0))
        boxes[p, 3:] = np.ceil(q.max(axis=0))
    boxes = np.clip(boxes, 0, 0xFFFF)
    nodes = np.zeros(2 * len(polygons) - 1, _BV_NODE)
    cursor = 0

    def build(items: np.ndarray) -> None:
        nonlocal cursor
        here = cursor
        cursor += 1
        lo, hi = boxes[items, :3].min(axis=0), boxes[items, 3:].max(axis=0)
        nodes[here] = (lo, hi, items[0])
        if len(items) == 1:
            return
        axis = int(np.argmax(hi - lo))
        order = items[np.argsort(boxes[items, axis], kind="stable")]
        half = len(order) // 2
        build(order[:half])
        build(order[half:])
        nodes["i"][here] = -(cursor - here)

    build(np.arange(len(polygons)))
    return nodes


# ---------------------------------------------------------------- reading and checking


def read_navmesh(data: bytes) -> NavMeshFile:
    """Parse a file and check it the way the client and Detour will use it; NavMeshFormatError
    names the first problem."""
    if len(data) < _SET_HEADER.size:
        raise NavMeshFormatError(f"file is {len(data)} bytes, shorter than the set header")
    magic, version, count, ox, oy, oz, width, height, max_tiles, max_polys = (
        _SET_HEADER.unpack_from(data)
    )
    if magic != SET_MAGIC or version != SET_VERSION:
        raise NavMeshFormatError(f"set header magic/version {magic:#x}/{version}")
    if poly_bits(max_tiles) + poly_bits(max_polys) > MAX_POLY_BITS:
        raise NavMeshFormatError(f"{max_tiles} tiles x {max_polys} polygons leave < 10 salt bits")
    offset, tiles = _SET_HEADER.size, []
    for _ in range(count):
        tile_ref, size = _TILE_RECORD.unpack_from(data, offset)
        offset += _TILE_RECORD.size
        if tile_ref == 0 or size <= 0:
            raise NavMeshFormatError(f"tile record at byte {offset - 8}: ref {tile_ref}, {size} B")
        if offset + size > len(data):
            raise NavMeshFormatError(
                f"tile at byte {offset} claims {size} bytes; the file has only {len(data) - offset}"
            )
        tile = _read_tile(data[offset : offset + size], max_polys)
        if (tile_ref >> poly_bits(max_polys)) & ((1 << poly_bits(max_tiles)) - 1) >= max_tiles:
            raise NavMeshFormatError(f"tile ref {tile_ref:#x} names a slot beyond {max_tiles}")
        tiles.append((tile_ref, tile))
        offset += size
    return NavMeshFile((ox, oy, oz), width, height, max_tiles, max_polys, tiles)


def _read_tile(data: bytes, max_polys: int) -> NavTile:
    h = _MESH_HEADER.unpack_from(data)
    magic, version, _, _, _, _, polys_n, verts_n, links_n, detail_n, dverts_n, dtris_n = h[:12]
    bv_n, offmesh_n, _, walk_h, walk_r, climb = h[12:18]
    bmin, bmax, quant = h[18:21], h[21:24], h[24]
    if magic != TILE_MAGIC or version != TILE_VERSION:
        raise NavMeshFormatError(f"tile magic/version {magic:#x}/{version}")
    if polys_n > max_polys or links_n < 1 or detail_n != polys_n or dverts_n or offmesh_n:
        raise NavMeshFormatError(
            f"tile counts: {polys_n} polygons (max {max_polys}), {links_n} links, "
            f"{detail_n} detail meshes, {dverts_n} detail vertices, {offmesh_n} off-mesh links"
        )
    sections = [
        (verts_n * 12, np.dtype("<f4")),
        (polys_n * 32, _POLY),
        (links_n * _LINK_SIZE, None),
        (detail_n * 12, _POLY_DETAIL),
        (dtris_n * 4, np.dtype("u1")),
        (bv_n * 16, _BV_NODE),
    ]
    arrays, offset = [], _MESH_HEADER.size
    for size, dtype in sections:
        if offset + size > len(data):
            raise NavMeshFormatError(f"tile data is {len(data)} bytes, shorter than its counts")
        if dtype is not None:
            arrays.append(np.frombuffer(data, dtype, size // dtype.itemsize, offset))
        offset += size + (-size % 4)
    if offset != len(data):
        raise NavMeshFormatError(f"tile data is {len(data)} bytes, its counts say {offset}")
    verts, polys, detail, tris, bv = arrays
    tile = NavTile(
        verts.reshape(-1, 3), polys, detail, tris.reshape(-1, 4), bv,
        tuple(bmin), tuple(bmax), quant, links_n, AgentSettings(walk_h, walk_r, climb),
    )  # fmt: skip
    _check_tile(tile)
    return tile


def _check_tile(tile: NavTile) -> None:
    polys, verts = tile.polygons, tile.vertices
    counts = polys["vert_count"].astype(int)
    if ((counts < 3) | (counts > VERTS_PER_POLYGON)).any():
        raise NavMeshFormatError("a polygon has fewer than 3 or more than 6 vertices")
    if tile.max_link_count < counts.sum():
        raise NavMeshFormatError(f"{tile.max_link_count} links for {counts.sum()} polygon edges")
    for p, n in enumerate(counts):
        idx = polys["verts"][p, :n]
        if idx.max() >= len(verts):
            raise NavMeshFormatError(f"polygon {p} uses vertex {idx.max()} of {len(verts)}")
        xz = verts[idx][:, [0, 2]]
        ab, ac = xz[1:-1] - xz[0], xz[2:] - xz[0]
        fan = ac[:, 0] * ab[:, 1] - ab[:, 0] * ac[:, 1]  # dtTriArea2D, in float32 as Detour
        if not (fan > 0).all():
            raise NavMeshFormatError(f"polygon {p} is not wound as Detour needs (fan area <= 0)")
        for j, nei in enumerate(polys["neis"][p, :n]):
            if nei == 0 or nei & EXTERNAL_LINK:
                continue
            other = int(nei) - 1
            if other >= len(polys) or not _points_back(polys[other], idx[j], idx[(j + 1) % n], p):
                raise NavMeshFormatError(
                    f"polygon {p} edge {j}: neighbour {other} has no twin edge"
                )
        d = tile.detail_meshes[p]
        if d["tri_count"] != n - 2 or d["vert_count"] != 0:
            raise NavMeshFormatError(
                f"polygon {p}: detail mesh {d} is not its {n - 2}-triangle fan"
            )
        if d["tri_base"] + d["tri_count"] > len(tile.detail_triangles):
            raise NavMeshFormatError(f"polygon {p}: detail triangles beyond the array")
    _check_bv_tree(tile)


def _points_back(other: np.void, a: int, b: int, me: int) -> bool:
    """Whether polygon ``other`` has the edge b -> a and names polygon ``me`` across it."""
    n = int(other["vert_count"])
    v = other["verts"][:n]
    return any(v[k] == b and v[(k + 1) % n] == a and other["neis"][k] == me + 1 for k in range(n))


def _check_bv_tree(tile: NavTile) -> None:
    nodes = tile.bv_nodes
    if len(nodes) == 0:
        return
    leaves = nodes["i"][nodes["i"] >= 0]
    if sorted(leaves.tolist()) != list(range(len(tile.polygons))):
        raise NavMeshFormatError("the BV tree does not hold every polygon exactly once")
    k = 0
    while k < len(nodes):  # every escape jumps forward within the array, as Detour walks it
        i = int(nodes["i"][k])
        if i < 0 and not 1 < -i <= len(nodes) - k:
            raise NavMeshFormatError(f"BV node {k} escapes to {k - i} of {len(nodes)}")
        k += 1


def polygon_areas(tile: NavTile) -> np.ndarray:
    """Detour area id of each polygon (low 6 bits)."""
    return tile.polygons["area_and_type"] & 0x3F


def polygon_vertices(tile: NavTile, p: int) -> np.ndarray:
    """CARLA (x, y, z) of polygon ``p``'s vertices."""
    n = int(tile.polygons["vert_count"][p])
    return tile.vertices[tile.polygons["verts"][p, :n]][:, [0, 2, 1]].astype(np.float64)
