"""Which checkpoint is "the latest": only complete ones, whatever a crash left behind."""

from __future__ import annotations

import json
import os
import time

import pytest

from dqn_example.export import CHECKPOINT_FILES, EXPORT_DIR, resolve_dqn_checkpoint
from dqn_example.qnet import SPEC_FILE, STATE_FILE
from rllib_integration.training.checkpoints import (
    LATEST_FILE,
    MODULE_STATE,
    CheckpointError,
    find_latest,
    resolve_checkpoint,
    write_latest,
)


def make_checkpoint(trial, index: int, complete: bool = True):
    path = trial / f"checkpoint_{index:06d}"
    (path / MODULE_STATE).parent.mkdir(parents=True)
    (path / "rllib_checkpoint.json").write_text("{}")
    (path / MODULE_STATE).write_bytes(b"weights")
    if complete:  # the Ray-free export is written last
        (path / EXPORT_DIR).mkdir()
        (path / EXPORT_DIR / STATE_FILE).write_bytes(b"net")
        (path / EXPORT_DIR / SPEC_FILE).write_text("{}")
    stamp = time.time() - 100 + index
    os.utime(path, (stamp, stamp))
    return path


def test_a_half_written_checkpoint_is_never_the_latest(tmp_path):
    trial = tmp_path / "DQN_trial_0"
    good = make_checkpoint(trial, 1)
    make_checkpoint(trial, 2, complete=False)  # crash before the export finished
    assert find_latest(tmp_path, CHECKPOINT_FILES) == good  # by scanning
    write_latest(tmp_path, good, training_iteration=1)
    assert json.loads((tmp_path / LATEST_FILE).read_text())["training_iteration"] == 1
    assert find_latest(tmp_path, CHECKPOINT_FILES) == good
    assert not list(tmp_path.glob(f".{LATEST_FILE}*.tmp"))  # the temp file was renamed


def test_a_pointer_to_a_broken_checkpoint_falls_back_to_scanning(tmp_path):
    trial = tmp_path / "DQN_trial_0"
    first = make_checkpoint(trial, 1)
    second = make_checkpoint(trial, 2)
    write_latest(tmp_path, second)
    (second / EXPORT_DIR / STATE_FILE).unlink()  # damaged afterwards
    assert find_latest(tmp_path, CHECKPOINT_FILES) == first
    (tmp_path / LATEST_FILE).write_text("{not json")
    assert find_latest(tmp_path, CHECKPOINT_FILES) == first


def test_resolve_accepts_checkpoint_trial_and_experiment_folders(tmp_path):
    trial = tmp_path / "DQN_trial_0"
    checkpoint = make_checkpoint(trial, 3)
    for given in (checkpoint, trial, tmp_path):
        assert resolve_dqn_checkpoint(given) == checkpoint.resolve()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve_dqn_checkpoint(make_checkpoint(trial, 4, complete=False))
    # Without the example's export, RLlib's own files make a checkpoint complete.
    assert (
        resolve_checkpoint(trial / "checkpoint_000004") == (trial / "checkpoint_000004").resolve()
    )


def test_a_multi_agent_checkpoint_is_complete_once_every_policy_is_exported(tmp_path):
    from dqn_example.export import export_dir
    from rllib_integration.training.checkpoints import RL_MODULES, is_complete, module_ids

    checkpoint = tmp_path / "trial" / "checkpoint_000001"
    (checkpoint / RL_MODULES).mkdir(parents=True)
    (checkpoint / "rllib_checkpoint.json").write_text("{}")
    for policy in ("sedan", "mini"):
        (checkpoint / RL_MODULES / policy).mkdir()
        (checkpoint / RL_MODULES / policy / MODULE_STATE.name).write_bytes(b"weights")
        assert not is_complete(checkpoint, CHECKPOINT_FILES)  # a policy not exported yet
        export_dir(checkpoint, policy).mkdir(parents=True)
        (export_dir(checkpoint, policy) / STATE_FILE).write_bytes(b"net")
        (export_dir(checkpoint, policy) / SPEC_FILE).write_text("{}")
    assert module_ids(checkpoint) == ["mini", "sedan"]
    assert export_dir(checkpoint, "mini") == checkpoint / EXPORT_DIR / "mini"
    assert is_complete(checkpoint, CHECKPOINT_FILES)
    assert resolve_dqn_checkpoint(tmp_path) == checkpoint.resolve()
