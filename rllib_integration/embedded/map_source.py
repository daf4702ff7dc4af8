"""The server's view of a map: name, OpenDRIVE, spawn points, ground model, bounds and signals.

Thin adapter over the map catalog in `embedded/maps` (which validates OpenDRIVE in a subprocess
before anything touches it in-process); the world only sees `ServerMap`.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from rllib_integration.embedded import maps, navigation
from rllib_integration.embedded.maps import MapError
from rllib_integration.embedded.signals import SignalLayout, signal_layout

__all__ = [
    "MapError",
    "ServerMap",
    "XODR_PREFIX",
    "available_maps",
    "load_client_map",
    "load_map",
    "operator_files",
]

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
    # Built with the map, not when the episode switches: the switch must be quick (episode_switch).
    signals: SignalLayout = field(default_factory=lambda: SignalLayout([], []))

    @property
    def path(self) -> str:
        return maps.client_map_path(self.name)


def _dirs(map_dir: str | None) -> list[str]:
    return [map_dir] if map_dir else []


def available_maps(map_dir: str | None = None, files: Iterable[str] = ()) -> list[str]:
    return maps.list_maps(_dirs(map_dir), files=files)


def operator_files(spec: str) -> list[str]:
    """The file the server's --map names, if it is a path: clients may then load it by name."""
    path = Path(spec).expanduser()
    return [str(path)] if not spec.startswith(XODR_PREFIX) and path.is_file() else []


def load_map(spec: str, map_dir: str | None = None) -> ServerMap:
    """The operator's map (the command line): by name, `.xodr` path, or `xodr:<OpenDRIVE>`."""
    if spec.startswith(XODR_PREFIX):
        return _generated(spec[len(XODR_PREFIX) :])
    loaded = maps.load_map(spec, _dirs(map_dir))
    return _serve(loaded.name, loaded.xodr)


def load_client_map(spec: str, map_dir: str | None = None, files: Iterable[str] = ()) -> ServerMap:
    """A map a client asks for: by name only (maps.find_named_map: the text is never opened as a
    path), or `xodr:<OpenDRIVE>` it sent itself (generate_opendrive_world)."""
    if spec.startswith(XODR_PREFIX):
        return _generated(spec[len(XODR_PREFIX) :])
    loaded = maps.load_named_map(spec, _dirs(map_dir), files=files)
    return _serve(loaded.name, loaded.xodr)


def _generated(text: str) -> ServerMap:
    xodr = maps.sanitize_xodr(text)
    maps.validate_xodr(GENERATED_MAP_NAME, xodr, label="generated OpenDRIVE")
    return _serve(GENERATED_MAP_NAME, xodr)


def _serve(name: str, xodr: str) -> ServerMap:
    """A validated map as the world uses it."""
    ground = maps.ground_model(name, xodr)
    points = [p.as_tuple() for p in ground.spawn_points()]
    if not points:
        raise MapError(f"map {name!r} has no driving lane to spawn vehicles on")
    mesh = navigation.prepare(name, xodr, ground.height)
    layout = signal_layout(name, xodr)
    return ServerMap(name, xodr, points, ground, ground.bounds, mesh, layout)
