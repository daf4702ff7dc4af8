"""A map's navigation mesh as the client downloads it: built once per OpenDRIVE text (cached in
memory and on disk), in a background thread from the moment the map loads.

The client asks ``get_required_files("Nav")`` on its first tick of an episode and, unless its own
cache (``$CARLA_CACHE_DIR`` or ``~/carlaCache``, then ``0.9.16/<file name>``) already has the
file, ``request_file(name)``. It keys that cache by the file name alone, so the name carries a
hash of the content: a rebuilt mesh gets a new name instead of being shadowed by a stale copy.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from rllib_integration.embedded.navigation import cache, detour
from rllib_integration.embedded.navigation.polymesh import build_polymesh
from rllib_integration.embedded.navigation.surfaces import (
    FLAG_OF_AREA,
    SIDEWALK,
    crosswalk_outlines,
    walkable_surfaces,
)
from rllib_integration.map_geometry import MapGeometry, xodr_sha1

log = logging.getLogger(__name__)

NAV_FOLDER = "Carla/Maps/Nav"
BUILDER_VERSION = 1  # bump whenever the same OpenDRIVE would give a different mesh
Height = Callable[[np.ndarray, np.ndarray], np.ndarray]


class NavigationError(Exception):
    """A map on which walkers cannot navigate (no sidewalks, too large for one tile...)."""


@dataclass(frozen=True)
class NavigationMesh:
    file_name: str  # what get_required_files("Nav") answers: Carla/Maps/Nav/<Map>_<hash>.bin
    data: bytes


def build_navmesh_bytes(name: str, xodr: str, height: Height) -> bytes:
    """The Detour file of validated OpenDRIVE text; ``height(x, y)`` is the server's ground."""
    import carla

    carla_map = carla.Map(name, xodr)
    geometry = MapGeometry.from_carla_map(carla_map)
    outlines = crosswalk_outlines(carla_map.get_crosswalks())
    mesh = build_polymesh(walkable_surfaces(geometry, xodr, outlines), height)
    if not (mesh.areas == SIDEWALK).any():
        # The client's random locations come from sidewalks only; without any it recurses
        # until it overflows its stack on the first go_to_location.
        raise NavigationError(f"map {name!r} has no sidewalk to walk on")
    try:
        data = detour.encode_navmesh(
            mesh.vertices, mesh.polygons, mesh.neighbours, mesh.areas, FLAG_OF_AREA[mesh.areas]
        )
    except ValueError as error:
        raise NavigationError(f"map {name!r}: {error}") from None
    detour.read_navmesh(data)  # the client trusts the file blindly: check what we wrote
    return data


def navigation_mesh(
    name: str, xodr: str, height: Height, cache_dir: str | None = None
) -> NavigationMesh:
    """The mesh of a map, from memory, the disk cache or built now."""
    key = xodr_sha1(xodr)
    with _memory_lock:
        if key in _memory:
            return _memory[key]
    safe = cache.safe_name(name)
    stem = f"{safe}_{key[:16]}_v{BUILDER_VERSION}"
    data = cache.load_or_build(stem, lambda: build_navmesh_bytes(name, xodr, height), cache_dir)
    digest = hashlib.sha1(data).hexdigest()[:12]
    mesh = NavigationMesh(f"{NAV_FOLDER}/{safe}_{digest}.bin", data)
    with _memory_lock:
        if len(_memory) >= _MEMORY_ENTRIES:
            _memory.pop(next(iter(_memory)))
        _memory[key] = mesh
    return mesh


def clear_memory() -> None:
    """Forget the meshes kept in this process (the disk cache stays)."""
    with _memory_lock:
        _memory.clear()


def prepare(name: str, xodr: str, height: Height) -> Future[NavigationMesh | None]:
    """Start building (or loading) the mesh in the background; the future gives None, after
    logging why, for a map walkers cannot navigate."""
    return _builder.submit(_mesh_or_none, name, xodr, height)


def _mesh_or_none(name: str, xodr: str, height: Height) -> NavigationMesh | None:
    try:
        return navigation_mesh(name, xodr, height)
    except NavigationError as error:
        log.warning("no pedestrian navigation: %s", error)
    except Exception:
        log.exception("building the navigation mesh of %s failed", name)
    return None


_memory: dict[str, NavigationMesh] = {}
_memory_lock = threading.Lock()
_MEMORY_ENTRIES = 4
_builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="navmesh")
