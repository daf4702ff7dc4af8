"""create-image end to end, as a subprocess, against moto's EC2 server and a real local sshd."""

from __future__ import annotations

import json
import signal
import stat
import time

import pytest
import yaml

from tests.aws.conftest import BASE_IMAGE, ROOT, SECRET, AwsEnv


def _script(aws: AwsEnv, name: str, body: str):
    path = aws.work / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _create(aws: AwsEnv, name: str, *scripts, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        "create-image", "--name", name, "--base-image", BASE_IMAGE,
        "--installation-scripts", *map(str, scripts), "--upload",
        "--remote-dir", str(aws.work / "remote"), "--ssh-cidr", "127.0.0.1/32",
        "--poll-interval", "0.1", *aws.ssh_args, *extra,
    ]  # fmt: skip


def _images(aws: AwsEnv, name: str) -> list[dict]:
    return aws.ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])[
        "Images"
    ]


def _all_instances(aws: AwsEnv) -> list[dict]:
    reservations = aws.ec2.describe_instances()["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def test_create_image_end_to_end_then_reuse_then_refuse_duplicate(aws_ssh: AwsEnv):
    aws = aws_ssh
    uploaded = aws.work / "pins.txt"
    uploaded.write_text("ray==2.60.0\n")
    first = _script(aws, "01-first.sh", 'echo "first script ran in $(pwd)"\necho done > marker\n')
    second = _script(
        aws,
        "02-second.sh",
        'test -f pins.txt && echo "pins: $(cat pins.txt)"\necho "[$GREETING]"\n',
    )
    extra = ("--debug", "--script-env", "GREETING=hello 'world'", "--script-env", "EMPTY=")
    args = _create(aws, "carla-rllib-test-1", first, second, extra=extra)
    args[args.index("--upload") + 1 : args.index("--upload") + 1] = [str(uploaded)]
    result = aws.run(*args)
    assert result.returncode == 0, result.stderr

    # Scripts ran in order over SSH, their output streamed, files uploaded next to them.
    remote = aws.work / "remote"
    assert (remote / "marker").read_text() == "done\n"
    assert f"first script ran in {remote}" in result.stderr
    assert "pins: ray==2.60.0" in result.stderr
    assert result.stderr.index("first script ran") < result.stderr.index("pins:")
    assert "02-second.sh finished (exit status 0)" in result.stderr
    assert "[hello 'world']" in result.stderr  # --script-env reached the script, quoting intact

    # The AMI exists and is available; the paste-ready lines name it and the group.
    images = _images(aws, "carla-rllib-test-1")
    assert len(images) == 1 and images[0]["State"] == "available"
    image_id = images[0]["ImageId"]
    groups = aws.ec2.describe_security_groups(GroupNames=["carla-rllib"])["SecurityGroups"]
    group_id = groups[0]["GroupId"]
    assert f"ImageId: {image_id}" in result.stdout
    assert f"SecurityGroupIds: [{group_id}]" in result.stdout
    assert f"      ImageId: {image_id}\n      SecurityGroupIds: [{group_id}]" in result.stdout

    # The builder is gone, and was tagged so orphans could be found.
    assert aws.live_instances() == []
    (builder,) = _all_instances(aws)
    assert builder["State"]["Name"] == "terminated"
    tags = {t["Key"]: t["Value"] for t in builder["Tags"]}
    assert tags["carla-rllib:role"] == "ami-builder" and tags["carla-rllib:managed"] == "true"

    # Private key: 0600 in a directory the helper created 0700; host key recorded by instance id.
    pem = aws.keys_dir / "carla-rllib_us-east-1.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(aws.keys_dir.stat().st_mode) == 0o700
    assert pem.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert (aws.keys_dir / "known_hosts").read_text().startswith(builder["InstanceId"] + " ")
    # No credentials in the logs, even with --debug.
    assert SECRET not in result.stdout + result.stderr

    # Second image: key pair and group reused, result as JSON, ids written into a cluster YAML.
    pem_before = pem.read_text()
    cluster = aws.work / "cluster.yaml"
    cluster.write_text((ROOT / "dqn_example" / "dqn_autoscaler.yaml").read_text())
    extra = ("--json", "--cluster-yaml", str(cluster))
    again = aws.run(*_create(aws, "carla-rllib-test-2", first, extra=extra))
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["SecurityGroupIds"] == [group_id] and data["KeyFile"] == str(pem)
    assert data["node_config"] == {"ImageId": data["ImageId"], "SecurityGroupIds": [group_id]}
    assert _images(aws, "carla-rllib-test-2")[0]["ImageId"] == data["ImageId"]
    assert pem.read_text() == pem_before
    assert "reusing security group" in again.stderr and "reusing key pair" in again.stderr
    filled = cluster.read_text()
    assert "ami-REPLACE_ME  " not in filled and "[sg-REPLACE_ME]" not in filled
    assert "# ImageId from create-image" in filled  # comments kept
    config = yaml.safe_load(filled)
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["ImageId"] == data["ImageId"]
        assert node_type["node_config"]["SecurityGroupIds"] == [group_id]

    # Same name again: refused before anything is launched.
    launched = len(_all_instances(aws))
    duplicate = aws.run(*_create(aws, "carla-rllib-test-1", first))
    assert duplicate.returncode == 1
    assert f"an AMI named 'carla-rllib-test-1' already exists in us-east-1 ({image_id})" in (
        duplicate.stderr
    )
    assert len(_all_instances(aws)) == launched


def test_script_env_must_be_name_equals_value(aws: AwsEnv):
    script = _script(aws, "ok.sh", "echo fine\n")
    result = aws.run(*_create(aws, "bad-env", script, extra=("--script-env", "1X=y")))
    assert result.returncode == 2
    assert "--script-env: '1X=y' is not NAME=VALUE" in result.stderr
    assert aws.live_instances() == []


def _assert_failed_cleanly(aws: AwsEnv, result, name: str, message: str) -> None:
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert aws.live_instances() == []
    assert _images(aws, name) == []
    assert "terminated" in result.stderr


def test_failing_script_stops_the_build_and_terminates_the_builder(aws_ssh: AwsEnv):
    ok = _script(aws_ssh, "ok.sh", "echo fine\n")
    fail = _script(aws_ssh, "fail.sh", "echo about to fail\nexit 3\n")
    never = _script(aws_ssh, "never.sh", "touch never-ran\n")
    result = aws_ssh.run(*_create(aws_ssh, "broken", ok, fail, never))
    _assert_failed_cleanly(
        aws_ssh, result, "broken", f"installation script {fail} exited with status 3"
    )
    assert result.returncode == 1
    assert "about to fail" in result.stderr
    assert not (aws_ssh.work / "remote" / "never-ran").exists()


def test_unreachable_ssh_terminates_the_builder(aws_ssh: AwsEnv):
    from tests.aws.conftest import free_port

    script = _script(aws_ssh, "ok.sh", "echo fine\n")
    args = _create(aws_ssh, "unreachable", script, extra=("--ssh-timeout", "2"))
    args[args.index("--ssh-port") + 1] = str(free_port())  # nothing listens there
    result = aws_ssh.run(*args)
    _assert_failed_cleanly(aws_ssh, result, "unreachable", "SSH to root@127.0.0.1:")
    assert "failed for 2 s" in result.stderr


def test_script_timeout_terminates_the_builder(aws_ssh: AwsEnv):
    slow = _script(aws_ssh, "slow.sh", "echo sleeping\nsleep 30\ntouch finished\n")
    started = time.monotonic()
    result = aws_ssh.run(*_create(aws_ssh, "slow", slow, extra=("--script-timeout", "1.5")))
    assert time.monotonic() - started < 25
    _assert_failed_cleanly(aws_ssh, result, "slow", "timed out after 1.5 s running")
    time.sleep(0.5)
    assert not (aws_ssh.work / "remote" / "finished").exists()


def _signal_mid_script(aws: AwsEnv, name: str, steps, ignored=()) -> tuple[int, str]:
    """create-image whose script prints and sleeps; each (text, signal) step waits until the text
    has come through (the script's output streams live), then sends the signal. The helper starts
    with SIGINT/SIGTERM at their defaults except `ignored`."""
    body = "echo script-started\nsleep 1\necho still-running\nsleep 30\ntouch finished\n"
    process = aws.popen(*_create(aws, name, _script(aws, "wait.sh", body)), ignored=ignored)
    seen = []
    try:
        for text, sig in steps:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen.append(process.stderr.readline())
                if text in seen[-1] or not seen[-1]:
                    break
            assert text in "".join(seen), "".join(seen)
            assert process.poll() is None
            process.send_signal(sig)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, "".join(seen) + rest


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_mid_script_terminates_the_builder(aws_ssh: AwsEnv, sig, code):
    returncode, stderr = _signal_mid_script(aws_ssh, "interrupted", [("script-started", sig)])
    assert returncode == code, stderr
    assert "still-running" not in stderr  # stopped at once
    assert "terminating builder instance" in stderr
    assert aws_ssh.live_instances() == []
    assert _images(aws_ssh, "interrupted") == []


def test_a_run_started_with_sigint_ignored_keeps_to_it_and_stops_on_sigterm(aws_ssh: AwsEnv):
    """A background job of a non-interactive shell ignores SIGINT, so that Ctrl-C at the terminal
    spares it; the helper keeps to that, as Unix tools do. SIGTERM still stops it cleanly."""
    steps = [("script-started", signal.SIGINT), ("still-running", signal.SIGTERM)]
    returncode, stderr = _signal_mid_script(
        aws_ssh, "sigint-ignored", steps, ignored=(signal.SIGINT,)
    )
    assert returncode == 143, stderr
    assert "interrupted (signal 15)" in stderr and "Ctrl-C" not in stderr
    assert aws_ssh.live_instances() == []
    assert _images(aws_ssh, "sigint-ignored") == []
