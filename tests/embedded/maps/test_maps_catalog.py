"""Finding maps by name or path: built-ins, --map-dir folders and $CARLA_ROOT."""

from __future__ import annotations

import pytest

from rllib_integration.embedded.maps import (
    BUILTIN_TOWNS,
    DEFAULT_TOWN,
    MapError,
    builtin_xodr,
    client_map_path,
    find_named_map,
    list_maps,
    load_map,
    resolve_map,
)
from tests.conftest import CARLA_TOWNS

TOWNS = CARLA_TOWNS


@pytest.fixture
def carla_root(tmp_path, monkeypatch):
    """A fake CARLA install holding one OpenDRIVE file, named by $CARLA_ROOT."""
    folder = tmp_path / "carla" / "CarlaUE4" / "Content" / "Carla" / "Maps" / "OpenDrive"
    folder.mkdir(parents=True)
    (folder / "TownZ.xodr").write_text(builtin_xodr("Grid01"))
    monkeypatch.setenv("CARLA_ROOT", str(tmp_path / "carla"))
    return tmp_path / "carla"


def test_builtins_come_first_then_map_dirs_then_carla_root(tmp_path, carla_root):
    (tmp_path / "MyTown.xodr").write_text(builtin_xodr("Loop01"))
    (tmp_path / "notes.txt").write_text("not a map")
    names = list_maps([tmp_path])
    assert names[: len(BUILTIN_TOWNS)] == list(BUILTIN_TOWNS)
    assert names[len(BUILTIN_TOWNS) :] == ["MyTown", "TownZ"]
    assert DEFAULT_TOWN == names[0] == "Loop01"


def test_resolve_by_name_client_path_case_and_file(tmp_path, carla_root):
    assert resolve_map(None)[0] == "Loop01"
    assert resolve_map("Grid01") == ("Grid01", builtin_xodr("Grid01"))
    assert resolve_map(client_map_path("Highway01"))[0] == "Highway01"
    assert resolve_map("/Game/Carla/Maps/roundabout01")[0] == "Roundabout01"
    assert resolve_map("TownZ") == ("TownZ", builtin_xodr("Grid01"))
    own = tmp_path / "elsewhere" / "Custom.xodr"
    own.parent.mkdir()
    own.write_text(builtin_xodr("Roundabout01"))
    assert resolve_map(str(own)) == ("Custom", builtin_xodr("Roundabout01"))
    assert resolve_map("Custom.xodr", [own.parent])[0] == "Custom"  # bare file name in a map dir


def test_a_client_asks_by_name_only(tmp_path):
    """find_named_map never opens the text as a path; the operator's files load by name."""
    own = tmp_path / "Custom.xodr"
    own.write_text(builtin_xodr("Grid01"))
    for text in (str(own), "Custom", f"file://{own}"):
        with pytest.raises(MapError, match="unknown map"):
            find_named_map(text)
    assert find_named_map(str(own), files=[own]).path == own  # the server's --map names it
    assert find_named_map("/Game/Carla/Maps/custom", files=[own]).name == "Custom"
    assert find_named_map("../../elsewhere/Custom.xodr", [tmp_path]).path == own  # a map dir's
    assert find_named_map("").name == DEFAULT_TOWN


def test_unknown_name_lists_what_is_available(carla_root):
    with pytest.raises(MapError) as info:
        resolve_map("Town99")
    message = str(info.value)
    assert "unknown map 'Town99'" in message
    assert all(name in message for name in [*BUILTIN_TOWNS, "TownZ"])


def test_unreadable_files_get_one_clear_error(tmp_path):
    with pytest.raises(MapError, match="does not exist"):
        resolve_map(str(tmp_path / "missing.xodr"))
    binary = tmp_path / "binary.xodr"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00" * 50)
    with pytest.raises(MapError, match="not UTF-8"):
        resolve_map(str(binary))
    bad = tmp_path / "bad.xodr"
    bad.write_text("<OpenDRIVE><road")
    with pytest.raises(MapError) as info:
        load_map(str(bad))
    assert str(bad) in str(info.value) and "not well-formed XML" in str(info.value)


def test_load_map_validates_and_sanitises(tmp_path):
    loaded = load_map("Roundabout01")
    assert loaded.name == "Roundabout01" and loaded.report.dead_ends == 0
    assert loaded.xodr == builtin_xodr("Roundabout01")
    spiral = builtin_xodr("Loop01").replace(
        '<arc curvature="0.025"', '<spiral curvStart="0.025" curvEnd="0.025"'
    )
    path = tmp_path / "Spiral.xodr"
    path.write_text(spiral)
    assert spiral != builtin_xodr("Loop01")
    loaded = load_map(str(path))
    assert "<spiral" not in loaded.xodr and loaded.report.dead_ends == 0


def test_carla_towns_from_a_map_dir():
    if not TOWNS.is_dir():
        pytest.skip(f"CARLA town files not available ({TOWNS})")
    names = list_maps([TOWNS])
    assert {f"Town0{k}" for k in range(1, 8)} <= set(names)
    assert resolve_map("Town01", [TOWNS])[1] == (TOWNS / "Town01.xodr").read_text()


def test_loaded_map_gives_what_the_server_serves():
    loaded = load_map("Grid01")
    assert loaded.path == "Carla/Maps/Grid01"
    assert loaded.ground is loaded.ground and loaded.ground.name == "Grid01"
    points = loaded.spawn_points
    assert len(points) > 100 and len(points[0].as_tuple()) == 6
    xmin, ymin, xmax, ymax = loaded.bounds
    assert xmax - xmin > 300 and ymax - ymin > 300


def test_builtin_towns_need_no_validation_subprocess(monkeypatch):
    from rllib_integration.embedded.maps import validation

    validation.clear_cache()
    monkeypatch.setattr(validation.subprocess, "run", pytest.fail)
    assert load_map("Highway01").report.dead_ends == 0
