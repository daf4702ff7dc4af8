"""BaseExperiment's contract: defaults always present; an experiment that misses a method is
refused when its config is loaded, every missing method named."""

from __future__ import annotations

import pytest

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.config import ConfigError, load_config
from tests.integration.experiments import DriveStraight


class Child(DriveStraight):
    DEFAULT_CONFIG = {"max_steps": 7, "extra": {"a": 1, "b": 2}}


def test_defaults_merge_through_the_class_hierarchy_and_omitted_keys_have_values():
    experiment = Child({"extra": {"b": 3}, "hero": {"blueprint": "vehicle.tesla.model3"}})
    config = experiment.config
    assert config["max_steps"] == 7  # the subclass overrides its parent's default
    assert config["throttles"] == [0.0, 0.5, 1.0]  # inherited from DriveStraight
    assert config["extra"] == {"a": 1, "b": 3}
    assert config["hero"]["blueprint"] == "vehicle.tesla.model3"
    assert config["hero"]["sensors"] == {} and config["weather"] == "ClearNoon"
    assert Child.DEFAULT_CONFIG == {"max_steps": 7, "extra": {"a": 1, "b": 2}}  # not modified


def test_a_subclass_missing_methods_is_refused_at_config_load_naming_every_one(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        "env_config:\n  experiment:\n    type: tests.integration.experiments:Unfinished\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}:3: env_config.experiment.type: Unfinished does not define compute_reward(), "
        "get_done_status(), get_observation_space() (every BaseExperiment must)"
    )


def test_every_abstract_method_is_declared_and_reset_is_optional():
    assert BaseExperiment.__abstractmethods__ == {
        "get_action_space",
        "get_observation_space",
        "compute_action",
        "get_observation",
        "get_done_status",
        "compute_reward",
    }
    assert DriveStraight({}).reset() is None


def test_optional_hooks_have_neutral_defaults():
    experiment = DriveStraight({})
    assert experiment.get_info() == {}
    assert experiment.route_completion(None) is None  # no route: the env reports none
