"""Which maps exist and how to get one's OpenDRIVE text by name or path.

Sources, first match wins: the built-in towns, then ``*.xodr`` in the ``map_dirs`` given (the
server's ``--map-dir``), then CARLA's own towns under ``$CARLA_ROOT``. Names are matched exactly,
then case-insensitively; a client-side path such as ``/Game/Carla/Maps/Town01`` or
``Carla/Maps/Town01`` resolves by its last component.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .ground import GroundModel, SpawnPoint, ground_model
from .towns import BUILTIN_TOWNS, DEFAULT_TOWN, builtin_xodr
from .validation import MAX_XODR_BYTES, MapError, MapReport, sanitize_xodr, validate_xodr

CARLA_OPENDRIVE_SUBDIR = Path("CarlaUE4", "Content", "Carla", "Maps", "OpenDrive")
CLIENT_MAP_PREFIX = "Carla/Maps/"


@dataclass(frozen=True)
class MapSource:
    name: str
    path: Path | None  # None for a built-in town


@dataclass(frozen=True)
class LoadedMap:
    """A map ready to serve: its name, (sanitised) OpenDRIVE text and validation report, plus
    the ground model, spawn points and bounds (built on first use, cached per OpenDRIVE sha1)."""

    name: str
    xodr: str
    report: MapReport
    source: MapSource

    @property
    def path(self) -> str:
        """The map path the client sees, ``Carla/Maps/<Name>``."""
        return client_map_path(self.name)

    @functools.cached_property
    def ground(self) -> GroundModel:
        return ground_model(self.name, self.xodr)

    @property
    def spawn_points(self) -> list[SpawnPoint]:
        return self.ground.spawn_points()

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """xmin, ymin, xmax, ymax of the lane surfaces (CARLA coordinates)."""
        return self.ground.bounds


def client_map_path(name: str) -> str:
    """The map path the client sees (``world.get_map().name`` ends with the name)."""
    return CLIENT_MAP_PREFIX + name


def available_maps(
    map_dirs: Iterable[str | os.PathLike] = (), carla_root: str | os.PathLike | None = None
) -> dict[str, MapSource]:
    """Every map by name, built-ins first. ``carla_root`` defaults to ``$CARLA_ROOT``."""
    found: dict[str, MapSource] = {name: MapSource(name, None) for name in BUILTIN_TOWNS}
    carla_root = carla_root if carla_root is not None else os.environ.get("CARLA_ROOT")
    dirs = [Path(d) for d in map_dirs]
    if carla_root:
        dirs.append(Path(carla_root) / CARLA_OPENDRIVE_SUBDIR)
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.xodr")):
            found.setdefault(path.stem, MapSource(path.stem, path))
    return found


def list_maps(
    map_dirs: Iterable[str | os.PathLike] = (), carla_root: str | os.PathLike | None = None
) -> list[str]:
    """Names of the available maps: built-ins first, then the others sorted."""
    names = list(available_maps(map_dirs, carla_root))
    builtin = [n for n in names if n in BUILTIN_TOWNS]
    return builtin + sorted(n for n in names if n not in BUILTIN_TOWNS)


def find_map(
    name_or_path: str | os.PathLike | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
) -> MapSource:
    """The source of a map given by name (None/'' = the default town) or by ``.xodr`` path."""
    if name_or_path is None or str(name_or_path).strip() == "":
        return MapSource(DEFAULT_TOWN, None)
    text = str(name_or_path).strip()
    path = Path(text).expanduser()
    if path.is_file():
        return MapSource(path.stem, path)
    if text.lower().endswith(".xodr"):
        if len(path.parts) > 1:  # a path to a file that is not there
            raise MapError(f"map file {text!r} does not exist")
        text = path.stem  # a bare file name: look it up in the map folders by name
    name = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    maps = available_maps(map_dirs, carla_root)
    if name in maps:
        return maps[name]
    folded = {key.lower(): source for key, source in maps.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    raise MapError(
        f"unknown map {text!r}; available maps: {', '.join(list_maps(map_dirs, carla_root))}"
    )


def read_map(source: MapSource) -> str:
    """OpenDRIVE text of ``source``, sanitised (see ``sanitize_xodr``) but not validated."""
    if source.path is None:
        return builtin_xodr(source.name)
    try:
        size = source.path.stat().st_size
        if size > MAX_XODR_BYTES:
            raise MapError(
                f"map file {str(source.path)!r} is {size / 2**20:.0f} MB, over the "
                f"{MAX_XODR_BYTES / 2**20:.0f} MB limit"
            )
        raw = source.path.read_bytes()
    except OSError as error:
        raise MapError(f"map file {str(source.path)!r} cannot be read: {error.strerror}") from None
    try:
        return sanitize_xodr(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise MapError(f"map file {str(source.path)!r} is not UTF-8 text") from None


def resolve_map(
    name_or_path: str | os.PathLike | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
) -> tuple[str, str]:
    """``(name, xodr_text)`` for a map name or ``.xodr`` path; MapError if unknown or unreadable.

    The text is not validated: use ``load_map`` before handing it to libcarla in-process.
    """
    source = find_map(name_or_path, map_dirs, carla_root)
    return source.name, read_map(source)


def load_map(
    name_or_path: str | os.PathLike | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> LoadedMap:
    """Resolve, read and validate a map (files in a subprocess; verdicts cached by sha1). Raises
    MapError with one clear message; never crashes the caller."""
    source = find_map(name_or_path, map_dirs, carla_root)
    xodr = read_map(source)
    label = source.name if source.path is None else str(source.path)
    extra = {"timeout": timeout} if timeout else {}
    # Built-in towns are generated by this package (and tested), so no subprocess is needed.
    report = validate_xodr(source.name, xodr, label=label, trusted=source.path is None, **extra)
    return LoadedMap(source.name, xodr, report, source)
