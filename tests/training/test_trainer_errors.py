"""The mistakes a new experiment makes, each one clear message from the trainer (exit status 2)
before Ray starts: a missing method, an observation outside its space, a NaN control."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import run_command
from tests.dqn.helpers import assert_no_servers_left, script_env


def train(tmp_path, experiment: str, check: bool = True):
    config = tmp_path / "train.yaml"
    config.write_text(
        "algorithm: PPO\n"
        "env_config:\n"
        f"  carla: {{server: embedded, log_dir: {tmp_path / 'logs'}}}\n"
        f"  experiment: {experiment}\n"
    )
    command = [sys.executable, "-m", "rllib_integration.train", str(config)]
    command += ["-d", str(tmp_path / "results")] + ([] if check else ["--no-check"])
    return config, run_command(command, 180, script_env())


def only_error(result) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr
    assert "Ray instance" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_missing_method_is_named_at_config_load(tmp_path):
    config, result = train(tmp_path, "{type: 'tests.integration.experiments:Unfinished'}")
    assert only_error(result) == (
        f"carla-rllib-train: error: {config}:4: env_config.experiment.type: Unfinished does not "
        "define compute_reward(), get_done_status(), get_observation_space() "
        "(every BaseExperiment must)"
    )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "large",
            "Misbehaving.get_observation() returned an observation outside "
            "get_observation_space(): observation['imu'][0] = 1000 is above the space's high 10",
        ),
        ("nan_control", "returned a control whose throttle is nan, not a finite number"),
    ],
)
def test_a_wrong_observation_or_control_fails_the_env_check(tmp_path, fault, message):
    experiment = f"{{type: 'tests.integration.experiments:Misbehaving', fault: {fault}}}"
    _, result = train(tmp_path, experiment)
    error = only_error(result)
    assert error.startswith("carla-rllib-train: error: the env check failed: ") and message in error
    assert error.endswith("(before Ray started; --no-check skips the check)")
    assert not (tmp_path / "results").exists()
    assert_no_servers_left(tmp_path / "logs")


@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        (
            "{type: 'tests.integration.experiments:DriveStraight', hero: {sensors: "
            "{camera: {type: sensor.camera.rgb, image_sise_y: 84}}}}",
            "env_config.experiment.hero.sensors.camera.image_sise_y: sensor.camera.rgb has no "
            "attribute 'image_sise_y'; did you mean 'image_size_y'?",
        ),
        (
            "{type: 'tests.integration.experiments:DriveStraight', town: Town01}",
            "env_config.experiment.town: the embedded server has no such town 'Town01'; "
            "available: built-in: Loop01, Grid01, Highway01, Roundabout01",
        ),
    ],
)
def test_a_sensor_attribute_typo_or_a_wrong_town_is_named_at_config_load(
    tmp_path, experiment, message
):
    config, result = train(tmp_path, experiment)
    error = only_error(result)
    assert error.startswith(f"carla-rllib-train: error: {config}:4: {message}"), error
    assert not (tmp_path / "logs").exists()  # no server was started


def test_an_error_no_restart_can_fix_ends_the_run_once(tmp_path):
    """Past the env check (--no-check), an env runner's first episode hits a SpaceError: the
    run ends with that one message and status 1 at the end of that iteration, instead of RLlib
    restarting the runner forever (or, while a slow restart is under way, running and
    checkpointing iterations of 0 steps)."""
    config = tmp_path / "train.yaml"
    config.write_text(
        "algorithm: PPO\n"
        "env_runners: {num_env_runners: 1}\n"
        "training: {train_batch_size: 64, minibatch_size: 32, num_epochs: 1}\n"
        "fault_tolerance: {delay_between_env_runner_restarts_s: 1.0}\n"
        "env_config:\n"
        f"  carla: {{server: embedded, log_dir: {tmp_path / 'logs'}}}\n"
        "  experiment: {type: 'tests.integration.experiments:Misbehaving', fault: large}\n"
    )
    command = [sys.executable, "-m", "rllib_integration.train", str(config), "--no-check"]
    result = run_command(command + ["-d", str(tmp_path / "results")], 300, script_env())
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-5000:]
    failed = [line for line in result.stderr.splitlines() if "training failed" in line]
    assert len(failed) == 1, result.stderr[-3000:]
    assert failed[0].startswith(
        "carla-rllib-train: training failed: an env runner failed with an error that restarting "
        "it cannot fix: SpaceError: Misbehaving.get_observation() returned an observation outside "
        "get_observation_space(): observation['imu'][0] = 1000 is above the space's high 10"
    ), failed[0]
    # Stopped in the iteration the runner failed in, however fast RLlib restarts it.
    assert "errored after 0 iterations" in result.stdout + result.stderr, result.stderr[-3000:]
    # Nothing to resume: the run's folder is gone, so the same command can run again.
    assert not (tmp_path / "results" / "run").exists()
    assert f"no checkpoint was written; removed {tmp_path / 'results' / 'run'}" in result.stderr
    assert_no_servers_left(tmp_path / "logs")
