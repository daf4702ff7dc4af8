"""Lint, format and types run in the README's test command, so CI fails on any of them.

ruff (lint and format check) and mypy (files and settings in pyproject.toml's [tool.mypy]) are
run as the venv's own tools; a failure shows their output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PROJECT_PACKAGES = ("rllib_integration", "dqn_example", "aws", "examples", "benchmarks")


def _run(tool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def _passes(tool: str, *args: str) -> None:
    result = _run(tool, *args)
    assert result.returncode == 0, (
        f"`{tool} {' '.join(args)}` failed:\n{result.stdout}{result.stderr}"
    )


def test_ruff_finds_no_lint_problem():
    _passes("ruff", "check", ".")


def test_ruff_format_leaves_every_file_as_it_is():
    _passes("ruff", "format", "--check", ".")


def test_mypy_finds_no_type_error():
    _passes("mypy")


def test_the_type_check_covers_the_project_and_silences_no_project_module():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    checked = {Path(path).parts[0] for path in config["files"]}
    assert {"rllib_integration", "aws", "dqn_example", "examples", "benchmarks"} <= checked
    assert {"dqn_train.py", "dqn_inference.py", "dqn_inference_ray.py"} <= checked
    assert "ignore_errors" not in config and "disable_error_code" not in config
    assert not config.get("ignore_missing_imports", False)
    for override in config.get("overrides", []):
        assert set(override) == {"module", "ignore_missing_imports"}, override
        for module in override["module"]:
            assert module.split(".")[0] not in PROJECT_PACKAGES, module


def test_mypy_as_configured_reports_a_type_error(tmp_path):
    # The project's settings on a synthetic module: the check does fail on a wrong type.
    bad = tmp_path / "bad_types.py"
    bad.write_text('def speed() -> float:\n    return "fast"\n')
    result = _run(
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        str(bad),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        'bad_types.py:2: error: Incompatible return value type (got "str", expected "float")'
        in result.stdout
    )
