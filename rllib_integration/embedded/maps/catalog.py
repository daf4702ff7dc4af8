"""Which maps exist and how to get one's OpenDRIVE text by name or path.

Sources, first match wins: the built-in towns, then the ``files`` named by the server's operator
(its ``--map``), then ``*.xodr`` in the ``map_dirs`` given (the server's ``--map-dir``), then
CARLA's own towns under ``$CARLA_ROOT``. Names are matched exactly, then case-insensitively; a
client-side path such as ``/Game/Carla/Maps/Town01`` or ``Carla/Maps/Town01`` resolves by its
last component.

A path is opened only where the operator's own configuration names it (``find_map``, for the
command line); what a client asks for is looked up by name only (``find_named_map``): its text
never reaches the file system, so no reply can tell whether some file exists.
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
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
    files: Iterable[str | os.PathLike] = (),
) -> dict[str, MapSource]:
    """Every map by name, built-ins first. ``carla_root`` defaults to ``$CARLA_ROOT``."""
    found: dict[str, MapSource] = {name: MapSource(name, None) for name in BUILTIN_TOWNS}
    for file in files:
        path = Path(file)
        found.setdefault(path.stem, MapSource(path.stem, path))
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
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
    files: Iterable[str | os.PathLike] = (),
) -> list[str]:
    """Names of the available maps: built-ins first, then the others sorted."""
    names = list(available_maps(map_dirs, carla_root, files))
    builtin = [n for n in names if n in BUILTIN_TOWNS]
    return builtin + sorted(n for n in names if n not in BUILTIN_TOWNS)


def find_map(
    name_or_path: str | os.PathLike | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
) -> MapSource:
    """The source of a map given by name (None/'' = the default town) or by ``.xodr`` path.

    For the server's operator (its command line): a path is opened as given."""
    if name_or_path is None or str(name_or_path).strip() == "":
        return MapSource(DEFAULT_TOWN, None)
    text = str(name_or_path).strip()
    path = Path(text).expanduser()
    if path.is_file():
        return MapSource(path.stem, path)
    if text.lower().endswith(".xodr") and len(path.parts) > 1:
        raise MapError(f"map file {text!r} does not exist")  # a path to a file that is not there
    return find_named_map(text, map_dirs, carla_root)


def find_named_map(
    name: str | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
    files: Iterable[str | os.PathLike] = (),
) -> MapSource:
    """The source of a map by name only (None/'' = the default town), as a client asks for one.

    Only the last component counts (``/Game/Carla/Maps/Town01``, ``Town01.xodr``), matched
    against the catalog; the text is never used as a path."""
    text = str(name or "").strip()
    if not text:
        return MapSource(DEFAULT_TOWN, None)
    name = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if name.lower().endswith(".xodr"):
        name = name[: -len(".xodr")]
    maps = available_maps(map_dirs, carla_root, files)
    if name in maps:
        return maps[name]
    folded = {key.lower(): source for key, source in maps.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    listed = ", ".join(list_maps(map_dirs, carla_root, files))
    raise MapError(f"unknown map {text[:200]!r}; available maps: {listed}")


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
    """Resolve (by name or path: the operator's choice), read and validate a map (files in a
    subprocess; verdicts cached by sha1). Raises MapError with one clear message; never crashes
    the caller."""
    return load_source(find_map(name_or_path, map_dirs, carla_root), timeout)


def load_named_map(
    name: str | None,
    map_dirs: Iterable[str | os.PathLike] = (),
    carla_root: str | os.PathLike | None = None,
    files: Iterable[str | os.PathLike] = (),
    timeout: float | None = None,
) -> LoadedMap:
    """Like ``load_map`` for what a client asks for: by name only (``find_named_map``)."""
    return load_source(find_named_map(name, map_dirs, carla_root, files), timeout)


def load_source(source: MapSource, timeout: float | None = None) -> LoadedMap:
    """Read and validate the map of ``source``."""
    xodr = read_map(source)
    label = source.name if source.path is None else str(source.path)
    extra = {"timeout": timeout} if timeout else {}
    # Built-in towns are generated by this package (and tested), so no subprocess is needed.
    report = validate_xodr(source.name, xodr, label=label, trusted=source.path is None, **extra)
    return LoadedMap(source.name, xodr, report, source)
