"""`env_config.experiment.agents`: each agent's settings merged over the shared section, and
one clear error (file, line, agent, key) for each kind of bad agent setting."""

from __future__ import annotations

import textwrap

import pytest

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import (
    ConfigError,
    agent_experiment_configs,
    load_config,
    resolve_env_config,
)

EXPERIMENT = "tests.integration.experiments:DriveStraight"
OTHER = "tests.integration.experiments:MultiAgentProbe"

CONFIG = f"""\
env_config:
  experiment:
    type: {EXPERIMENT}
    max_steps: 30
    time_limit: 2
    hero:
      sensors:
        gnss: {{type: sensor.other.gnss}}
    background_activity: {{n_vehicles: 2}}
    agents:
      car_0: {{}}
      car_1:
        max_steps: 10
        hero:
          blueprint: vehicle.tesla.model3
          spawn_points: ["1,2,3"]
      car_2:
        type: {OTHER}
        end_at_step: 4
      car_3:
"""


def write(tmp_path, text: str):
    path = tmp_path / "agents.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_agents_merge_their_own_settings_over_the_shared_ones(tmp_path):
    experiment = load_config(write(tmp_path, CONFIG))["env_config"]["experiment"]
    agents = agent_experiment_configs(experiment)
    assert list(agents) == ["car_0", "car_1", "car_2", "car_3"]
    car_0, car_1, car_2, car_3 = agents.values()
    assert car_0["max_steps"] == 30 and car_0["hero"]["sensors"] == {
        "gnss": {"type": "sensor.other.gnss"}
    }
    assert car_3 == car_0  # an agent with no settings of its own is the shared section
    # Mappings merge key by key: car_1 keeps the shared sensors under its own blueprint.
    assert car_1["max_steps"] == 10
    assert car_1["hero"]["blueprint"] == "vehicle.tesla.model3"
    assert car_1["hero"]["spawn_points"] == ["1,2,3"]
    assert car_1["hero"]["sensors"] == car_0["hero"]["sensors"]
    # An agent of its own class gets that class's defaults and the shared keys it knows.
    assert car_2["type"] == OTHER and car_2["end_at_step"] == 4
    assert car_2["max_steps"] == 30
    # The world is the same for everyone.
    for agent in agents.values():
        assert agent["time_limit"] == 2.0 and agent["background_activity"]["n_vehicles"] == 2
        assert "agents" not in agent


def test_resolving_a_resolved_multi_agent_config_changes_nothing(tmp_path):
    resolved = load_config(write(tmp_path, CONFIG))["env_config"]
    assert resolve_env_config(resolved) == resolved
    assert resolve_env_config(resolve_env_config(resolved)) == resolved


BAD_AGENTS = [
    ("    agents: []\n", ["experiment.agents", "mapping of agent ids"]),
    ("    agents: {}\n", ["experiment.agents", "mapping of agent ids"]),
    ("    agents:\n      car_0: 3\n", [":6: env_config.experiment.agents.car_0", "mapping"]),
    ("    agents:\n      __all__: {}\n", ["agents.__all__", "agent id"]),
    (
        "    agents:\n      car_0: {}\n      car_1:\n        max_step: 3\n",
        [":8: env_config.experiment.agents.car_1.max_step", "unknown key", "'max_steps'"],
    ),
    (
        "    agents:\n      car_1:\n        hero:\n          blueprnt: x\n",
        [":8: env_config.experiment.agents.car_1.hero.blueprnt", "'blueprint'"],
    ),
    (
        "    agents:\n      car_1:\n        hero:\n          sensors:\n"
        "            cam: {type: sensor.camera.rbg}\n",
        ["agents.car_1.hero.sensors.cam.type", "unknown sensor type", "'sensor.camera.rgb'"],
    ),
    (
        "    agents:\n      car_1:\n        hero:\n          spawn_points: ['1,2']\n",
        ["agents.car_1.hero.spawn_points.0", "'x,y,z'"],
    ),
    (
        "    agents:\n      car_1:\n        town: Grid01\n",
        [":7: env_config.experiment.agents.car_1.town", "every agent shares"],
    ),
    (
        "    agents:\n      car_1:\n        background_activity: {n_vehicles: 3}\n",
        ["agents.car_1.background_activity", "set it once in env_config.experiment"],
    ),
    (
        "    agents:\n      car_1:\n        type: tests.integration.experiments:Nope\n",
        ["agents.car_1.type", "has no class 'Nope'"],
    ),
    (
        "    agents:\n      car_1:\n        agents: {x: {}}\n",
        ["agents.car_1.agents", "cannot have agents"],
    ),
    ("    time_limit: 0\n", ["experiment.time_limit", "> 0"]),
]


@pytest.mark.parametrize("text, expected", BAD_AGENTS, ids=[str(i) for i in range(len(BAD_AGENTS))])
def test_a_bad_agent_setting_is_one_error_naming_file_line_agent_and_key(tmp_path, text, expected):
    path = write(
        tmp_path, f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    town: Loop01\n{text}"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, (part, message)


def test_an_agent_may_repeat_a_world_setting_it_shares(tmp_path):
    text = f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    town: Loop01\n"
    text += "    agents:\n      car_0: {town: Loop01, background_activity: {n_vehicles: 0}}\n"
    agents = agent_experiment_configs(
        load_config(write(tmp_path, text))["env_config"]["experiment"]
    )
    assert agents["car_0"]["town"] == "Loop01"


def test_single_agent_env_refuses_agents_and_multi_agent_needs_them():
    with pytest.raises(ConfigError, match="MultiAgentCarlaEnv"):
        CarlaEnv({"experiment": {"type": EXPERIMENT, "agents": {"a": {}}}})
    with pytest.raises(ConfigError, match="experiment.agents: a multi-agent env needs"):
        agent_experiment_configs(
            resolve_env_config({"experiment": {"type": EXPERIMENT}})["experiment"]
        )
