"""The training file's `multi_agent:` section: each agent mapped to a declared policy, or one
clear error naming the file, the line and the key (checked before Ray starts)."""

from __future__ import annotations

import pytest

from rllib_integration.config import ConfigError
from rllib_integration.training.multi_agent import AgentPolicies
from rllib_integration.training.training_file import (
    load_training_file,
    policy_of_agents,
    resolved_env_config,
)

HEAD = """\
env: rllib_integration.multi_agent_env:MultiAgentCarlaEnv
env_config:
  experiment:
    type: tests.integration.experiments:DriveStraight
    agents: {a: {}, b: {}}
multi_agent:
"""


def load(tmp_path, section: str):
    path = tmp_path / "train.yaml"
    path.write_text(HEAD + section)
    training_file = load_training_file(path)
    return training_file, resolved_env_config(training_file)


def test_one_policy_drives_every_agent_and_a_mapping_chooses_per_agent(tmp_path):
    training_file, env_config = load(tmp_path, "  policies: [shared]\n")
    assert policy_of_agents(training_file, env_config) == {"a": "shared", "b": "shared"}
    section = "  policies: [p, q]\n  policy_mapping_fn: {a: p, b: q}\n"
    training_file, env_config = load(tmp_path, section)
    assert policy_of_agents(training_file, env_config) == {"a": "p", "b": "q"}
    mapping = AgentPolicies({"a": "p"})
    assert (
        mapping("a", None) == "p"
        and __import__("pickle").loads(__import__("pickle").dumps(mapping))("a") == "p"
    )


@pytest.mark.parametrize(
    "section, expected",
    [
        ("  policies: []\n", [":7: multi_agent.policies", "list of policy ids"]),
        ("  policies: [p, q]\n", ["multi_agent.policy_mapping_fn", "missing"]),
        (
            "  policies: [p]\n  policy_mapping_fn: {a: p, b: r}\n",
            ["multi_agent.policy_mapping_fn.b", "'r' is not one of the policies"],
        ),
        (
            "  policies: [p]\n  policy_mapping_fn: {a: p, c: p}\n",
            ["multi_agent.policy_mapping_fn.c", "no such agent"],
        ),
        ("  policies: [p]\n  policy_mapping_fn: {a: p}\n", ["agent 'b' is mapped to no policy"]),
        ("  policies: [p]\n  policy_mapping_fn: nope:fn\n", ["cannot import module 'nope'"]),
    ],
)
def test_a_bad_mapping_is_one_error_with_file_and_line(tmp_path, section, expected):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, section)
    message = str(error.value)
    assert message.startswith(str(tmp_path / "train.yaml")), message
    for part in expected:
        assert part in message, (part, message)
