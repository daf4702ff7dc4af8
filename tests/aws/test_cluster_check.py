"""The shipped autoscaler YAML against Ray's own validators, and check-cluster's own checks."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aws.cluster_check import check_cluster, ray_schema_errors, read_training_needs
from tests.aws.conftest import HELPER, ROOT

SHIPPED = ROOT / "dqn_example" / "dqn_autoscaler.yaml"
FILLED = {"ami-REPLACE_ME": "ami-0123456789abcdef0", "sg-REPLACE_ME": "sg-0123456789abcdef0"}

# An RLlib AlgorithmConfig-style training YAML that the shipped cluster can host: the learner's
# GPU on the head, 8 env runners of 3 CPU + 0.5 GPU on 4 g4dn.2xlarge workers.
FITTING_TRAINING = """
env_runners: {num_env_runners: 8, num_cpus_per_env_runner: 3, num_gpus_per_env_runner: 0.5}
learners: {num_gpus_per_learner: 1}
env_config: {carla: {}, experiment: {}}
"""


def _cluster() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _filled(tmp_path: Path, mutate=None) -> Path:
    text = SHIPPED.read_text()
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    config = yaml.safe_load(text)
    if mutate:
        mutate(config)
    return _write(tmp_path, "cluster.yaml", config)


def test_shipped_yaml_passes_rays_own_validation():
    # Raw JSON schema, then prepare_config + validate_config, as `ray up` does.
    assert ray_schema_errors(_cluster()) == []


def test_shipped_yaml_fits_a_training_config_that_the_nodes_can_host(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # file_mounts are relative to where `ray up` runs
    training = _write(tmp_path, "train.yaml", FITTING_TRAINING)
    report = check_cluster(_filled(tmp_path), training)
    assert report.errors == [] and report.warnings == []
    assert any("capacity OK" in note for note in report.notes)


def test_check_cluster_cli_reports_every_unfilled_placeholder(tmp_path):
    training = _write(tmp_path, "train.yaml", FITTING_TRAINING)
    command = [sys.executable, str(HELPER), "check-cluster", str(SHIPPED),
               "--training-config", str(training)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(lines) == 4, result.stdout
    for node in ("head", "gpu_worker"):
        assert any(f"{node}.node_config.ImageId: unfilled placeholder" in line for line in lines)
        assert any(
            f"{node}.node_config.SecurityGroupIds: unfilled placeholder" in line for line in lines
        )
    assert result.stdout.rstrip().endswith("4 problem(s)")


def _set(path: list, value):
    def mutate(config):
        target = config
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set(["head_node_type"], "nope"), "`head_node_type` must be one of `available_node_types`"),
        (_set(["max_workers"], "4"), "max_workers: '4' is not of type 'integer'"),
        (_set(["typo_field"], 1), "'typo_field' was unexpected"),
        (_set(["setup_commands"], "pip install x"), "setup_commands: 'pip install x' is not of type 'array'"),
        (_set(["available_node_types", "gpu_worker", "node_config"], _DELETE),
         "available_node_types.gpu_worker: 'node_config' is a required property"),
        (_set(["available_node_types", "gpu_worker", "resources", "GPU"], "1"),
         "'1' is not of type 'integer'"),
        (_set(["provider", "type"], "awz"), "Unsupported node provider: awz"),
        (_set(["provider"], _DELETE), "'provider' is a required property"),
        (_set(["available_node_types", "gpu_worker", "min_workers"], 9),
         "global `max_workers` is smaller than the sum of `min_workers`"),
        (_set(["provider", "region"], _DELETE), "provider.region: missing"),
        (_set(["available_node_types", "head", "node_config", "InstanceType"], _DELETE),
         "head.node_config: InstanceType is missing"),
        (_set(["available_node_types", "gpu_worker", "node_config", "ImageId"], 123),
         "gpu_worker.node_config.ImageId: unfilled placeholder or not an AMI id: 123"),
    ],
    ids=["head-type", "max-workers-str", "unknown-key", "setup-str", "no-node-config",
         "gpu-str", "provider-type", "no-provider", "min-gt-max", "no-region", "no-instance-type",
         "bad-image-id"],
)  # fmt: skip
def test_broken_variants_are_rejected_with_clear_messages(tmp_path, mutate, message):
    training = _write(tmp_path, "train.yaml", FITTING_TRAINING)
    report = check_cluster(_filled(tmp_path, mutate), training)
    assert not report.ok
    assert any(message in error for error in report.errors), report.errors
    assert all(error.startswith(str(tmp_path / "cluster.yaml")) for error in report.errors)


def test_node_type_too_small_for_an_env_runner(tmp_path):
    # The original's config: an env runner wanting 11 CPUs on 8-vCPU g4dn.2xlarge nodes.
    training = _write(
        tmp_path, "train.yaml", "env_runners: {num_env_runners: 2, num_cpus_per_env_runner: 11}\n"
    )
    report = check_cluster(_filled(tmp_path), training)
    assert any(
        "node type gpu_worker (g4dn.2xlarge: 8 CPU, 1 GPU) is too small for the training config"
        in error
        and "env runner: 11 CPU, 0 GPU" in error
        for error in report.errors
    ), report.errors
    assert any("cannot place 2 env runner(s)" in error for error in report.errors)


def test_cluster_too_small_in_total_and_head_without_gpu(tmp_path):
    def cpu_head(config):
        config["available_node_types"]["head"]["node_config"]["InstanceType"] = "m5.large"
        config["available_node_types"]["head"]["resources"] = {}  # size from the instance type

    training = _write(
        tmp_path, "train.yaml",
        "env_runners: {num_env_runners: 12, num_cpus_per_env_runner: 3, num_gpus_per_env_runner: 0.5}\n"
        "learners: {num_gpus_per_learner: 1}\n",
    )  # fmt: skip
    report = check_cluster(_filled(tmp_path, cpu_head), training)
    assert any(
        "head node type head (m5.large: 2 CPU, 0 GPU) is too small for the driver" in error
        and "needs 1 CPU, 1 GPU" in error
        for error in report.errors
    ), report.errors
    assert any("cannot place 4 env runner(s)" in error for error in report.errors)


def test_unknown_instance_type_without_resources_is_a_warning(tmp_path):
    def exotic(config):
        worker = config["available_node_types"]["gpu_worker"]
        worker["node_config"]["InstanceType"] = "x9z.huge"
        worker["resources"] = {}

    training = _write(tmp_path, "train.yaml", FITTING_TRAINING)
    report = check_cluster(_filled(tmp_path, exotic), training)
    assert report.ok
    assert any("cannot tell the size of InstanceType 'x9z.huge'" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FITTING_TRAINING, (8, 3, 0.5, 0, 1)),
        ("num_env_runners: 3\nnum_cpus_per_env_runner: 2\nnum_gpus_per_learner: 0\n", (3, 2, 0, 0, 0)),
        ("num_workers: 5\nnum_cpus_per_worker: 4\nnum_gpus_per_worker: 0.25\n", (5, 4, 0.25, 0, 0)),
        ("config: {env_runners: {num_env_runners: 2}, learners: {num_learners: 1, num_gpus_per_learner: 1}}\n",
         (2, 1, 0, 1, 1)),
        ("env_config: {}\n", (0, 1, 0, 0, 0)),
    ],
    ids=["sections", "flat", "legacy", "under-config", "defaults"],
)  # fmt: skip
def test_training_config_keys_are_read_in_their_spellings(tmp_path, text, expected):
    needs = read_training_needs(_write(tmp_path, "train.yaml", text))
    assert (
        needs.num_env_runners, needs.cpus_per_env_runner, needs.gpus_per_env_runner,
        needs.num_learners, needs.gpus_per_learner,
    ) == expected  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("env_runners: {num_env_runners: two}\n", "env_runners.num_env_runners: expected a non-negative number, got 'two'"),
        ("env_runners: {num_env_runners: 1.5}\n", "env_runners.num_env_runners: expected a whole number"),
        ("learners: {num_gpus_per_learner: -1}\n", "learners.num_gpus_per_learner: expected a non-negative number"),
        ("env_runners: [\n", "not valid YAML"),
    ],
    ids=["word", "fraction", "negative", "bad-yaml"],
)  # fmt: skip
def test_bad_training_values_name_the_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, "train.yaml", text)
    report = check_cluster(_filled(tmp_path), path)
    assert report.errors and report.errors[0].startswith(str(path)) and message in report.errors[0]


def test_missing_training_config_is_named(tmp_path):
    report = check_cluster(_filled(tmp_path), tmp_path / "absent.yaml")
    assert report.errors == [
        f"{tmp_path / 'absent.yaml'}: training config not found (pass --training-config)"
    ]


def test_unfilled_yaml_is_not_modified_by_the_check(tmp_path):
    copy_path = _write(tmp_path, "cluster.yaml", SHIPPED.read_text())
    before = copy.copy(copy_path.read_text())
    check_cluster(copy_path, _write(tmp_path, "train.yaml", FITTING_TRAINING))
    assert copy_path.read_text() == before


TRAINING_CONFIGS = sorted((ROOT / "dqn_example").glob("dqn_config*.yaml"))


@pytest.mark.parametrize("training", TRAINING_CONFIGS, ids=[p.name for p in TRAINING_CONFIGS])
def test_shipped_cluster_can_host_the_projects_training_configs(tmp_path, monkeypatch, training):
    monkeypatch.chdir(ROOT)
    report = check_cluster(_filled(tmp_path), training)
    assert report.errors == [], report.errors


def test_filling_the_cluster_yaml_keeps_comments_and_flags_a_region_mismatch(tmp_path):
    from aws.cluster_yaml import fill_node_configs
    from aws.errors import HelperError

    path = _write(tmp_path, "cluster.yaml", SHIPPED.read_text())
    warnings = fill_node_configs(
        path, "ami-0123456789abcdef0", ["sg-0123456789abcdef0", "sg-00000000aaaaaaaa1"], "eu-west-3"
    )
    assert warnings == [
        f"{path}: provider.region is 'us-east-1' but the AMI is in 'eu-west-3': set "
        "provider.region: eu-west-3"
    ]
    text = path.read_text()
    assert "ImageId: ami-0123456789abcdef0            # ImageId from create-image" in text
    assert text.count("SecurityGroupIds: [sg-0123456789abcdef0, sg-00000000aaaaaaaa1]") == 2
    assert len(text.splitlines()) == len(SHIPPED.read_text().splitlines())
    report = check_cluster(path, _write(tmp_path, "train.yaml", FITTING_TRAINING))
    assert not any("placeholder" in error for error in report.errors), report.errors

    no_groups = _write(tmp_path, "other.yaml", "cluster_name: x\nImageId: ami-REPLACE_ME\n")
    with pytest.raises(HelperError, match="no `SecurityGroupIds: \\[...\\]` line to fill"):
        fill_node_configs(no_groups, "ami-0123456789abcdef0", ["sg-0123456789abcdef0"], "x")
    assert no_groups.read_text() == "cluster_name: x\nImageId: ami-REPLACE_ME\n"  # untouched
