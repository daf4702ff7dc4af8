"""The static-map cache: reused across resets and processes, locked, rebuilt when corrupt."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rllib_integration.sensors.birdview import cache
from rllib_integration.sensors.birdview.maps import static_map_for_xodr
from tests.sensors.birdview_helpers import STRAIGHT_XODR

ROOT = Path(__file__).resolve().parents[2]
# A child process that loads the Straight map's static layers and prints where they came from.
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from tests.sensors.birdview_helpers import STRAIGHT_XODR
from rllib_integration.sensors.birdview.maps import static_map_for_xodr
print("loading", flush=True)
result = static_map_for_xodr("Straight", STRAIGHT_XODR, 5.0, {cache_dir!r})
print(result.source, int(result.static.raster.sum()), flush=True)
"""


@pytest.fixture(autouse=True)
def no_memory_cache():
    cache.clear_memory()
    yield
    cache.clear_memory()


def load(cache_dir, ppm=5.0, xodr=STRAIGHT_XODR):
    return static_map_for_xodr("Straight", xodr, ppm, cache_dir)


def test_built_once_then_read_from_disk_then_from_memory(tmp_path):
    first = load(tmp_path)
    assert first.source == "built" and first.path.parent == tmp_path and first.path.is_file()
    assert first.static.raster.any()
    cache.clear_memory()  # as a new process would
    second = load(tmp_path)
    assert second.source == "disk"
    np.testing.assert_array_equal(second.static.raster, first.static.raster)
    assert second.static.origin == pytest.approx(first.static.origin)
    assert load(tmp_path).source == "memory"  # a reset in the same process: no disk read at all
    assert [p.name for p in tmp_path.glob("*.npz")] == [first.path.name]


def test_key_depends_on_resolution_and_opendrive_content(tmp_path):
    base = load(tmp_path)
    finer = load(tmp_path, ppm=8.0)
    assert finer.source == "built" and finer.path != base.path
    assert finer.static.raster.shape[1] > base.static.raster.shape[1]
    edited = load(tmp_path, xodr=STRAIGHT_XODR.replace('a="3.5"', 'a="3.6"'))
    assert edited.source == "built" and edited.path != base.path


@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "flip_raster_byte", "wrong_shape"],
)
def test_corrupt_file_is_detected_and_rebuilt(tmp_path, caplog, damage):
    good = load(tmp_path)
    path = good.path
    cache.clear_memory()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache file")
    else:
        with np.load(path) as data:
            raster, meta = data["raster"].copy(), data["meta"].copy()
        if damage == "flip_raster_byte":
            raster[raster.shape[0] // 2, raster.shape[1] // 2] ^= 0xFF
        else:
            raster = raster[:-1]
        np.savez(path, raster=raster, meta=meta)
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        rebuilt = load(tmp_path)
    assert rebuilt.source == "built"
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    np.testing.assert_array_equal(rebuilt.static.raster, good.static.raster)
    cache.clear_memory()
    assert load(tmp_path).source == "disk"  # the file was replaced by a good one
    assert zipfile.is_zipfile(path)


def test_a_worker_waits_for_the_builder_then_reads_its_file(tmp_path):
    """While one worker holds the lock (building), another waits and then reuses its file."""
    from filelock import FileLock

    from rllib_integration.sensors.birdview.static_map import rasterize
    from tests.sensors.birdview_helpers import straight_geometry

    key = cache.CacheKey("Straight", cache.xodr_sha1(STRAIGHT_XODR), 5.0)
    path = tmp_path / f"{key.stem}.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = CHILD.format(root=str(ROOT), cache_dir=str(tmp_path))
    with FileLock(str(path) + ".lock"):
        child = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert child.stdout.readline().strip() == "loading"
            time.sleep(0.5)
            assert child.poll() is None, "the worker did not wait for the lock"
            cache._write(path, key, rasterize(straight_geometry(), 5.0))  # we are the builder
        except BaseException:
            child.kill()
            raise
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    source, total = out.split()
    assert source == "disk"  # it found no file at first, waited, and then read ours
    # another process later, and this one, read the same file
    later = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert later.stdout.split()[1:] == ["disk", total]
    assert load(tmp_path).source == "disk"
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporary files


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "rllib_integration" / "birdview"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert cache.default_cache_dir() == tmp_path / "mine" / "birdview"
    result = load(None)
    assert result.path.parent == tmp_path / "mine" / "birdview" and result.source == "built"


def test_unwritable_cache_dir_still_renders_with_a_warning(tmp_path, caplog):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("occupied")
    with caplog.at_level(logging.WARNING, logger=cache.__name__):
        result = load(not_a_dir)
    assert result.source == "built" and result.static.raster.any()
    assert "cannot use the bird's-eye view cache" in caplog.text and "writable" in caplog.text
