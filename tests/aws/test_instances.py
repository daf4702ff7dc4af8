"""Day-to-day commands as a subprocess: launch/start/stop/terminate/info, put/get/exec over SSH,
the security group's rules, the key file, and the one-line errors."""

from __future__ import annotations

import http.server
import json
import stat
import threading

import paramiko
import pytest

from tests.aws.conftest import BASE_IMAGE_ID, AwsEnv


def _launch(aws: AwsEnv, *extra: str) -> str:
    result = aws.run(
        "launch", "--image", BASE_IMAGE_ID, "--instance-type", "t3.micro", "--poll-interval", "0.1",
        "--json", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["InstanceId"]


def _group(aws: AwsEnv, name: str = "carla-rllib") -> dict:
    return aws.ec2.describe_security_groups(GroupNames=[name])["SecurityGroups"][0]


def _rules(group: dict) -> list[tuple]:
    """(protocol, from, to, source) for every ingress source."""
    rules = []
    for perm in group["IpPermissions"]:
        ports = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        rules += [(*ports, r["CidrIp"]) for r in perm.get("IpRanges", [])]
        rules += [(*ports, r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", [])]
        rules += [(*ports, p["GroupId"]) for p in perm.get("UserIdGroupPairs", [])]
    return sorted(rules, key=str)


def test_security_group_ssh_from_caller_only_and_all_traffic_within(aws: AwsEnv):
    _launch(aws, "--no-wait-ssh", "--ssh-cidr", "203.0.113.7")
    group = _group(aws)
    assert _rules(group) == sorted(
        [("tcp", 22, 22, "203.0.113.7/32"), ("-1", None, None, group["GroupId"])], key=str
    )
    assert not any("0.0.0.0/0" in rule or "::/0" in rule for rule in _rules(group))
    # Reused on the next launch: nothing is duplicated.
    _launch(aws, "--no-wait-ssh", "--ssh-cidr", "203.0.113.7/32")
    assert _rules(_group(aws)) == sorted(
        [("tcp", 22, 22, "203.0.113.7/32"), ("-1", None, None, group["GroupId"])], key=str
    )


def test_reused_group_loses_the_callers_old_ssh_addresses(aws: AwsEnv):
    _launch(aws, "--no-wait-ssh", "--ssh-cidr", "203.0.113.7", "--ssh-cidr", "2001:db8::7")
    group = _group(aws)
    # A rule added by hand on another port is not the helper's to remove.
    aws.ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8265,
                "ToPort": 8265,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            }
        ],  # fmt: skip
    )
    # The caller moved: the next launch allows SSH from the new address only.
    result = aws.run(
        "launch", "--image", BASE_IMAGE_ID, "--instance-type", "t3.micro", "--poll-interval",
        "0.1", "--no-wait-ssh", "--ssh-cidr", "198.51.100.9",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _rules(_group(aws)) == sorted(
        [
            ("tcp", 22, 22, "198.51.100.9/32"),
            ("tcp", 8265, 8265, "10.0.0.0/16"),
            ("-1", None, None, group["GroupId"]),
        ],
        key=str,
    )
    assert "removed SSH access from 203.0.113.7/32, 2001:db8::7/128" in result.stderr


def _tcp(first: int, last: int, *cidrs: str) -> dict:
    v4 = [{"CidrIp": c} for c in cidrs if ":" not in c]
    v6 = [{"CidrIpv6": c} for c in cidrs if ":" in c]
    return {
        "IpProtocol": "tcp",
        "FromPort": first,
        "ToPort": last,
        "IpRanges": v4,
        "Ipv6Ranges": v6,
    }


# Rules that open Ray's ports to the whole internet (most without naming 0.0.0.0/0 or ::/0), and
# what the refusal must say.
WORLD_OPEN_RULES = {
    "ipv4-all": ([_tcp(8265, 8300, "0.0.0.0/0")], "tcp 8265-8300 from 0.0.0.0/0"),
    "ipv4-halves": (
        [_tcp(8265, 8300, "0.0.0.0/1"), _tcp(8265, 8300, "128.0.0.0/1")],
        "tcp 8265-8300 from 0.0.0.0/1, 128.0.0.0/1",
    ),
    "ipv4-wide-prefix": ([_tcp(6379, 6379, "16.0.0.0/4")], "tcp 6379 from 16.0.0.0/4"),
    "ipv6-halves": ([_tcp(6379, 6379, "::/1", "8000::/1")], "tcp 6379 from ::/1, 8000::/1"),
    "ipv6-global-unicast": ([_tcp(8265, 8265, "2000::/3")], "tcp 8265 from 2000::/3"),
    "all-traffic-halves": (
        [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}],
        "all traffic from 0.0.0.0/1, 128.0.0.0/1",
    ),
    "every-port-but-ssh": (
        [_tcp(0, 65535, "0.0.0.0/0")],
        "tcp 0-21 from 0.0.0.0/0; tcp 23-65535 from 0.0.0.0/0:",
    ),
    # Two /8s are fine alone; where their port ranges overlap they reach more than one /8.
    "overlapping-ranges": (
        [_tcp(6000, 6380, "11.0.0.0/8"), _tcp(6379, 6400, "12.0.0.0/8")],
        "allows tcp 6379-6380 from 11.0.0.0/8, 12.0.0.0/8:",
    ),
}


def _legacy_group(aws: AwsEnv, permissions: list[dict]) -> str:
    vpc = aws.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    group_id = aws.ec2.create_security_group(
        GroupName="legacy", Description="like the original tool's", VpcId=vpc["VpcId"]
    )["GroupId"]
    for permission in permissions:
        aws.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    return group_id


def _launch_with_legacy_group(aws: AwsEnv):
    return aws.run(
        "launch", "--image", BASE_IMAGE_ID, "--security-group", "legacy", "--ssh-cidr", "10.0.0.1",
        "--no-wait-ssh", "--poll-interval", "0.1",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("permissions", "expected"), WORLD_OPEN_RULES.values(), ids=WORLD_OPEN_RULES.keys()
)
def test_ray_ports_open_to_the_world_are_refused(aws: AwsEnv, permissions, expected):
    group_id = _legacy_group(aws, permissions)
    result = _launch_with_legacy_group(aws)
    assert result.returncode == 1, result.stderr
    assert f"security group legacy ({group_id}) allows " in result.stderr
    assert expected in result.stderr
    assert "exposes Ray's ports to the internet" in result.stderr
    assert aws.live_instances() == []


def test_ray_ports_open_to_one_network_are_accepted(aws: AwsEnv):
    _legacy_group(
        aws,
        [
            _tcp(6379, 6379, "10.0.0.0/8", "2001:db8::/32"),
            _tcp(8265, 8265, "11.0.0.0/8"),
            # SSH from the world is the SSH rule's business (it is replaced), not a Ray port.
            _tcp(22, 22, "0.0.0.0/0"),
        ],
    )
    result = _launch_with_legacy_group(aws)
    assert result.returncode == 0, result.stderr
    ssh = [rule for rule in _rules(_group(aws, "legacy")) if rule[1] == 22]
    assert ssh == [("tcp", 22, 22, "10.0.0.1/32")]
    assert "removed SSH access from 0.0.0.0/0" in result.stderr


def test_ssh_opened_to_the_world_on_request_is_said(aws: AwsEnv):
    result = aws.run(
        "launch", "--image", BASE_IMAGE_ID, "--no-wait-ssh", "--poll-interval", "0.1",
        "--ssh-cidr", "0.0.0.0/1", "--ssh-cidr", "128.0.0.0/1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "SSH (port 22) is open to the internet: 0.0.0.0/1, 128.0.0.0/1" in result.stderr


class _CheckIp(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"198.51.100.23\n")

    def log_message(self, *args):
        pass


def test_ssh_rule_defaults_to_the_callers_public_address(aws: AwsEnv):
    server = http.server.HTTPServer(("127.0.0.1", 0), _CheckIp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        aws.env["CARLA_RLLIB_CHECKIP_URL"] = f"http://127.0.0.1:{server.server_port}/"
        _launch(aws, "--no-wait-ssh")
    finally:
        server.shutdown()
        server.server_close()
    assert ("tcp", 22, 22, "198.51.100.23/32") in _rules(_group(aws))


def test_undetectable_caller_address_is_one_clear_error_and_launches_nothing(aws: AwsEnv):
    result = aws.run("launch", "--image", BASE_IMAGE_ID, "--no-wait-ssh")
    assert result.returncode == 1
    assert "could not detect your public IP address" in result.stderr
    assert "pass --ssh-cidr CIDR" in result.stderr
    assert "Traceback" not in result.stderr
    assert aws.live_instances() == []


def test_launch_info_stop_start_terminate(aws: AwsEnv):
    instance_id = _launch(aws, "--no-wait-ssh", "--ssh-cidr", "10.1.2.3")
    pem = aws.keys_dir / "carla-rllib_us-east-1.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600

    def field(name: str) -> str:
        result = aws.run("info", "--instance-id", instance_id, "--field", name)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert field("state") == "running"
    assert field("pem_file") == str(pem)
    ip = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert field("public_ip") == ip["PublicIpAddress"]
    listing = aws.run("info", "--json")
    assert [i["InstanceId"] for i in json.loads(listing.stdout)] == [instance_id]

    for command, state in [("stop", "stopped"), ("start", "running"), ("terminate", "terminated")]:
        result = aws.run(command, "--instance-id", instance_id, "--poll-interval", "0.1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{instance_id}: {state}"
        described = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        assert described["Instances"][0]["State"]["Name"] == state
    assert json.loads(aws.run("info", "--json").stdout) == []

    missing = aws.run("stop", "--instance-id", "i-0123456789abcdef0")
    assert missing.returncode == 1
    assert "--instance-id i-0123456789abcdef0: no such instance here" in missing.stderr


def test_existing_key_pair_without_its_private_key_is_refused(aws: AwsEnv):
    aws.ec2.create_key_pair(KeyName="carla-rllib")
    result = aws.run("launch", "--image", BASE_IMAGE_ID, "--ssh-cidr", "10.0.0.1", "--no-wait-ssh")
    assert result.returncode == 1
    assert "key pair 'carla-rllib' exists in us-east-1 but its private key" in result.stderr
    assert aws.live_instances() == []


@pytest.mark.parametrize(
    ("drop", "extra_env", "message"),
    [
        ("AWS_DEFAULT_REGION", {}, "no AWS region: pass --region"),
        ("AWS_SECRET_ACCESS_KEY", {}, "no AWS credentials"),
        (None, {"AWS_PROFILE": "nope"}, "AWS profile 'nope' not found"),
    ],
    ids=["no-region", "no-credentials", "bad-profile"],
)
def test_aws_configuration_errors_are_one_line(aws: AwsEnv, drop, extra_env, message):
    if drop == "AWS_SECRET_ACCESS_KEY":
        aws.env.pop("AWS_ACCESS_KEY_ID")
    if drop:
        aws.env.pop(drop)
    aws.env.update(extra_env)
    result = aws.run("info")
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_region_option_is_honoured(aws: AwsEnv):
    _launch(aws, "--no-wait-ssh", "--ssh-cidr", "10.0.0.1", "--region", "eu-west-3")
    assert aws.live_instances() == []  # the test's client looks at us-east-1
    listing = json.loads(aws.run("info", "--json", "--region", "eu-west-3").stdout)
    assert len(listing) == 1 and listing[0]["KeyFile"].endswith("carla-rllib_eu-west-3.pem")


# ---------------------------------------------------------------- over SSH


def test_put_get_exec_round_trip(aws_ssh: AwsEnv):
    aws = aws_ssh
    instance_id = _launch(aws, "--ssh-cidr", "127.0.0.1/32", *aws.ssh_args)
    known_hosts = aws.keys_dir / "known_hosts"
    assert known_hosts.read_text().startswith(instance_id + " ")  # recorded at launch
    ssh = ["--instance-id", instance_id, *aws.ssh_args]

    local = aws.work / "project"
    (local / "pkg" / "__pycache__").mkdir(parents=True)
    (local / ".git").mkdir()
    (local / "pkg" / "mod.py").write_text("X = 1\n")
    (local / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    (local / ".git" / "HEAD").write_text("ref\n")
    (local / "run.sh").write_text("#!/bin/sh\necho run\n")
    (local / "run.sh").chmod(0o750)
    remote = aws.work / "remote-copy"
    put = aws.run("put", *ssh, "--source", str(local), "--target", str(remote))
    assert put.returncode == 0, put.stderr
    assert (remote / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert stat.S_IMODE((remote / "run.sh").stat().st_mode) == 0o750
    assert not (remote / ".git").exists() and not (remote / "pkg" / "__pycache__").exists()

    back = aws.work / "back"
    get = aws.run("get", *ssh, "--source", str(remote), "--target", str(back))
    assert get.returncode == 0, get.stderr
    assert sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()) == [
        "pkg/mod.py",
        "run.sh",
    ]
    single = aws.run("get", *ssh, "--source", str(remote / "pkg" / "mod.py"),
                     "--target", str(aws.work / "one.py"))  # fmt: skip
    assert single.returncode == 0 and (aws.work / "one.py").read_text() == "X = 1\n"

    ran = aws.run("exec", *ssh, "--", "echo hello from $(hostname); exit 7")
    assert ran.returncode == 7
    assert "hello from" in ran.stdout
    script = aws.work / "job.sh"
    script.write_text('#!/bin/sh\necho "args: $1 $2"\n')
    script.chmod(0o755)
    scripts = aws.work / "scripts"
    uploaded = aws.run(
        "exec", *ssh, "--script", str(script), "--remote-dir", str(scripts), "--", "a b", "c"
    )
    assert uploaded.returncode == 0, uploaded.stderr
    assert "args: a b c" in uploaded.stdout
    assert (scripts / "job.sh").is_file()

    missing = aws.run("get", *ssh, "--source", str(aws.work / "nope"), "--target", str(back))
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr

    # A changed host key for a known instance is refused, not silently accepted.
    other = paramiko.Ed25519Key.from_private_key_file(str(_new_ed25519(aws)))
    hosts = paramiko.HostKeys()
    hosts.add(instance_id, other.get_name(), other)
    hosts.save(str(known_hosts))
    refused = aws.run("exec", *ssh, "--", "touch", str(aws.work / "should-not-exist"))
    assert refused.returncode == 1
    assert f"host key of {instance_id} changed" in refused.stderr
    assert not (aws.work / "should-not-exist").exists()


def _new_ed25519(aws: AwsEnv):
    import subprocess

    path = aws.work / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def test_subnet_option_places_instance_and_group_in_that_subnets_vpc(aws: AwsEnv):
    vpc = aws.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = aws.ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    instance_id = _launch(aws, "--no-wait-ssh", "--ssh-cidr", "10.0.0.1", "--subnet-id", subnet)
    instance = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    assert instance["Instances"][0]["SubnetId"] == subnet
    groups = aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["carla-rllib"]}]
    )["SecurityGroups"]
    assert [g["VpcId"] for g in groups] == [vpc]

    wrong = aws.run("launch", "--image", BASE_IMAGE_ID, "--ssh-cidr", "10.0.0.1",
                    "--subnet-id", "subnet-0000000000000000f", "--no-wait-ssh")  # fmt: skip
    assert wrong.returncode == 1 and "--subnet-id subnet-0000000000000000f" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_launch_that_never_becomes_reachable_is_terminated(aws_ssh: AwsEnv):
    from tests.aws.conftest import free_port

    args = list(aws_ssh.ssh_args)
    args[args.index("--ssh-port") + 1] = str(free_port())  # nothing listens there
    result = aws_ssh.run(
        "launch", "--image", BASE_IMAGE_ID, "--ssh-cidr", "127.0.0.1/32", "--ssh-timeout", "1",
        "--poll-interval", "0.1", *args,
    )  # fmt: skip
    assert result.returncode == 1
    assert "SSH to root@127.0.0.1:" in result.stderr and "terminated" in result.stderr
    assert result.stdout == ""
    assert aws_ssh.live_instances() == []
