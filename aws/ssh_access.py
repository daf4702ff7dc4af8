"""How to reach an instance over SSH: the CLI's SSH options and the target they pick.

Kept apart from `ssh_remote` (which imports paramiko) because every command that may connect
builds these first, and most helper commands never connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws.errors import HelperError

DEFAULT_KEYS_DIR = Path("~/.carla-rllib/keys")
# Name patterns `put` skips by default.
DEFAULT_EXCLUDES = (".git", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache", "*.pyc")


@dataclass
class SshOptions:
    user: str = "ubuntu"
    key_file: Path | None = None  # --ssh-key; default: the key pair's file in keys_dir
    host: str | None = None  # --ssh-host: connect here instead of the instance's address
    port: int = 22
    private_ip: bool = False
    timeout: float = 600.0  # until sshd answers and accepts the key
    keys_dir: Path = DEFAULT_KEYS_DIR

    @property
    def known_hosts(self) -> Path:
        return self.keys_dir.expanduser() / "known_hosts"


@dataclass
class SshTarget:
    host: str
    port: int
    user: str
    key_file: Path
    alias: str  # the instance id: the known_hosts entry name


def ssh_target(instance: dict, options: SshOptions, key_file: Path) -> SshTarget:
    """Where to connect for `instance`: --ssh-host, else its private or public address."""
    host: str | None
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
    return SshTarget(host, options.port, options.user, key_file, instance["InstanceId"])
