"""Sensor entries and towns checked when the config is loaded: the file, the line, the key and a
suggestion that makes sense; an `.xodr` town reaches the embedded server on its command line."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import ConfigError, load_config
from rllib_integration.embedded.maps import builtin_xodr
from tests.conftest import CARLA_TOWNS


def load(tmp_path: Path, experiment: str, carla: str = "{server: embedded}") -> dict:
    path = tmp_path / "train.yaml"
    path.write_text(
        "env_config:\n"
        f"  carla: {carla}\n"
        "  experiment:\n"
        "    type: tests.integration.experiments:DriveStraight\n"
        + textwrap.indent(textwrap.dedent(experiment), "    ")
    )
    return load_config(path)


def error(tmp_path: Path, experiment: str, carla: str = "{server: embedded}") -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, experiment, carla)
    return str(raised.value)


SENSORS = """\
hero:
  sensors:
    camera:
      type: {type}
      {key}: {value}
"""


@pytest.mark.parametrize(
    ("sensor", "key", "value", "message"),
    [
        ("sensor.camera.rgb", "image_sise_y", 84,
         "camera.image_sise_y: sensor.camera.rgb has no attribute 'image_sise_y'; "
         "did you mean 'image_size_y'?"),
        ("sensor.camera.rgb", "image_size_x", "big",
         "camera.image_size_x: sensor.camera.rgb's 'image_size_x' must be a whole number, "
         "got 'big'"),
        ("sensor.camera.rgb", "exposure_mode", "auto",
         "camera.exposure_mode: sensor.camera.rgb's 'exposure_mode' must be one of"),
        ("sensor.other.imu", "noise_seed", 1.5,
         "camera.noise_seed: sensor.other.imu's 'noise_seed' must be a whole number"),
        ("sensor.birdview", "sise", 64,
         "hero.sensors.camera: sensor.birdview: unknown option(s) ['sise']"),
        ("sensor.lane_state", "horizon", -5,
         "hero.sensors.camera: horizon must be a number > 0, got -5"),
    ],
)  # fmt: skip
def test_a_bad_sensor_entry_names_the_file_line_and_key(tmp_path, sensor, key, value, message):
    found = error(tmp_path, SENSORS.format(type=sensor, key=key, value=value))
    line = 9 if sensor.startswith("sensor.camera") or sensor.startswith("sensor.other") else 7
    assert found.startswith(f"{tmp_path / 'train.yaml'}:{line}: "), found
    assert message in found, found


def test_good_entries_pass_and_values_keep_their_types(tmp_path):
    config = load(tmp_path, SENSORS.format(type="sensor.camera.rgb", key="sensor_tick", value=0.1))
    assert config["env_config"]["experiment"]["hero"]["sensors"]["camera"]["sensor_tick"] == 0.1


def test_a_cut_short_sensor_type_suggests_the_full_name(tmp_path):
    found = error(tmp_path, "hero: {sensors: {seg: {type: sensor.camera.semantic}}}\n")
    assert found.endswith(
        "seg.type: unknown sensor type 'sensor.camera.semantic'; did you mean "
        "'sensor.camera.semantic_segmentation'?"
    )


def test_an_own_pseudo_sensor_that_cannot_be_imported_names_its_line(tmp_path):
    found = error(tmp_path, "hero: {sensors: {mine: {type: 'nowhere.sensors:Mine'}}}\n")
    assert found.startswith(f"{tmp_path / 'train.yaml'}:5: ")
    assert "hero.sensors.mine.type: cannot import module 'nowhere.sensors'" in found


def test_an_unknown_town_lists_what_is_available_and_from_where(tmp_path):
    found = error(tmp_path, "town: Town01\n", "{server: embedded, map_dir: null}")
    assert found.startswith(f"{tmp_path / 'train.yaml'}:5: env_config.experiment.town: ")
    assert "the embedded server has no such town 'Town01'" in found
    assert "available: built-in: Loop01, Grid01, Highway01, Roundabout01" in found
    assert "env_config.carla.map_dir" in found
    assert "did you mean" not in found  # Town01 is not Loop01
    assert "the embedded server has no such town 'Grid1' (did you mean 'Grid01'?); " in (
        error(tmp_path, "town: Grid1\n")
    )


@pytest.mark.skipif(not (CARLA_TOWNS / "Town01.xodr").exists(), reason="no CARLA towns here")
def test_carla_towns_come_from_map_dir(tmp_path):
    config = load(
        tmp_path, "town: [Town01, Loop01]\n", f"{{server: embedded, map_dir: {CARLA_TOWNS}}}"
    )
    assert config["env_config"]["experiment"]["town"] == ["Town01", "Loop01"]
    found = error(tmp_path, "town: Town99\n", f"{{server: embedded, map_dir: {CARLA_TOWNS}}}")
    assert f"env_config.carla.map_dir ({CARLA_TOWNS}): Town01, Town02" in found


def test_xodr_towns_by_path(tmp_path):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "my_town.xodr").write_text(builtin_xodr("Grid01"))
    config = load(tmp_path, "town: maps/my_town.xodr\n")  # relative to the config file
    assert config["env_config"]["experiment"]["town"] == str(tmp_path / "maps" / "my_town.xodr")
    assert "no OpenDRIVE file" in error(tmp_path, "town: maps/none.xodr\n")
    attached = error(tmp_path, "town: maps/my_town.xodr\n", "{port: 2000}")
    assert "an .xodr town needs the embedded server" in attached


def test_an_xodr_town_reaches_the_embedded_server(tmp_path):
    path = tmp_path / "my_town.xodr"
    path.write_text(builtin_xodr("Grid01"))
    config = load(tmp_path, f"town: {path}\nmax_steps: 3\n")["env_config"]
    env = CarlaEnv(config)
    try:
        _, info = env.reset(seed=1)
        assert info["env"]["town"] == "my_town"
        assert env.core.map.name.endswith("my_town")
    finally:
        env.close()


def test_the_readmes_own_pseudo_sensor_runs(tmp_path, monkeypatch):
    """The README's `Heading` example, as a user would save it beside the YAML."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme[readme.rindex("```python\n", 0, readme.index("class Heading")) + 10 :]
    (tmp_path / "my_sensors.py").write_text(code[: code.index("```\n")])
    monkeypatch.syspath_prepend(str(tmp_path))
    sensors = "{heading: {type: 'my_sensors:Heading'}}"
    config = load(tmp_path, f"hero: {{sensors: {sensors}}}\nmax_steps: 3\n")["env_config"]
    env = CarlaEnv(config)
    try:
        env.reset(seed=1)
        yaw = env.experiment.last_sensor_data["heading"][1]
        monkeypatch.delitem(sys.modules, "my_sensors")  # other tests import no stale copy
        assert isinstance(yaw, np.float32)
        assert yaw == pytest.approx(env.core.hero.get_transform().rotation.yaw, abs=1e-3)
    finally:
        env.close()
