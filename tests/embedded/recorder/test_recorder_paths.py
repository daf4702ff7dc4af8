"""Which file names a client may use: CARLA's bare-name rule inside the recorder folder, and no
way out of the folder (absolute paths, `..`, symlinks) unless the operator allowed a root."""

from __future__ import annotations

import os

import pytest

from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder.paths import (
    RecorderPaths,
    RefusedPath,
    open_for_writing,
    read_file,
)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "recordings"
    path.mkdir()
    return path


def test_bare_and_relative_names_resolve_inside_the_folder(folder):
    paths = RecorderPaths(folder)
    assert paths.resolve("test1.log") == folder / "test1.log"
    assert paths.resolve("records/RouteScenario_0_rep0.log", create_dirs=True) == (
        folder / "records" / "RouteScenario_0_rep0.log"
    )
    assert (folder / "records").is_dir()
    assert paths.resolve(str(folder / "abs.log")) == folder / "abs.log"
    assert paths.resolve("a/../b.log") == folder / "b.log"


@pytest.mark.parametrize(
    "name", ["../escape.log", "/etc/passwd", "sub/../../escape.log", "", "x\0.log", "sub/.."]
)
def test_names_that_leave_the_folder_are_refused(folder, name):
    with pytest.raises(RefusedPath):
        RecorderPaths(folder).resolve(name, create_dirs=True)
    assert not (folder.parent / "escape.log").exists()


def test_a_symlinked_directory_cannot_lead_outside(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "link").symlink_to(outside)
    with pytest.raises(RefusedPath, match="outside the recorder folder"):
        RecorderPaths(folder).resolve("link/run.log")


def test_an_allowed_root_accepts_absolute_names_under_it(folder, tmp_path):
    root = tmp_path / "scenario_runner" / "records"
    root.mkdir(parents=True)
    paths = RecorderPaths(folder, (root,))
    assert paths.resolve(str(root / "Route.log")) == root / "Route.log"
    with pytest.raises(RefusedPath):
        paths.resolve(str(tmp_path / "scenario_runner" / "other.log"))


def test_only_recordings_and_new_files_are_written(folder, tmp_path):
    notes = folder / "notes.txt"
    notes.write_text("keep me")
    with pytest.raises(RefusedPath, match="not a recording"):
        open_for_writing(notes)
    assert notes.read_text() == "keep me"
    target = tmp_path / "target"
    (folder / "link.log").symlink_to(target)
    with pytest.raises(RefusedPath):
        open_for_writing(folder / "link.log")
    assert not target.exists()
    old = folder / "old.log"
    old.write_bytes(fmt.pack_header("Town01", 0) + b"frames...")
    fd = open_for_writing(old)
    os.close(fd)
    assert old.read_bytes() == b""  # an old recording is truncated, as CARLA does
    fd = open_for_writing(folder / "new.log")
    os.close(fd)
    assert (folder / "new.log").stat().st_mode & 0o777 == 0o644 & ~_umask()


def test_reading_refuses_symlinks_and_directories(folder, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("secret")
    (folder / "peek.log").symlink_to(secret)
    with pytest.raises(RefusedPath):
        read_file(folder / "peek.log")
    with pytest.raises(RefusedPath):
        read_file(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
