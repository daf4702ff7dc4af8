"""Where the code a training file names is imported from, in the driver and in Ray's workers.

A config names your code by import path (`experiment.type: lane_keeping:LaneKeeping`, a sensor's
`type: my_pkg.sensors:Lidar2D`, `rl_module.module_class`, `env`). The driver must import it to
check the config, and every Ray worker must import it to build the env. `import_roots` finds the
folder each one lives in: the folders of `python_path:`, else the sys.path entry it is already
importable from, else the training file's folder or the nearest parent folder that holds its
top-level package or module. `worker_python_path` turns them, plus the folder this library was
imported from, into the PYTHONPATH the trainer gives Ray's workers through the runtime env.
"""

from __future__ import annotations

import importlib.util
import os
import site
import sys
from collections.abc import Iterable
from pathlib import Path

import rllib_integration
from rllib_integration.training.training_file import TrainingFile, python_path


def named_import_paths(tf: TrainingFile) -> list[str]:
    """Every "package.module:Name" the file names: env, experiment, sensors, RLModule."""
    experiment = _mapping(tf.section("env_config").get("experiment"))
    sensors = _mapping(_mapping(experiment.get("hero")).get("sensors"))
    paths = [tf.raw.get("env"), tf.section("rl_module").get("module_class"), experiment.get("type")]
    paths += [_mapping(sensor).get("type") for sensor in sensors.values()]
    return [p for p in paths if isinstance(p, str) and ":" in p]


def import_roots(tf: TrainingFile) -> list[Path]:
    """The folders to import the file's own code from (see the module docstring)."""
    roots = list(python_path(tf))
    for path in named_import_paths(tf):
        top = path.partition(":")[0].split(".")[0]
        if not top:
            continue
        root = _importable_from(top, roots) or _beside(top, tf.folder)
        if root is not None:
            roots.append(root)
    return _unique(roots)


def add_to_sys_path(roots: Iterable[Path]) -> None:
    """Make the roots importable in this process (first, in the given order)."""
    for root in reversed(list(roots)):
        text = str(root)
        if text not in sys.path:
            sys.path.insert(0, text)
    importlib.invalidate_caches()


def worker_python_path(roots: Iterable[Path]) -> str:
    """PYTHONPATH for Ray's workers: the roots, this library's own folder, the inherited one."""
    library_root = Path(rllib_integration.__file__).resolve().parents[1]
    entries = [str(p) for p in _unique([*roots, library_root]) if not _is_site_packages(p)]
    inherited = os.environ.get("PYTHONPATH")
    if inherited:
        entries.append(inherited)
    return os.pathsep.join(entries)


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _importable_from(top: str, extra: list[Path]) -> Path | None:
    """The sys.path folder (or `extra` folder) that `top` would be imported from, if any."""
    for folder in extra:
        if (folder / top).is_dir() or (folder / f"{top}.py").is_file():
            return folder
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve().parent
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve().parent
    return None


def _beside(top: str, folder: Path) -> Path | None:
    """The file's folder or its nearest parent that holds `top/` or `top.py`."""
    for candidate in (folder, *folder.parents):
        if (candidate / top).is_dir() or (candidate / f"{top}.py").is_file():
            return candidate
    return None


def _is_site_packages(path: Path) -> bool:
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    return any(Path(s).resolve() == path for s in sites)


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: list[Path] = []
    for path in paths:
        path = Path(path).resolve()
        if path not in seen:
            seen.append(path)
    return seen
