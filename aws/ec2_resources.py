"""EC2 building blocks for the helper: session, key pair, security group, instances, images.

`prepare_access` (key pair and security group) and `launched_instance` (launch, wait, and never
leave the instance billing by accident) are the one route by which `create-image` and `launch`
start an instance.

Everything goes through a plain `boto3.Session(profile_name=..., region_name=...)`, so boto3's own
configuration chain applies: AWS_PROFILE, AWS_DEFAULT_REGION, ~/.aws/config, and endpoint overrides
such as AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2 (used for VPC endpoints, LocalStack or moto).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from aws import ingress
from aws.errors import HelperError
from aws.signals import signals_deferred, signals_held

log = logging.getLogger("aws_helper")

PROJECT_TAG = "carla-rllib:managed"  # value "true" on everything the helper creates
ROLE_TAG = "carla-rllib:role"  # "ami-builder" or "instance"
# The caller's public address, for the SSH rule. Overridable so that tests and proxies can answer.
CHECKIP_URL = os.environ.get("CARLA_RLLIB_CHECKIP_URL", "https://checkip.amazonaws.com")
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def ec2_client(region: str | None, profile: str | None) -> Any:
    """An EC2 client from boto3's normal chain; a clear error for a missing profile or region."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        name = profile or os.environ.get("AWS_PROFILE")
        raise HelperError(f"AWS profile '{name}' not found in your AWS config files") from None
    if not session.region_name:
        raise HelperError(
            "no AWS region: pass --region, set AWS_DEFAULT_REGION or put region= in your AWS profile"
        )
    return session.client("ec2")


def tags(name: str, role: str) -> list[dict[str, str]]:
    return [
        {"Key": "Name", "Value": name},
        {"Key": PROJECT_TAG, "Value": "true"},
        {"Key": ROLE_TAG, "Value": role},
    ]


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def wait_for(
    client: Any, waiter: str, what: str, timeout: float, poll: float, **params: Any
) -> None:
    """Run a boto3 waiter bounded by `timeout` seconds; a timeout or failure is one HelperError."""
    delay = max(poll, 0.1)
    config = {"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout / delay))}
    try:
        client.get_waiter(waiter).wait(WaiterConfig=config, **params)
    except botocore.exceptions.WaiterError as error:
        if "Max attempts exceeded" in str(error):
            raise HelperError(f"timed out after {timeout:g} s waiting for {what}") from None
        reason = error.last_response.get("Error") or error
        raise HelperError(f"failed waiting for {what}: {reason}") from None


# ---------------------------------------------------------------- key pair


def pem_path(keys_dir: Path, key_name: str, region: str) -> Path:
    # Key pairs are regional: one file per (name, region).
    return keys_dir.expanduser() / f"{key_name}_{region}.pem"


def _key_pair_exists(client: Any, key_name: str) -> bool:
    try:
        client.describe_key_pairs(KeyNames=[key_name])
        return True
    except botocore.exceptions.ClientError as error:
        if _error_code(error) == "InvalidKeyPair.NotFound":
            return False
        raise


def write_private_key(path: Path, material: str) -> None:
    """Write a private key readable by the owner only, in a directory only the owner can enter."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(material)


def ensure_key_pair(
    client: Any, key_name: str, keys_dir: Path, region: str, ssh_key: Path | None
) -> Path:
    """Reuse or create the key pair and return the local private key file.

    With `ssh_key`, that file is the private key: its public half is imported if the key pair does
    not exist yet. Without it, the key lives in `keys_dir`; a key pair whose private key is not
    there is an error (never a prompt), and an existing file is never overwritten.
    """
    exists = _key_pair_exists(client, key_name)
    if ssh_key is not None:
        ssh_key = ssh_key.expanduser()
        if not ssh_key.is_file():
            raise HelperError(f"--ssh-key {ssh_key}: no such file")
        if not exists:
            import paramiko  # only here: most commands never touch SSH keys

            key = paramiko.PKey.from_path(ssh_key)
            client.import_key_pair(
                KeyName=key_name,
                PublicKeyMaterial=f"{key.get_name()} {key.get_base64()}".encode(),
                TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags(key_name, "key")}],
            )
            log.info("imported the public half of %s as key pair %s", ssh_key, key_name)
        return ssh_key
    path = pem_path(keys_dir, key_name, region)
    if exists:
        if not path.is_file():
            raise HelperError(
                f"key pair '{key_name}' exists in {region} but its private key {path} is missing: "
                "pass --ssh-key FILE if you have it elsewhere, choose another --key-name, or delete "
                "the key pair in EC2 to have it recreated"
            )
        log.info("reusing key pair %s (%s)", key_name, path)
        return path
    if path.exists():
        raise HelperError(
            f"{path} exists but key pair '{key_name}' does not exist in {region}; instances may "
            "still need that key, so it is not overwritten: move it away or choose another --key-name"
        )
    created = client.create_key_pair(
        KeyName=key_name,
        KeyType="rsa",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags(key_name, "key")}],
    )
    write_private_key(path, created["KeyMaterial"])
    log.info("created key pair %s; private key saved to %s (mode 0600)", key_name, path)
    return path


# ---------------------------------------------------------------- network and security group


def resolve_vpc(client: Any, subnet_id: str | None) -> str:
    """The VPC for the security group: the subnet's, else the region's default VPC."""
    if subnet_id:
        try:
            subnets = client.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except botocore.exceptions.ClientError as error:
            raise HelperError(f"--subnet-id {subnet_id}: {error}") from None
        return subnets[0]["VpcId"]
    vpcs = client.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise HelperError("this region has no default VPC: pass --subnet-id of a public subnet")
    return vpcs[0]["VpcId"]


def caller_cidr(url: str = CHECKIP_URL, timeout: float = 10.0) -> str:
    """The caller's public address as a /32 (or /128), for the SSH rule."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read(100).decode().strip()
        address = ipaddress.ip_address(text)
    except (OSError, ValueError) as error:
        raise HelperError(
            f"could not detect your public IP address from {url} ({error}); pass --ssh-cidr CIDR"
        ) from None
    return f"{address}/{address.max_prefixlen}"


def parse_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise HelperError(f"--ssh-cidr {text!r} is not an IP address or CIDR block") from None


def ensure_security_group(client: Any, name: str, vpc_id: str, ssh_cidrs: list[str]) -> str:
    """Reuse or create the group: SSH from exactly `ssh_cidrs`, all traffic within the group.

    Ray does not add rules to a group you name in `SecurityGroupIds`, and head and workers talk on
    many ports (GCS 6379, object manager, worker ports), hence the self-referencing rule. A reused
    group that opens any other port to the internet is refused; SSH sources no longer asked for
    (the caller's old addresses) are removed.
    """
    found = client.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [name]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    if found:
        group_id = found[0]["GroupId"]
        permissions = found[0].get("IpPermissions", [])
        wide_open = ingress.world_open_ports(permissions)
        if wide_open:
            raise HelperError(
                f"security group {name} ({group_id}) allows {'; '.join(wide_open)}: that exposes "
                "Ray's ports to the internet. Remove the rule or pass another --security-group"
            )
        log.info("reusing security group %s (%s)", name, group_id)
    else:
        group_id = client.create_security_group(
            GroupName=name,
            Description="carla-rllib: SSH from the operator, all traffic within the group",
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(name, "network")}],
        )["GroupId"]
        permissions = []
        log.info("created security group %s (%s)", name, group_id)
    add, stale = ingress.ssh_changes(permissions, ssh_cidrs)
    wanted = [ingress.ssh_permission(cidr) for cidr in add]
    if not ingress.has_self_rule(permissions, group_id):
        wanted.append({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]})
    for permission in wanted:
        try:
            client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
        except botocore.exceptions.ClientError as error:
            if _error_code(error) != "InvalidPermission.Duplicate":
                raise
    if stale:
        revoke = [ingress.ssh_permission(cidr, description=None) for cidr in stale]
        client.revoke_security_group_ingress(GroupId=group_id, IpPermissions=revoke)
        log.warning("removed SSH access from %s (no longer asked for)", ", ".join(stale))
    if ingress.world_open(ssh_cidrs):
        log.warning("SSH (port 22) is open to the internet: %s", ", ".join(ssh_cidrs))
    return group_id


@dataclass
class AccessSettings:
    """Who may reach an instance: the CLI's "key pair and network" options."""

    key_name: str = "carla-rllib"
    security_group: str = "carla-rllib"
    subnet_id: str | None = None
    ssh_cidrs: list[str] = field(default_factory=list)  # empty: the caller's public address


@dataclass
class Access:
    key_file: Path  # the local private key of the key pair
    group_id: str


def prepare_access(
    client: Any, region: str, settings: AccessSettings, keys_dir: Path, ssh_key: Path | None
) -> Access:
    """Reuse or create the key pair and the security group an instance is launched with."""
    ssh_cidrs = settings.ssh_cidrs or [caller_cidr()]
    key_file = ensure_key_pair(client, settings.key_name, keys_dir, region, ssh_key)
    vpc_id = resolve_vpc(client, settings.subnet_id)
    group_id = ensure_security_group(client, settings.security_group, vpc_id, ssh_cidrs)
    return Access(key_file=key_file, group_id=group_id)


# ---------------------------------------------------------------- images


DEFAULT_BASE_IMAGE = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"
DEFAULT_BASE_IMAGE_OWNER = "amazon"


def resolve_base_image(client: Any, spec: str, owner: str) -> dict:
    """An AMI id, or a name pattern (`*` wildcards) whose newest image from `owner` is used."""
    if spec.startswith("ami-") and "*" not in spec:
        try:
            images = client.describe_images(ImageIds=[spec])["Images"]
        except botocore.exceptions.ClientError as error:
            if _error_code(error).startswith("InvalidAMIID"):
                raise HelperError(f"--base-image {spec}: no such AMI in this region") from None
            raise
    else:
        images = client.describe_images(
            Owners=[owner], Filters=[{"Name": "name", "Values": [spec]}]
        )["Images"]
    images = [image for image in images if image.get("State", "available") == "available"]
    if not images:
        raise HelperError(f"--base-image {spec!r}: no available AMI owned by {owner} matches")
    return max(images, key=lambda image: image.get("CreationDate", ""))


def own_images_named(client: Any, name: str) -> list[str]:
    images = client.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    return [image["ImageId"] for image in images["Images"]]


def image_snapshots(client: Any, image_id: str) -> list[str]:
    images = client.describe_images(ImageIds=[image_id])["Images"]
    return [
        mapping["Ebs"]["SnapshotId"]
        for image in images
        for mapping in image.get("BlockDeviceMappings", [])
        if mapping.get("Ebs", {}).get("SnapshotId")
    ]


def tag_image_snapshots(client: Any, image_id: str, tag_list: list[dict[str, str]]) -> None:
    # Tagged after the fact: create_image's snapshot TagSpecifications are not supported everywhere.
    snapshots = image_snapshots(client, image_id)
    if snapshots:
        client.create_tags(Resources=snapshots, Tags=tag_list)


def delete_image(client: Any, image_id: str) -> None:
    """Deregister an AMI and delete its snapshots (deregistering alone keeps them, and bills)."""
    snapshots = image_snapshots(client, image_id)
    client.deregister_image(ImageId=image_id)
    for snapshot in snapshots:
        client.delete_snapshot(SnapshotId=snapshot)


# ---------------------------------------------------------------- instances


@dataclass
class LaunchSpec:
    image: dict
    instance_type: str
    volume_size: int
    name: str
    role: str  # ROLE_TAG value: "ami-builder" or "instance"
    access: AccessSettings
    group_id: str
    user_data: str | None = None


def run_instance(client: Any, spec: LaunchSpec) -> str:
    params: dict[str, Any] = {
        "ImageId": spec.image["ImageId"],
        "InstanceType": spec.instance_type,
        "KeyName": spec.access.key_name,
        "MinCount": 1,
        "MaxCount": 1,
        "BlockDeviceMappings": [
            {
                "DeviceName": spec.image.get("RootDeviceName") or "/dev/sda1",
                "Ebs": {
                    "VolumeSize": spec.volume_size,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags(spec.name, spec.role)},
            {"ResourceType": "volume", "Tags": tags(spec.name, spec.role)},
        ],
    }
    if spec.access.subnet_id:
        params["NetworkInterfaces"] = [
            {
                "DeviceIndex": 0,
                "SubnetId": spec.access.subnet_id,
                "Groups": [spec.group_id],
                "AssociatePublicIpAddress": True,
            }
        ]
    else:
        params["SecurityGroupIds"] = [spec.group_id]
    if spec.user_data:
        params["UserData"] = spec.user_data
    return client.run_instances(**params)["Instances"][0]["InstanceId"]


@contextlib.contextmanager
def launched_instance(
    client: Any, spec: LaunchSpec, boot_timeout: float, poll: float, *, keep: bool
) -> Iterator[str]:
    """Launch an instance, wait until it runs, and yield its id for the block.

    The instance is terminated (and waited for) when anything fails or interrupts the block, or
    at its end unless `keep`. Ctrl-C/SIGTERM are held during `run_instances` (until the id is
    known) and deferred during the termination.
    """
    what = "builder instance" if spec.role == "ami-builder" else "instance"
    instance_id = None
    completed = False
    try:
        with signals_held():
            instance_id = run_instance(client, spec)
            log.warning(
                "%s %s launched; %s", what, instance_id,
                "it bills until you stop or terminate it" if keep
                else "it is terminated when this command ends",
            )  # fmt: skip
        wait_for(
            client, "instance_running", f"{instance_id} to run", boot_timeout, poll,
            InstanceIds=[instance_id],
        )  # fmt: skip
        yield instance_id
        completed = True
    finally:
        if instance_id is not None and not (keep and completed):
            with signals_deferred():
                # Reached with `keep` only when the launch failed or was interrupted.
                log.warning(
                    "%sterminating %s %s", "launch did not complete; " if keep else "", what,
                    instance_id,
                )  # fmt: skip
                _terminate_or_say_so(client, instance_id, boot_timeout, poll)
                log.warning("%s %s terminated", what, instance_id)


def _terminate_or_say_so(client: Any, instance_id: str, timeout: float, poll: float) -> None:
    try:
        terminate_instance(client, instance_id, timeout, poll)
    except Exception as error:
        log.error(
            "could not confirm that %s terminated: %s -- check it in the EC2 console",
            instance_id,
            error,
        )
        raise


def describe_instance(client: Any, instance_id: str) -> dict:
    try:
        reservations = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except botocore.exceptions.ClientError as error:
        if _error_code(error).startswith("InvalidInstanceID"):
            raise HelperError(f"--instance-id {instance_id}: no such instance here") from None
        raise
    return reservations[0]["Instances"][0]


def managed_instances(client: Any, states: list[str] | None = None) -> list[dict]:
    """Instances the helper created (by tag), in the given states (default: not terminated)."""
    pages = client.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": f"tag:{PROJECT_TAG}", "Values": ["true"]},
            {"Name": "instance-state-name", "Values": states or LIVE_STATES},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def terminate_instance(client: Any, instance_id: str, timeout: float, poll: float) -> None:
    client.terminate_instances(InstanceIds=[instance_id])
    wait_for(
        client, "instance_terminated", f"{instance_id} to terminate", timeout, poll,
        InstanceIds=[instance_id],
    )  # fmt: skip


def tag_value(resource: dict, key: str) -> str | None:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), None)
