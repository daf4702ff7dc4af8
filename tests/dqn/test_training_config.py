"""The DQN example's YAML files mapped onto RLlib's DQNConfig and Tune settings (by the
library's training-file code, which every trainer shares)."""

from __future__ import annotations

import pytest

from rllib_integration.config import ConfigError
from rllib_integration.training.algorithm_config import build_algorithm_config
from rllib_integration.training.training_file import (
    TrainingFile,
    apply_overrides,
    load_training_file,
    resolved_env_config,
    run_settings,
)
from tests.dqn.helpers import CONFIG, ROOT


def shipped() -> TrainingFile:
    return load_training_file(CONFIG)


@pytest.mark.parametrize("name", ["dqn_config.yaml", "dqn_config_gpu.yaml"])
def test_shipped_configs_build(name):
    config = build_algorithm_config(load_training_file(ROOT / "dqn_example" / name))
    assert config.algo_class.__name__ == "DQN"
    assert config.env_config["experiment"]["type"] == "dqn_example.dqn_experiment:DQNExperiment"


def test_sections_reach_the_algorithm_config():
    tf = shipped()
    apply_overrides(
        tf,
        [
            "training.lr=1e-4",
            "env_runners.num_env_runners=3",
            "rl_module.model_config.hiddens=[64, 32]",
            "env_config.experiment.framestack=2",
        ],
    )
    config = build_algorithm_config(tf)
    assert config.lr == 1e-4 and config.num_env_runners == 3
    assert config.model_config["hiddens"] == [64, 32]
    # Dueling is the QNet's own; RLlib's heads are off. Epsilon reaches the module (P6).
    assert config.dueling is False and config.num_atoms == 1
    assert config.model_config["epsilon"] == tf.section("training")["epsilon"]
    # env_config is merged over the experiment's defaults (keys the YAML leaves out included).
    experiment = config.env_config["experiment"]
    assert experiment["framestack"] == 2 and experiment["min_fall_height"] == -0.5


def test_stop_and_checkpoint_settings():
    tf = shipped()
    apply_overrides(tf, ["stop.episode_return=250", "stop.iterations=7", "checkpoint.keep=1"])
    settings = run_settings(tf)
    assert settings.stop == {
        "num_env_steps_sampled_lifetime": tf.section("stop")["timesteps"],
        "time_total_s": tf.section("stop")["time_s"],
        "env_runners/episode_return_mean": 250,
        "training_iteration": 7,
    }
    assert (settings.checkpoint_frequency, settings.checkpoints_to_keep) == (5, 1)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("framework=tf2", "framework: 'tf2' is not supported"),
        ("rl_module.spec=x", "rl_module.spec: unknown key; valid: model_config, module_class"),
        ("algorithm=PPOO", "algorithm: unknown algorithm 'PPOO'; did you mean 'PPO'?"),
        ("algorithm=CQL", "algorithm: CQL learns offline from recorded data"),
        ("stop.reward=1", "stop.reward: unknown key"),
        ("checkpoint.frequency=0", "checkpoint.frequency: must be an integer >= 1"),
        ("env_runners.num_workers=2", "env_runners.num_workers: unknown key"),
        ("training=[1]", "training: must be a mapping, got a list"),
        ("env=nowhere:Env", "env: cannot import module 'nowhere'"),
        ("training.lr.value=1", "--set 'training.lr.value=1': training.lr is not a section"),
        # Values RLlib or the env would only fail on after Ray started, or never.
        ("training.lr=.nan", "training.lr: must be a finite number, got nan"),
        ("training.gamma=1.5", "training.gamma: must be >= 0 and <= 1, got 1.5"),
        ("training.replay_buffer_config.capacity=-1", "capacity: must be >= 1, got -1"),
        ("env_runners.num_env_runners=-3", "env_runners.num_env_runners: must be >= 0"),
        ("env_runners.num_env_runners=two", "num_env_runners: must be a number, got 'two'"),
        ("stop.timesteps=-5", "stop.timesteps: must be > 0, got -5"),
        ("stop.episode_return=.inf", "stop.episode_return: must be a finite number, got inf"),
        ("env_config.carla.timeout=1e300", "env_config.carla.timeout: must be > 0 and <= 3600"),
        ("env_config.carla.timestep=.inf", "env_config.carla.timestep: must be a finite number"),
        ("env_config.carla.base_port=65000", "env_config.carla.base_port: must be >= 1024"),
        (
            "env_config.experiment.hero.sensors.birdview.size=1e9",
            "hero.sensors.birdview: sensor.birdview: size must be 8 to 4096 pixels",
        ),
        ("env_config.experiment.town=Town99", "town: the embedded server has no such town"),
    ],
)
def test_bad_values_name_the_file_and_key(override, message):
    tf = shipped()
    with pytest.raises(ConfigError) as raised:
        apply_overrides(tf, [override])
        run_settings(tf)
        build_algorithm_config(tf)
    where = "--set" if message.startswith("--set") else "dqn_config.yaml"
    assert message in str(raised.value) and where in str(raised.value)


def test_errors_in_the_file_name_its_line(tmp_path):
    """As the library's config errors do: file, line, dotted key, closest valid key."""
    text = CONFIG.read_text()
    lines = text.splitlines()
    training = lines.index("training:")
    lines.insert(training + 1, "  lrr: 0.001")
    experiment = next(i for i, line in enumerate(lines) if line.strip() == "experiment:")
    indent = lines[experiment + 1][
        : len(lines[experiment + 1]) - len(lines[experiment + 1].lstrip())
    ]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        build_algorithm_config(load_training_file(path))
    assert str(raised.value).startswith(f"{path}:{training + 2}: training.lrr: unknown key")
    assert "did you mean 'lr'?" in str(raised.value)

    lines.pop(training + 1)
    lines.insert(experiment + 1, f"{indent}framestak: 3")  # first key under experiment:
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        run_settings(tf := load_training_file(path))
        resolved_env_config(tf)
    where = f"{path}:{experiment + 2}: env_config.experiment.framestak: unknown key"
    assert str(raised.value).startswith(where), str(raised.value)
    assert "did you mean 'framestack'?" in str(raised.value)


def test_set_values_are_read_with_the_config_loader():
    """A --set value is YAML read as safely as the file: a key given twice is an error."""
    tf = shipped()
    with pytest.raises(ConfigError) as raised:
        apply_overrides(tf, ["training.replay_buffer_config={capacity: 10, capacity: 20}"])
    message = str(raised.value)
    assert message.startswith("--set 'training.replay_buffer_config="), message
    assert "duplicate key 'capacity'" in message, message
