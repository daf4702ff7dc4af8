"""create-image's output, pasted into the shipped cluster YAML, goes through Ray's own AWS
bootstrap (everything `ray up` does before its first SSH) against the moto server."""

from __future__ import annotations

import copy
import json
from unittest import mock

import pytest
import yaml

from tests.aws.conftest import BASE_IMAGE, ROOT, SECRET, _aws_env, moto_server

pytestmark = pytest.mark.slow  # Ray's bootstrap creates IAM roles, subnets, key pairs: ~10-30 s


def _bootstrap(config: dict) -> dict:
    from ray.autoscaler._private.aws import utils
    from ray.autoscaler._private.commands import _bootstrap_config

    utils.resource_cache.cache_clear()  # boto3 resources are cached per region
    utils.client_cache.cache_clear()
    # Ray sleeps twice 15 s "for IAM propagation"; moto needs none.
    with mock.patch("ray.autoscaler._private.aws.config.time.sleep"):
        return _bootstrap_config(copy.deepcopy(config), no_config_cache=True)


@pytest.fixture(scope="module")
def moto_iam_url(tmp_path_factory):
    # Ray attaches AWS-managed IAM policies; loading them makes every moto reset slow, so this
    # test has its own server.
    with moto_server(
        tmp_path_factory.mktemp("moto-iam"), MOTO_IAM_LOAD_MANAGED_POLICIES="true"
    ) as url:
        yield url


def test_created_image_and_group_bootstrap_with_ray(
    moto_iam_url, sshd, tmp_path, monkeypatch, capfd
):
    ssh_args = ["--ssh-host", "127.0.0.1", "--ssh-port", str(sshd.port), "--ssh-user", "root"]
    aws = _aws_env(moto_iam_url, sshd.homes / "ray-bootstrap", tmp_path, ssh_args)
    script = aws.work / "ok.sh"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    result = aws.run(
        "create-image", "--name", "carla-rllib-ray", "--base-image", BASE_IMAGE,
        "--installation-scripts", str(script), "--upload", "--remote-dir", str(aws.work / "r"),
        "--ssh-cidr", "127.0.0.1/32", "--poll-interval", "0.1", "--json", *aws.ssh_args,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    node_config = json.loads(result.stdout)["node_config"]

    config = yaml.safe_load((ROOT / "dqn_example" / "dqn_autoscaler.yaml").read_text())
    for node_type in config["available_node_types"].values():
        node_type["node_config"].update(node_config)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.setenv(key, aws.env[key])
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.env["AWS_ENDPOINT_URL_EC2"])  # EC2 and IAM
    monkeypatch.setenv("HOME", str(aws.home))  # Ray writes ~/.ssh/ray-autoscaler_<region>.pem
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")

    full = _bootstrap(config)
    for name in ("head", "gpu_worker"):
        bootstrapped = full["available_node_types"][name]["node_config"]
        assert bootstrapped["ImageId"] == node_config["ImageId"]
        assert bootstrapped["SecurityGroupIds"] == node_config["SecurityGroupIds"]
        assert bootstrapped["KeyName"] == "ray-autoscaler_us-east-1"
    assert SECRET not in json.dumps(full)

    # A group id that does not exist (a stale paste) is caught by Ray's bootstrap too.
    for node_type in config["available_node_types"].values():
        node_type["node_config"]["SecurityGroupIds"] = ["sg-0123456789abcdef0"]
    capfd.readouterr()
    with pytest.raises(BaseException) as raised:
        _bootstrap(config)
    output = "".join(capfd.readouterr())
    assert "Failed to detect a security group" in output, (repr(raised.value), output[-2000:])
