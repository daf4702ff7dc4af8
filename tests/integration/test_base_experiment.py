"""BaseExperiment's contract: defaults always present, abstract methods raise (not return)."""

from __future__ import annotations

import pytest

from rllib_integration.base_experiment import BaseExperiment
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


@pytest.mark.parametrize(
    "method, args",
    [
        ("get_action_space", ()),
        ("get_observation_space", ()),
        ("compute_action", (0,)),
        ("get_observation", ({},)),
        ("get_done_status", (None, None)),
        ("compute_reward", (None, None)),
    ],
)
def test_methods_left_out_raise_not_implemented(method, args):
    class Incomplete(BaseExperiment):
        pass

    with pytest.raises(NotImplementedError, match=f"Incomplete must define {method}"):
        getattr(Incomplete({}), method)(*args)
    assert Incomplete({}).reset() is None  # reset is optional


def test_optional_hooks_have_neutral_defaults():
    experiment = DriveStraight({})
    assert experiment.get_info() == {}
    assert experiment.route_completion(None) is None  # no route: the env reports none
