"""Where the trainer finds a user's own code: beside the file, in a parent package folder, or in
`python_path:`; and the PYTHONPATH it gives Ray's workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rllib_integration
from rllib_integration.config import ConfigError
from rllib_integration.training.python_path import (
    import_roots,
    named_import_paths,
    worker_python_path,
)
from rllib_integration.training.training_file import load_training_file


def training_file(path: Path, experiment_type: str, extra: str = ""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"{extra}env_config:\n  experiment:\n    type: {experiment_type}\n"
        "    hero: {sensors: {s: {type: 'user_sensors_9.lidar:Flat'}, c: {type: sensor.camera.rgb}}}\n"
    )
    return load_training_file(path)


def test_a_module_beside_the_file(tmp_path):
    (tmp_path / "my_experiment_0.py").write_text("")
    tf = training_file(tmp_path / "train.yaml", "my_experiment_0:Mine")
    assert named_import_paths(tf) == ["my_experiment_0:Mine", "user_sensors_9.lidar:Flat"]
    assert import_roots(tf) == [tmp_path.resolve()]


def test_a_package_holding_its_configs_folder(tmp_path):
    (tmp_path / "my_pkg_1" / "configs").mkdir(parents=True)
    (tmp_path / "my_pkg_1" / "__init__.py").write_text("")
    (tmp_path / "user_sensors_9").mkdir()
    tf = training_file(tmp_path / "my_pkg_1" / "configs" / "t.yaml", "my_pkg_1.experiment:Mine")
    assert import_roots(tf) == [tmp_path.resolve()]  # both packages live there


def test_declared_folders_come_first_and_must_exist(tmp_path):
    (tmp_path / "code" / "my_experiment_2.py").parent.mkdir()
    (tmp_path / "code" / "my_experiment_2.py").write_text("")
    tf = training_file(
        tmp_path / "cfg" / "t.yaml", "my_experiment_2:Mine", "python_path: ../code\n"
    )
    assert import_roots(tf) == [(tmp_path / "code").resolve()]
    tf = training_file(tmp_path / "cfg" / "t.yaml", "x:Y", "python_path: [../nowhere]\n")
    with pytest.raises(ConfigError, match=r"t.yaml:1: python_path.0: no folder .*nowhere"):
        import_roots(tf)


def test_code_already_importable_is_found_where_it_is(tmp_path):
    tf = training_file(tmp_path / "t.yaml", "rllib_integration.carla_env:CarlaEnv")
    library_root = Path(rllib_integration.__file__).resolve().parents[1]
    assert import_roots(tf) == [library_root]


def test_workers_get_the_roots_then_the_library_then_the_inherited_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/inherited")
    library_root = Path(rllib_integration.__file__).resolve().parents[1]
    assert worker_python_path([tmp_path]).split(os.pathsep) == [
        str(tmp_path.resolve()),
        str(library_root),
        "/inherited",
    ]
