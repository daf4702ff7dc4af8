"""Which towns `experiment.town` may name, where they come from, and how the server gets them.

On the embedded server a town is one of its built-in towns, a CARLA town found by name in
`env_config.carla.map_dir` or in the CARLA install (`carla_root` / `$CARLA_ROOT`,
`CarlaUE4/Content/Carla/Maps/OpenDrive`), or an `.xodr` file by path (relative paths are
relative to the config file). The config loader checks every name against that list, so a wrong
town is one error that says what is available and from where, before any server starts. The
server loads maps only by name, so an `.xodr` town reaches it on its command line
(`server_map_arguments`: `--map FILE`, and `--map-dir` for several files in one folder).
On CarlaUE4 the server itself knows its towns; a wrong one is an error at the first reset.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from rllib_integration.defaults import CarlaSettings, ConfigError, find_carla_root, server_kind
from rllib_integration.embedded.maps import catalog

XODR = ".xodr"


def is_xodr_file(town: str) -> bool:
    return town.lower().endswith(XODR)


def town_name(town: str) -> str:
    """The name the server knows a town by: an `.xodr` file's stem, else the name itself."""
    return Path(town).stem if is_xodr_file(town) else town


def absolute_town(town: str, folder: Path | None) -> str:
    """An `.xodr` path made absolute (relative to `folder`, else the working folder)."""
    if not is_xodr_file(town):
        return town
    path = Path(town).expanduser()
    return str((folder / path if folder and not path.is_absolute() else path).resolve())


def xodr_files(towns: list[str]) -> list[str]:
    return [t for t in towns if is_xodr_file(t)]


def available_towns(settings: CarlaSettings, files: Sequence[str] = ()) -> dict[str, str] | None:
    """Town name -> where it comes from, on the server `settings` launch; None when only the
    server can say (CarlaUE4, or a server someone else runs)."""
    if server_kind(settings) != "embedded":  # the config loader has checked `server: carla`
        return None
    root = find_carla_root(settings)
    dirs = [settings.map_dir] if settings.map_dir else []
    found = catalog.available_maps(dirs, carla_root=str(root) if root else "", files=files)
    return {name: _origin(source.path, settings, root) for name, source in found.items()}


def _origin(path: Path | None, settings: CarlaSettings, root: Path | None) -> str:
    if path is None:
        return "built-in"
    if settings.map_dir and Path(path).parent == Path(settings.map_dir):
        return f"env_config.carla.map_dir ({settings.map_dir})"
    if root is not None and Path(path).parent == root / catalog.CARLA_OPENDRIVE_SUBDIR:
        return f"the CARLA install ({root / catalog.CARLA_OPENDRIVE_SUBDIR})"
    return f"the file {path}"


def check_towns(towns: list[str], settings: CarlaSettings, wheres: list[object]) -> None:
    """ConfigError at the town's own location (`wheres`, one per town) for a missing `.xodr`
    file or a town the embedded server will not have."""
    files = xodr_files(towns)
    for town, where in zip(towns, wheres, strict=True):
        if is_xodr_file(town) and not Path(town).is_file():
            raise ConfigError(f"{where}: no OpenDRIVE file {town}")
    if files and server_kind(settings) in ("carla", "attach"):
        raise ConfigError(
            f"{wheres[0]}: an .xodr town needs the embedded server (env_config.carla.server: "
            "embedded); CarlaUE4 loads the towns of its install by name"
        )
    folders = {str(Path(f).parent) for f in files}
    if len(folders) > 1 or (len(files) > 1 and settings.map_dir not in (None, *folders)):
        raise ConfigError(
            f"{wheres[0]}: several .xodr towns must share one folder (the embedded server takes "
            "one map folder, env_config.carla.map_dir, which must then be unset or that folder)"
        )
    available = available_towns(settings, files)
    if available is None:
        return
    for town, where in zip(towns, wheres, strict=True):
        name = town_name(town)
        if name not in available:
            # Town names differ in a letter or two (Town01, Town02): only a near-exact match helps.
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.8)
            raise ConfigError(
                f"{where}: the embedded server has no such town '{town}'"
                + (f" (did you mean '{close[0]}'?)" if close else "")
                + "; available: "
                + _listing(available)
                + ". More towns: an .xodr file by path, or env_config.carla.map_dir (or "
                "$CARLA_ROOT) for CARLA's towns"
            )


def _listing(available: dict[str, str]) -> str:
    by_origin: dict[str, list[str]] = {}
    for name, origin in available.items():
        by_origin.setdefault(origin, []).append(name)
    return "; ".join(f"{origin}: {', '.join(names)}" for origin, names in by_origin.items())


def server_map_arguments(towns: list[str], settings: CarlaSettings) -> list[str]:
    """The embedded server's command-line arguments that make the `.xodr` towns loadable."""
    files = xodr_files(towns)
    if not files:
        return []
    arguments = ["--map", files[0]]
    if len(files) > 1 and settings.map_dir is None:
        arguments += ["--map-dir", str(Path(files[0]).parent)]
    return arguments
