"""create-image: launch a builder, run the install scripts over SSH, bake the AMI, always clean up.

Everything after `run_instances` runs inside try/finally: whatever happens (a script exits
non-zero, SSH never comes up, a timeout, Ctrl-C, SIGTERM) the builder instance is terminated, and
an image whose creation did not finish is deregistered with its snapshots.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aws import ec2_resources as ec2
from aws import ssh_remote
from aws.errors import HelperError
from aws.signals import signals_deferred
from aws.ssh_access import SshOptions, ssh_target

log = logging.getLogger("aws_helper")


@dataclass
class BuildSettings:
    name: str
    scripts: list[Path]
    uploads: list[Path] = field(default_factory=list)
    instance_type: str = "g4dn.2xlarge"
    volume_size: int = 200
    base_image: str = ec2.DEFAULT_BASE_IMAGE
    base_image_owner: str = ec2.DEFAULT_BASE_IMAGE_OWNER
    access: ec2.AccessSettings = field(default_factory=ec2.AccessSettings)
    remote_dir: str = "carla-rllib-install"
    script_env: dict[str, str] = field(default_factory=dict)  # added to each script's environment
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
    access = ec2.prepare_access(
        client, region, settings.access, settings.ssh.keys_dir, settings.ssh.key_file
    )
    spec = ec2.LaunchSpec(
        image=base,
        instance_type=settings.instance_type,
        volume_size=settings.volume_size,
        name=f"{settings.name}-builder",
        role="ami-builder",
        access=settings.access,
        group_id=access.group_id,
    )
    with ec2.launched_instance(
        client, spec, settings.boot_timeout, settings.poll_interval, keep=False
    ) as instance_id:
        _run_scripts(client, settings, instance_id, access.key_file)
        image_id = _bake_image(client, settings, instance_id, base["ImageId"])
    return BuildResult(
        ImageId=image_id,
        ImageName=settings.name,
        Region=region,
        SecurityGroupIds=[access.group_id],
        SecurityGroupName=settings.access.security_group,
        KeyName=settings.access.key_name,
        KeyFile=str(access.key_file),
        BaseImageId=base["ImageId"],
        BuilderInstanceId=instance_id,
    )


def _bake_image(client: Any, settings: BuildSettings, instance_id: str, base_id: str) -> str:
    """Create the AMI and wait until it is available; an unfinished one is deleted."""
    log.info("creating image %s from %s", settings.name, instance_id)
    image_id = client.create_image(
        InstanceId=instance_id,
        Name=settings.name,
        Description=f"carla-rllib: built from {base_id} by aws_helper.py",
        TagSpecifications=[{"ResourceType": "image", "Tags": ec2.tags(settings.name, "image")}],
    )["ImageId"]
    done = False
    try:
        log.warning("image %s is being created; waiting until it is available", image_id)
        ec2.wait_for(
            client, "image_available", f"image {image_id} to become available",
            settings.image_timeout, settings.poll_interval, ImageIds=[image_id],
        )  # fmt: skip
        done = True
    finally:
        if not done:
            with signals_deferred():
                _delete_unfinished(client, image_id)
    ec2.tag_image_snapshots(client, image_id, ec2.tags(settings.name, "image"))
    return image_id


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
            command = ssh_remote.remote_script_command(remote_dir, script.name, settings.script_env)
            status = session.run(command, timeout=settings.script_timeout)
            if status != 0:
                raise HelperError(f"installation script {script} exited with status {status}")
            log.warning("%s finished (exit status 0)", script.name)


def _delete_unfinished(client: Any, image_id: str) -> None:
    log.warning("deleting unfinished image %s and its snapshots", image_id)
    try:
        ec2.delete_image(client, image_id)
    except Exception as error:  # keep going: the instance matters more
        log.error("could not delete image %s: %s (delete it by hand)", image_id, error)
