"""create-image: launch a builder, run the install scripts over SSH, bake the AMI, always clean up.

Everything after `run_instances` runs inside try/finally: whatever happens (a script exits
non-zero, SSH never comes up, a timeout, Ctrl-C, SIGTERM) the builder instance is terminated, and
an image whose creation did not finish is deregistered with its snapshots.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aws import ec2_resources as ec2
from aws import ssh_remote
from aws.errors import HelperError, Interrupted

log = logging.getLogger("aws_helper")


@dataclass
class SshOptions:
    user: str = "ubuntu"
    key_file: Path | None = None  # --ssh-key; default: the key pair's file in keys_dir
    host: str | None = None  # --ssh-host: connect here instead of the instance's address
    port: int = 22
    private_ip: bool = False
    timeout: float = 600.0  # until sshd answers and accepts the key
    keys_dir: Path = ec2.DEFAULT_KEYS_DIR

    @property
    def known_hosts(self) -> Path:
        return self.keys_dir.expanduser() / "known_hosts"


@dataclass
class BuildSettings:
    name: str
    scripts: list[Path]
    uploads: list[Path] = field(default_factory=list)
    instance_type: str = "g4dn.2xlarge"
    volume_size: int = 200
    base_image: str = ec2.DEFAULT_BASE_IMAGE
    base_image_owner: str = ec2.DEFAULT_BASE_IMAGE_OWNER
    key_name: str = "carla-rllib"
    security_group: str = "carla-rllib"
    subnet_id: str | None = None
    ssh_cidrs: list[str] = field(default_factory=list)
    remote_dir: str = "carla-rllib-install"
    boot_timeout: float = 900.0
    script_timeout: float = 7200.0
    image_timeout: float = 7200.0
    poll_interval: float = 15.0
    ssh: SshOptions = field(default_factory=SshOptions)


@dataclass
class BuildResult:
    ImageId: str
    ImageName: str
    Region: str
    SecurityGroupIds: list[str]
    SecurityGroupName: str
    KeyName: str
    KeyFile: str
    BaseImageId: str
    BuilderInstanceId: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """During cleanup, a second Ctrl-C or SIGTERM must not abandon the instance half-way."""

    def refuse(signum: int, frame: object) -> None:
        log.warning("cleanup in progress, please wait (signal %d ignored)", signum)

    previous = {sig: signal.signal(sig, refuse) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the block ends, then raise as the signal would have."""
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(pending[0])


def ssh_target(instance: dict, options: SshOptions, key_file: Path) -> ssh_remote.SshTarget:
    if options.host:
        host = options.host
    elif options.private_ip:
        host = instance.get("PrivateIpAddress")
    else:
        host = instance.get("PublicIpAddress")
    if not host:
        raise HelperError(
            f"instance {instance['InstanceId']} has no "
            f"{'private' if options.private_ip else 'public'} IP address; use --private-ip "
            "from inside the VPC, or --ssh-host/--ssh-port through a tunnel"
        )
    return ssh_remote.SshTarget(host, options.port, options.user, key_file, instance["InstanceId"])


def _check_local_files(settings: BuildSettings) -> None:
    if not settings.scripts:
        raise HelperError("--installation-scripts: give at least one script to run on the builder")
    for path in [*settings.scripts, *settings.uploads]:
        if not path.is_file():
            raise HelperError(f"{path}: no such file")
    names = [p.name for p in [*settings.scripts, *settings.uploads]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HelperError(f"two uploaded files share the name {', '.join(duplicates)}")


def build_image(client: Any, settings: BuildSettings, region: str) -> BuildResult:
    _check_local_files(settings)
    existing = ec2.own_images_named(client, settings.name)
    if existing:
        raise HelperError(
            f"an AMI named '{settings.name}' already exists in {region} ({', '.join(existing)}): "
            "choose another --name or deregister it first"
        )
    base = ec2.resolve_base_image(client, settings.base_image, settings.base_image_owner)
    log.info("base image %s (%s)", base["ImageId"], base.get("Name", "?"))
    ssh_cidrs = settings.ssh_cidrs or [ec2.caller_cidr()]
    key_file = ec2.ensure_key_pair(
        client, settings.key_name, settings.ssh.keys_dir, region, settings.ssh.key_file
    )
    vpc_id = ec2.resolve_vpc(client, settings.subnet_id)
    group_id = ec2.ensure_security_group(client, settings.security_group, vpc_id, ssh_cidrs)

    spec = ec2.LaunchSpec(
        image=base,
        instance_type=settings.instance_type,
        key_name=settings.key_name,
        security_group_id=group_id,
        volume_size=settings.volume_size,
        name=f"{settings.name}-builder",
        role="ami-builder",
        subnet_id=settings.subnet_id,
    )
    instance_id = None
    image_id = None
    image_done = False
    try:
        with signals_held():  # Ctrl-C now would lose the id of an instance that exists
            instance_id = ec2.run_instance(client, spec)
            log.warning(
                "builder instance %s launched; it is terminated when this command ends",
                instance_id,
            )
        ec2.wait_for(
            client, "instance_running", f"{instance_id} to run", settings.boot_timeout,
            settings.poll_interval, InstanceIds=[instance_id],
        )  # fmt: skip
        _run_scripts(client, settings, instance_id, key_file)
        log.info("creating image %s from %s", settings.name, instance_id)
        image_id = client.create_image(
            InstanceId=instance_id,
            Name=settings.name,
            Description=f"carla-rllib: built from {base['ImageId']} by aws_helper.py",
            TagSpecifications=[{"ResourceType": "image", "Tags": ec2.tags(settings.name, "image")}],
        )["ImageId"]
        log.warning("image %s is being created; waiting until it is available", image_id)
        ec2.wait_for(
            client, "image_available", f"image {image_id} to become available",
            settings.image_timeout, settings.poll_interval, ImageIds=[image_id],
        )  # fmt: skip
        image_done = True
        ec2.tag_image_snapshots(client, image_id, ec2.tags(settings.name, "image"))
    finally:
        if instance_id is not None:
            with signals_deferred():
                _cleanup(client, settings, instance_id, image_id if not image_done else None)
    return BuildResult(
        ImageId=image_id,
        ImageName=settings.name,
        Region=region,
        SecurityGroupIds=[group_id],
        SecurityGroupName=settings.security_group,
        KeyName=settings.key_name,
        KeyFile=str(key_file),
        BaseImageId=base["ImageId"],
        BuilderInstanceId=instance_id,
    )


def _run_scripts(client: Any, settings: BuildSettings, instance_id: str, key_file: Path) -> None:
    instance = ec2.describe_instance(client, instance_id)
    target = ssh_target(instance, settings.ssh, key_file)
    store = ssh_remote.HostKeyStore(settings.ssh.known_hosts)
    with ssh_remote.connect(target, store, settings.ssh.timeout) as session:
        remote_dir = settings.remote_dir
        for path in [*settings.uploads, *settings.scripts]:
            session.put(path, f"{remote_dir.rstrip('/')}/{path.name}")
        for script in settings.scripts:
            log.warning("running %s on %s", script.name, instance_id)
            command = ssh_remote.remote_script_command(remote_dir, script.name)
            status = session.run(command, timeout=settings.script_timeout)
            if status != 0:
                raise HelperError(f"installation script {script} exited with status {status}")
            log.warning("%s finished (exit status 0)", script.name)


def _cleanup(client: Any, settings: BuildSettings, instance_id: str, image_id: str | None) -> None:
    if image_id is not None:
        log.warning("deleting unfinished image %s and its snapshots", image_id)
        try:
            ec2.delete_image(client, image_id)
        except Exception as error:  # keep going: the instance matters more
            log.error("could not delete image %s: %s (delete it by hand)", image_id, error)
    log.warning("terminating builder instance %s", instance_id)
    try:
        ec2.terminate_instance(client, instance_id, settings.boot_timeout, settings.poll_interval)
    except Exception as error:
        log.error(
            "could not confirm that %s terminated: %s -- check it in the EC2 console",
            instance_id,
            error,
        )
        raise
    log.warning("builder instance %s terminated", instance_id)
