"""check-cluster: validate a Ray autoscaler YAML offline and against the training config's needs.

Three layers, each reported as `FILE: where: message`:
1. Ray's own checks: the raw YAML against Ray's JSON schema, then Ray's `prepare_config` and
   `validate_config` (what `ray up` runs before touching AWS).
2. What Ray accepts but AWS or this project will not: unfilled ImageId / SecurityGroupIds
   placeholders, a missing region, node_config without ImageId or InstanceType.
3. Capacity: can the head host the driver, and can the node types (at max_workers) host every
   env runner and learner the training config asks for?

Training-config keys read (RLlib AlgorithmConfig names; a key may sit in its section or at the
top level, and a top-level `config:` mapping is searched too). Defaults are RLlib's:
  env_runners.num_env_runners            (0; legacy num_workers)
  env_runners.num_cpus_per_env_runner    (1; legacy num_cpus_per_worker)
  env_runners.num_gpus_per_env_runner    (0; legacy num_gpus_per_worker)
  learners.num_learners                  (0: the learner runs in the driver process)
  learners.num_cpus_per_learner          ("auto": 1 without GPU, else 0)
  learners.num_gpus_per_learner          (0)
  resources.num_cpus_for_main_process    (1; legacy num_cpus_for_driver)
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# vCPUs and GPUs of common instance types, for node types that do not state `resources`.
INSTANCE_RESOURCES: dict[str, tuple[int, int]] = {
    **{f"g4dn.{s}": r for s, r in {"xlarge": (4, 1), "2xlarge": (8, 1), "4xlarge": (16, 1),
       "8xlarge": (32, 1), "12xlarge": (48, 4), "16xlarge": (64, 1), "metal": (96, 8)}.items()},
    **{f"g5.{s}": r for s, r in {"xlarge": (4, 1), "2xlarge": (8, 1), "4xlarge": (16, 1),
       "8xlarge": (32, 1), "12xlarge": (48, 4), "16xlarge": (64, 1), "24xlarge": (96, 4),
       "48xlarge": (192, 8)}.items()},
    **{f"g6.{s}": r for s, r in {"xlarge": (4, 1), "2xlarge": (8, 1), "4xlarge": (16, 1),
       "8xlarge": (32, 1), "12xlarge": (48, 4), "16xlarge": (64, 1), "24xlarge": (96, 4),
       "48xlarge": (192, 8)}.items()},
    "p3.2xlarge": (8, 1), "p3.8xlarge": (32, 4), "p3.16xlarge": (64, 8),
    **{f"{f}.{s}": (c, 0) for f in ("m5", "m6i", "c5", "c6i", "r5")
       for s, c in {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}.items()},
    **{f"t3.{s}": (c, 0) for s, c in {"micro": 2, "small": 2, "medium": 2, "large": 2,
                                      "xlarge": 4, "2xlarge": 8}.items()},
}  # fmt: skip

AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Bundle:
    what: str
    cpu: float
    gpu: float


@dataclass
class TrainingNeeds:
    num_env_runners: int = 0
    cpus_per_env_runner: float = 1
    gpus_per_env_runner: float = 0
    num_learners: int = 0
    cpus_per_learner: float | str = "auto"
    gpus_per_learner: float = 0
    cpus_for_main_process: float = 1

    def driver(self) -> Bundle:
        # With num_learners == 0 the learner (and its GPU) lives in the driver process;
        # with num_env_runners == 0 the env (and its simulator) does too.
        gpu = self.gpus_per_learner if self.num_learners == 0 else 0
        if self.num_env_runners == 0:
            gpu += self.gpus_per_env_runner
        return Bundle("the driver (main process)", self.cpus_for_main_process, gpu)

    def remote_bundles(self) -> list[Bundle]:
        learner_cpus = self.cpus_per_learner
        if learner_cpus == "auto":
            learner_cpus = 1 if self.gpus_per_learner == 0 else 0
        runner = Bundle("env runner", self.cpus_per_env_runner, self.gpus_per_env_runner)
        learner = Bundle("learner", float(learner_cpus), self.gpus_per_learner)
        return [runner] * self.num_env_runners + [learner] * self.num_learners


_TRAINING_KEYS = {
    # field: (section, names in preference order)
    "num_env_runners": ("env_runners", ["num_env_runners", "num_workers", "num_rollout_workers"]),
    "cpus_per_env_runner": ("env_runners", ["num_cpus_per_env_runner", "num_cpus_per_worker"]),
    "gpus_per_env_runner": ("env_runners", ["num_gpus_per_env_runner", "num_gpus_per_worker"]),
    "num_learners": ("learners", ["num_learners"]),
    "cpus_per_learner": ("learners", ["num_cpus_per_learner"]),
    "gpus_per_learner": ("learners", ["num_gpus_per_learner"]),
    "cpus_for_main_process": ("resources", ["num_cpus_for_main_process", "num_cpus_for_driver"]),
}


def read_training_needs(path: Path) -> TrainingNeeds:
    """The resource keys of an RLlib training YAML; ValueError names the file and key."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: training config not found (pass --training-config)") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    scopes = [data]
    if isinstance(data.get("config"), dict):
        scopes.append(data["config"])
    needs = TrainingNeeds()
    for attribute, (section, names) in _TRAINING_KEYS.items():
        for scope in scopes:
            found = _lookup(scope, section, names)
            if found is not None:
                key, value = found
                setattr(needs, attribute, _number(path, key, value, attribute))
                break
    return needs


def _lookup(scope: dict, section: str, names: list[str]) -> tuple[str, Any] | None:
    block = scope.get(section)
    for name in names:
        if isinstance(block, dict) and name in block:
            return f"{section}.{name}", block[name]
        if name in scope:
            return name, scope[name]
    return None


def _number(path: Path, key: str, value: Any, attribute: str) -> float | int | str:
    if attribute == "cpus_per_learner" and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{path}: {key}: expected a non-negative number, got {value!r}")
    if attribute.startswith("num_") and int(value) != value:
        raise ValueError(f"{path}: {key}: expected a whole number, got {value!r}")
    return int(value) if attribute.startswith("num_") else value


# ---------------------------------------------------------------- Ray's own validation


def ray_schema_errors(config: Any) -> list[str]:
    """Ray's JSON schema on the raw YAML, then `prepare_config` + `validate_config` as `ray up`."""
    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    logging.getLogger("ray.autoscaler").setLevel(logging.ERROR)  # its INFO lines are noise here
    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]
    if errors:
        return errors
    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except Exception as error:  # Ray raises ValueError, KeyError, TypeError, NotImplementedError...
        return [f"Ray rejects the config: {type(error).__name__}: {error}"]
    return []


# ---------------------------------------------------------------- the whole check


def check_cluster(cluster_path: Path, training_path: Path) -> Report:
    report = Report()
    where = str(cluster_path)
    try:
        config = yaml.safe_load(cluster_path.read_text())
    except FileNotFoundError:
        report.errors.append(f"{where}: no such file")
        return report
    except yaml.YAMLError as error:
        report.errors.append(f"{where}: not valid YAML: {error}")
        return report
    if not isinstance(config, dict):
        report.errors.append(f"{where}: expected a mapping at the top level")
        return report
    report.errors += [f"{where}: {e}" for e in ray_schema_errors(config)]
    if report.errors:
        return report  # the rest assumes the structure is sound
    _check_aws_fields(config, where, report)
    try:
        needs = read_training_needs(training_path)
    except ValueError as error:
        report.errors.append(str(error))
        return report
    _check_capacity(config, needs, where, training_path, report)
    return report


def _check_aws_fields(config: dict, where: str, report: Report) -> None:
    provider = config.get("provider", {})
    if provider.get("type") == "aws" and not provider.get("region"):
        report.errors.append(f"{where}: provider.region: missing (Ray only notices at `ray up`)")
    for name, node_type in config.get("available_node_types", {}).items():
        node_config = node_type.get("node_config", {})
        at = f"{where}: available_node_types.{name}.node_config"
        for key in ("ImageId", "InstanceType"):
            if key not in node_config:
                report.errors.append(f"{at}: {key} is missing")
        image = node_config.get("ImageId")
        if image is not None and not AMI_ID.match(str(image)):
            report.errors.append(
                f"{at}.ImageId: unfilled placeholder or not an AMI id: {image!r} "
                "(fill it with the ImageId printed by `aws_helper.py create-image`)"
            )
        groups = node_config.get("SecurityGroupIds", [])
        for group in groups if isinstance(groups, list) else [groups]:
            if not SG_ID.match(str(group)):
                report.errors.append(
                    f"{at}.SecurityGroupIds: unfilled placeholder or not a group id: {group!r} "
                    "(fill it with the SecurityGroupIds printed by `aws_helper.py create-image`)"
                )
    for remote, local in (config.get("file_mounts") or {}).items():
        if not Path(os.path.expanduser(str(local))).exists():
            report.warnings.append(
                f"{where}: file_mounts.{remote}: local path {local!r} not found from "
                f"{os.getcwd()} (`ray up` resolves it from the directory you run it in)"
            )


@dataclass
class _Node:
    type_name: str
    cpu: float
    gpu: float


def _node_resources(name: str, node_type: dict, where: str, report: Report) -> _Node | None:
    resources = node_type.get("resources") or {}
    instance_type = node_type.get("node_config", {}).get("InstanceType")
    known = INSTANCE_RESOURCES.get(str(instance_type))
    if "CPU" in resources:
        cpu = resources["CPU"]
    elif known:
        cpu = known[0]
    else:
        report.warnings.append(
            f"{where}: available_node_types.{name}: cannot tell the size of InstanceType "
            f"{instance_type!r}; add resources: {{CPU: n, GPU: m}} to have it checked"
        )
        return None
    gpu = resources.get("GPU", known[1] if known else 0)
    return _Node(name, float(cpu), float(gpu))


def _fits(bundle: Bundle, free: list[float]) -> bool:
    return bundle.cpu <= free[0] + 1e-9 and bundle.gpu <= free[1] + 1e-9


def _check_capacity(
    config: dict, needs: TrainingNeeds, where: str, training: Path, report: Report
) -> None:
    node_types = config["available_node_types"]
    head_name = config["head_node_type"]
    nodes = {n: _node_resources(n, t, where, report) for n, t in node_types.items()}
    bundles = needs.remote_bundles()
    describe = {n: f"{n} ({node_types[n]['node_config'].get('InstanceType')}: {v.cpu:g} CPU, "
                   f"{v.gpu:g} GPU)" for n, v in nodes.items() if v}  # fmt: skip
    report.notes.append(
        f"{training}: {needs.num_env_runners} env runner(s) x {needs.cpus_per_env_runner:g} CPU, "
        f"{needs.gpus_per_env_runner:g} GPU; {needs.num_learners} remote learner(s) x "
        f"{needs.gpus_per_learner:g} GPU; driver {needs.driver().cpu:g} CPU, {needs.driver().gpu:g} GPU"
    )
    head = nodes.get(head_name)
    driver = needs.driver()
    if head is not None and not _fits(driver, [head.cpu, head.gpu]):
        report.errors.append(
            f"{where}: head node type {describe[head_name]} is too small for the driver of "
            f"{training} (needs {driver.cpu:g} CPU, {driver.gpu:g} GPU)"
        )
    kinds = sorted({b for b in bundles}, key=lambda b: b.what)
    for name, node in nodes.items():
        if node is None or name == head_name or not kinds:
            continue
        if not any(_fits(b, [node.cpu, node.gpu]) for b in kinds):
            wanted = "; ".join(f"{b.what}: {b.cpu:g} CPU, {b.gpu:g} GPU" for b in kinds)
            report.errors.append(
                f"{where}: node type {describe[name]} is too small for the training config "
                f"{training}: it cannot host one {' or '.join(b.what for b in kinds)} ({wanted})"
            )
    if any(node is None for node in nodes.values()):
        return  # sizes unknown: no total to compare
    # First-fit decreasing over every node the cluster can have at max_workers (head included).
    free = [[head.cpu - driver.cpu, head.gpu - driver.gpu]] if head else []
    for name, node in nodes.items():
        if name != head_name and node is not None:  # None ruled out above; said for the checker
            count = int(node_types[name].get("max_workers", config.get("max_workers", 0)))
            free += [[node.cpu, node.gpu] for _ in range(count)]
    unplaced = []
    for bundle in sorted(bundles, key=lambda b: (b.gpu, b.cpu), reverse=True):
        slot = next((f for f in free if _fits(bundle, f)), None)
        if slot is None:
            unplaced.append(bundle)
        else:
            slot[0] -= bundle.cpu
            slot[1] -= bundle.gpu
    if unplaced:
        counts = {w: sum(1 for b in unplaced if b.what == w) for w in {b.what for b in unplaced}}
        missing = ", ".join(f"{c} {w}(s)" for w, c in sorted(counts.items()))
        report.errors.append(
            f"{where}: even at max_workers the cluster cannot place {missing} of {training}: "
            "raise max_workers, use larger node types or ask for fewer resources"
        )
    else:
        report.notes.append(
            f"capacity OK: the head and up to {len(free) - (1 if head else 0)} worker node(s) "
            f"hold the driver, {needs.num_env_runners} env runner(s) and {needs.num_learners} "
            "learner(s)"
        )
