"""The map tools CLI: list, check, export; one clear error and exit status 1 on bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rllib_integration.embedded.maps import BUILTIN_TOWNS, builtin_xodr
from tests.conftest import run_module

ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_module("rllib_integration.embedded.maps", *args)


def test_list_check_and_export(tmp_path):
    (tmp_path / "Mine.xodr").write_text(builtin_xodr("Roundabout01"))
    listing = cli("--map-dir", str(tmp_path), "list")
    assert listing.returncode == 0, listing.stderr
    names = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert names[: len(BUILTIN_TOWNS)] == list(BUILTIN_TOWNS) and "Mine" in names
    check = cli("check", "Grid01")
    assert check.returncode == 0, check.stderr
    assert "Grid01: ok" in check.stdout and "0 dead ends" in check.stdout
    out = tmp_path / "Loop01.xodr"
    export = cli("export", "Loop01", str(out))
    assert export.returncode == 0, export.stderr
    assert out.read_text() == builtin_xodr("Loop01")


def test_bad_input_gives_one_line_and_status_1(tmp_path):
    unknown = cli("check", "Nowhere07")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [unknown.stderr.strip()]
    assert "unknown map 'Nowhere07'" in unknown.stderr and "Loop01" in unknown.stderr
    bad = tmp_path / "bad.xodr"
    bad.write_text("<OpenDRIVE><road></OpenDRIVE>")
    broken = cli("check", str(bad))
    assert broken.returncode == 1 and str(bad) in broken.stderr
    assert not (tmp_path / "out.xodr").exists()
    refused = cli("export", str(bad), str(tmp_path / "out.xodr"))
    assert refused.returncode == 1 and not (tmp_path / "out.xodr").exists()
