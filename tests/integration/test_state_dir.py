"""The per-user state folder in <tmp> is used only when it is this user's private directory,
and pruning the server logs never reaches outside it."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from rllib_integration.supervisor import simulator
from rllib_integration.supervisor.state_dir import (
    STATE_DIR_NAME,
    StateDirError,
    logs_dir,
    state_dir,
)


@pytest.fixture
def tmp_root(tmp_path, monkeypatch) -> Path:
    """<tmp> for this test: tempfile.gettempdir() answers tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def as_another_user(monkeypatch) -> None:
    """From now on this process has another uid, so what it made before belongs to someone else."""
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_fresh_folder_is_private(tmp_root):
    folder = state_dir()
    assert folder == tmp_root / STATE_DIR_NAME
    assert folder.is_dir() and not folder.is_symlink() and mode(folder) == 0o700
    assert os.lstat(folder).st_uid == os.getuid()
    assert logs_dir() == folder / "logs" and mode(folder / "logs") == 0o700


def test_an_open_folder_of_ours_is_closed(tmp_root):
    folder = tmp_root / STATE_DIR_NAME
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "ports.json").write_text("{}")
    assert state_dir() == folder and mode(folder) == 0o700
    assert (folder / "ports.json").read_text() == "{}"  # kept, only closed


def test_a_link_of_ours_is_replaced_and_its_target_kept(tmp_root):
    elsewhere = tmp_root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.log").write_text("keep me")
    (tmp_root / STATE_DIR_NAME).symlink_to(elsewhere)
    folder = state_dir()
    assert folder.is_dir() and not folder.is_symlink() and mode(folder) == 0o700
    # A logs/ link inside is replaced too: pruning works on the real folder only.
    (folder / "logs").symlink_to(elsewhere)
    assert not logs_dir().is_symlink()
    assert (elsewhere / "precious.log").read_text() == "keep me"


def test_another_users_folder_or_link_is_refused_by_name(tmp_root, monkeypatch):
    victim = tmp_root / "victim"
    victim.mkdir()
    (victim / "a.log").write_text("theirs")
    name = tmp_root / STATE_DIR_NAME
    name.symlink_to(victim)
    as_another_user(monkeypatch)  # the link now belongs to someone else
    with pytest.raises(StateDirError, match=rf"{name} is a file or link of another user"):
        state_dir()
    # Nothing that needs it starts: no port block is handed out, no log is written or pruned.
    with pytest.raises(StateDirError, match="set TMPDIR"):
        simulator.reserve_port_block(base_port=40000)
    name.unlink()
    name.mkdir(mode=0o755)
    with pytest.raises(StateDirError, match=rf"{name} is a folder of another user"):
        logs_dir()
    assert os.listdir(victim) == ["a.log"] and mode(name) == 0o755  # never touched


def test_pruning_keeps_the_newest_logs_and_deletes_only_regular_files_inside(tmp_root):
    folder = logs_dir()
    outside = tmp_root / "outside.log"
    outside.write_text("not ours to delete")
    (folder / "link.log").symlink_to(outside)
    for i in range(5):
        log = folder / f"embedded-{i}.log"
        log.write_text(str(i))
        os.utime(log, (1000 + i, 1000 + i))
    simulator._prune_logs(folder, keep=2)
    assert sorted(p.name for p in folder.iterdir()) == [
        "embedded-3.log",
        "embedded-4.log",
        "link.log",
    ]
    assert outside.read_text() == "not ours to delete"
