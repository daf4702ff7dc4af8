"""Maps of the embedded server: built-in OpenDRIVE towns, the catalog, validation, ground model.

Typical server use::

    from rllib_integration.embedded import maps

    loaded = maps.load_map("Town01", map_dirs=["/data/maps"])   # MapError with one clear message
    ground = maps.ground_model(loaded.name, loaded.xodr)   # cached per OpenDRIVE sha1
    ground.height(xs, ys); ground.surface(xs, ys); ground.speed_limit(xs, ys)
    ground.spawn_points(); ground.geo_reference

``load_map`` validates the OpenDRIVE in a subprocess before anything touches it in-process, so a
malformed or hostile file is rejected instead of crashing the server.
"""

from .catalog import (
    CLIENT_MAP_PREFIX,
    LoadedMap,
    MapSource,
    available_maps,
    client_map_path,
    find_map,
    find_named_map,
    list_maps,
    load_map,
    load_named_map,
    read_map,
    resolve_map,
)
from .ground import (
    SURFACE_NONE,
    SURFACE_ROAD,
    SURFACE_SHOULDER,
    SURFACE_SIDEWALK,
    SURFACE_WHITE_MARKING,
    SURFACE_YELLOW_MARKING,
    GroundModel,
    SpawnPoint,
    ground_model,
)
from .towns import BUILTIN_TOWNS, DEFAULT_TOWN, builtin_xodr
from .validation import MapError, MapReport, sanitize_xodr, validate_xodr

__all__ = [
    "BUILTIN_TOWNS",
    "CLIENT_MAP_PREFIX",
    "DEFAULT_TOWN",
    "SURFACE_NONE",
    "SURFACE_ROAD",
    "SURFACE_SHOULDER",
    "SURFACE_SIDEWALK",
    "SURFACE_WHITE_MARKING",
    "SURFACE_YELLOW_MARKING",
    "GroundModel",
    "LoadedMap",
    "MapError",
    "MapReport",
    "MapSource",
    "SpawnPoint",
    "available_maps",
    "builtin_xodr",
    "client_map_path",
    "find_map",
    "find_named_map",
    "ground_model",
    "list_maps",
    "load_map",
    "load_named_map",
    "read_map",
    "resolve_map",
    "sanitize_xodr",
    "validate_xodr",
]
