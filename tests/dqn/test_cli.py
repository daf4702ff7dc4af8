"""Bad command lines and missing checkpoints: one clear message, non-zero exit, no traceback."""

from __future__ import annotations

import pytest

from tests.dqn.helpers import CONFIG, run_script


def assert_clean_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["missing.yaml"], ["missing.yaml: cannot read config file"]),
        (
            [str(CONFIG), "--set", "training.lrr=1e-4"],
            ["dqn_config.yaml: training.lrr: unknown key", "did you mean 'lr'"],
        ),
        (
            [str(CONFIG), "--set", "trainng.lr=1e-4"],
            ["trainng: unknown top-level key; did you mean 'training'"],
        ),
        ([str(CONFIG), "--set", "training.lr"], ["--set 'training.lr'", "KEY.PATH=VALUE"]),
        ([str(CONFIG), "--set", "stop.timesteps=many"], ["stop.timesteps: must be a number"]),
        (
            [str(CONFIG), "--set", "env_config.experiment.framestak=3"],
            ["env_config.experiment.framestak", "did you mean 'framestack'"],
        ),
        ([str(CONFIG), "--restore", "--auto"], ["not allowed with argument"]),
        ([str(CONFIG), "--name", "a/b"], ["--name"]),
        ([str(CONFIG), "--bogus"], ["unrecognized arguments: --bogus"]),
    ],
)
def test_train_rejects_bad_arguments(args, fragments, tmp_path):
    result = run_script("dqn_train.py", *args, "--directory", str(tmp_path), timeout=60)
    assert_clean_error(result, *fragments)
    assert not any(tmp_path.iterdir())  # nothing was started or written


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("stop.timesteps=-5", "stop.timesteps: must be > 0, got -5"),
        ("training.lr=.nan", "training.lr: must be a finite number, got nan"),
        ("env_runners.num_env_runners=-3", "env_runners.num_env_runners: must be >= 0"),
        ("env_config.carla.timeout=1e300", "env_config.carla.timeout: must be > 0 and <= 3600"),
    ],
)
def test_train_refuses_values_before_ray_starts(override, fragment, tmp_path):
    result = run_script("dqn_train.py", str(CONFIG), "-d", str(tmp_path), "--set", override)
    assert_clean_error(result, fragment)
    assert "Ray instance" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir())


def test_train_refuses_a_results_folder_it_cannot_write(tmp_path):
    (tmp_path / "a_file").write_text("in the way")
    directory = tmp_path / "a_file" / "results"
    result = run_script("dqn_train.py", str(CONFIG), "-d", str(directory), timeout=120)
    assert_clean_error(result, f"--directory {directory}: cannot write results there")
    assert "Ray instance" not in result.stdout + result.stderr


def test_train_restore_without_a_checkpoint(tmp_path):
    result = run_script("dqn_train.py", str(CONFIG), "-d", str(tmp_path), "--restore")
    assert_clean_error(result, "--restore: no complete checkpoint under", str(tmp_path))
    result = run_script("dqn_train.py", str(CONFIG), "-d", str(tmp_path), "--restore", "/nope")
    assert_clean_error(result, "checkpoint not found: /nope")


def test_train_refuses_to_mix_with_earlier_results(tmp_path):
    (tmp_path / "dqn_example").mkdir()
    (tmp_path / "dqn_example" / "progress.csv").write_text("x\n")
    result = run_script("dqn_train.py", str(CONFIG), "-d", str(tmp_path))
    assert_clean_error(result, "already holds results", "--auto", "--overwrite")
    assert (tmp_path / "dqn_example" / "progress.csv").exists()  # nothing lost


@pytest.mark.parametrize("script", ["dqn_inference.py", "dqn_inference_ray.py"])
def test_inference_with_a_missing_checkpoint(script, tmp_path):
    result = run_script(script, str(CONFIG), str(tmp_path / "nothing_here"), timeout=60)
    assert_clean_error(result, "checkpoint not found", "nothing_here")
    result = run_script(script, str(CONFIG), str(tmp_path), timeout=60)  # empty folder
    assert_clean_error(result, "no complete checkpoint at", str(tmp_path))


@pytest.mark.parametrize("script", ["dqn_inference.py", "dqn_inference_ray.py"])
def test_inference_rejects_bad_arguments(script, tmp_path):
    result = run_script(script, str(CONFIG), str(tmp_path), "--episodes", "0", timeout=60)
    assert_clean_error(result, "--episodes: must be >= 1")
    result = run_script(script, str(CONFIG), timeout=60)
    assert_clean_error(result, "the following arguments are required: checkpoint")
