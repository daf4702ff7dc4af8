"""The server's view of a map: name, OpenDRIVE, spawn points, ground model and bounds.

Thin adapter over the map catalog in `embedded/maps` (which validates OpenDRIVE in a subprocess
before anything touches it in-process); the world only sees `ServerMap`.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from rllib_integration.embedded import maps, navigation
from rllib_integration.embedded.maps import MapError

__all__ = ["MapError", "ServerMap", "available_maps", "load_map", "XODR_PREFIX"]

# `client.generate_opendrive_world(xodr)` loads an OpenDRIVE string rather than a named map.
XODR_PREFIX = "xodr:"
GENERATED_MAP_NAME = "OpenDriveMap"


@dataclass
class ServerMap:
    name: str
    xodr: str
    spawn_points: list[tuple[float, float, float, float, float, float]]
    ground: maps.GroundModel
    bounds: tuple[float, float, float, float]
    navigation: Future[navigation.NavigationMesh | None]  # built in the background from load

    @property
    def path(self) -> str:
        return maps.client_map_path(self.name)


def _dirs(map_dir: str | None) -> list[str]:
    return [map_dir] if map_dir else []


def available_maps(map_dir: str | None = None) -> list[str]:
    return maps.list_maps(_dirs(map_dir))


def load_map(spec: str, map_dir: str | None = None) -> ServerMap:
    """A validated map by name, `.xodr` path, or `xodr:<OpenDRIVE text>`; MapError otherwise."""
    if spec.startswith(XODR_PREFIX):
        name = GENERATED_MAP_NAME
        xodr = maps.sanitize_xodr(spec[len(XODR_PREFIX) :])
        maps.validate_xodr(name, xodr, label="generated OpenDRIVE")
    else:
        loaded = maps.load_map(spec, _dirs(map_dir))
        name, xodr = loaded.name, loaded.xodr
    ground = maps.ground_model(name, xodr)
    points = [p.as_tuple() for p in ground.spawn_points()]
    if not points:
        raise MapError(f"map {spec[:200]!r} has no driving lane to spawn vehicles on")
    mesh = navigation.prepare(name, xodr, ground.height)
    return ServerMap(name, xodr, points, ground, tuple(ground.bounds), mesh)
