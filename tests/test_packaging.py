"""The package as a user installs it: editable from the checkout (what scripts/bootstrap.sh does),
used from a folder outside the repository, with every console script working, and a wheel that
holds the library only (no top-level `aws` or `dqn_example` in site-packages). The install is
conftest's `installed_venv` (a throw-away venv, never the project's `.venv`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import pip

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]


def _run_outside(
    command: list[str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_the_library_imports_from_a_folder_outside_the_repository(installed_venv, tmp_path):
    venv = installed_venv
    code = "import rllib_integration, rllib_integration.carla_env as e; print(e.__file__)"
    result = _run_outside([str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / "rllib_integration" / "carla_env.py"


def test_examples_and_aws_are_not_installed_as_top_level_packages(installed_venv, tmp_path):
    venv = installed_venv
    for name in ("dqn_example", "aws"):
        code = f"import importlib.util as u; print(u.find_spec({name!r}))"
        result = _run_outside([str(venv / "bin" / "python"), "-c", code], tmp_path)
        assert result.returncode == 0 and result.stdout.strip() == "None", (name, result)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_console_script_runs_from_outside_the_repository(installed_venv, tmp_path, script):
    venv = installed_venv
    result = _run_outside([str(venv / "bin" / script), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout


def test_the_wheel_holds_the_library_its_data_and_its_commands(tmp_path):
    # Build from a copy: setuptools writes build/ into the source folder.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "rllib_integration",
        source / "rllib_integration",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source))
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"rllib_integration"}
    assert "rllib_integration/routes/data/grid01_train.xml" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    for script in SCRIPTS:
        assert f"{script} = ".encode() in entry_points


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[<>=!~ ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_package_declares_every_runtime_dependency_the_checkout_installs():
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])
    aws_extra = _requirement_names(PYPROJECT["project"]["optional-dependencies"]["aws"])
    pinned = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert pinned == declared | aws_extra
    # Training logs, MP4 video (imageio's ffmpeg) and gymnasium's RecordVideo (moviepy).
    assert {"tensorboard", "imageio-ffmpeg", "moviepy"} <= declared


def test_the_dev_extra_lists_the_tools_requirements_dev_installs():
    dev_extra = _requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    tools = _requirement_names((ROOT / "requirements-dev.txt").read_text().splitlines())
    assert dev_extra == tools
    assert {"ruff", "mypy"} <= tools
