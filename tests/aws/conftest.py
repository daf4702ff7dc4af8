"""Fixtures for the aws/ tests: moto's EC2 server and a throwaway OpenSSH server, both on
127.0.0.1, both started here and stopped by PID; the helper runs as a real subprocess.

moto's instances have fake public IPs, so every SSH step passes --ssh-host 127.0.0.1 --ssh-port.
The sshd plays the part of EC2's key injection: it accepts any private key the helper saved under
a test's keys directory (an AuthorizedKeysCommand runs ssh-keygen -y on them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.conftest import python_command

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "aws" / "aws_helper.py"
REGION = "us-east-1"
SECRET = "moto-test-secret-key-do-not-log"
BASE_IMAGE = "Deep Learning AMI Ubuntu*"  # in moto's built-in AMI list, owner amazon
BASE_IMAGE_ID = "ami-dca37ea5"  # that image's id, the same in every moto region (faster lookup)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def moto_server(log_dir: Path, **extra_env: str) -> Iterator[str]:
    """moto's server on a free 127.0.0.1 port in its own process group; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        # Make moto reject unknown AMIs, instance types and key names, as EC2 does.
        "MOTO_ENABLE_AMI_VALIDATION": "true",
        "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
        "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
        **extra_env,
    }
    log = open(log_dir / "moto.log", "wb")
    server = subprocess.Popen(
        python_command("-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)),
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start on {url}")
                time.sleep(0.2)
        yield url
    finally:
        _stop(server)
        log.close()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@dataclass
class Sshd:
    port: int
    homes: Path  # each test's HOME lives here; keys under */.carla-rllib/keys are authorized


def _sshd_binary() -> str | None:
    found = shutil.which("sshd") or "/usr/sbin/sshd"
    return found if os.access(found, os.X_OK) else None


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Iterator[Sshd]:
    binary = _sshd_binary()
    if binary is None:
        pytest.skip(
            "no sshd: install Debian's openssh-server (scripts/bootstrap.sh --dev does, as root)"
        )
    if os.geteuid() != 0:
        pytest.skip("the throwaway sshd needs root (it logs the helper in as root)")
    work = tmp_path_factory.mktemp("sshd")
    homes = work / "homes"
    homes.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")], check=True
    )
    # Run through /bin/sh: sshd refuses a command whose directory chain includes /tmp (1777).
    authorized = work / "authorized_keys.sh"
    authorized.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            for f in {homes}/*/.carla-rllib/keys/*.pem; do
                [ -f "$f" ] && ssh-keygen -y -f "$f"
            done
            exit 0
            """)
    )
    port = free_port()
    config = work / "sshd_config"
    config.write_text(
        textwrap.dedent(f"""\
            ListenAddress 127.0.0.1
            Port {port}
            HostKey {work}/host_key
            PidFile {work}/sshd.pid
            AuthorizedKeysFile none
            AuthorizedKeysCommand /bin/sh {authorized}
            AuthorizedKeysCommandUser root
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            StrictModes no
            UsePAM no
            Subsystem sftp internal-sftp
            LogLevel VERBOSE
            """)
    )
    created_run_dir = not Path("/run/sshd").exists()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    check = subprocess.run([binary, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"sshd rejects the test config: {check.stderr.strip()}")
    server = subprocess.Popen(
        [binary, "-D", "-f", str(config), "-E", str(work / "sshd.log")], start_new_session=True
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                _stop(server)
                pytest.fail(f"sshd did not start: {(work / 'sshd.log').read_text()}")
            time.sleep(0.1)
    yield Sshd(port=port, homes=homes)
    _stop(server)
    if created_run_dir:
        shutil.rmtree("/run/sshd", ignore_errors=True)


_home_numbers = itertools.count()


@dataclass
class AwsEnv:
    env: dict[str, str]
    home: Path
    ec2: object  # boto3 EC2 client on the moto server
    ssh_args: list[str]
    work: Path

    @property
    def keys_dir(self) -> Path:
        return self.home / ".carla-rllib" / "keys"

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(HELPER), *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip

    def popen(self, *args: str, ignored: tuple[signal.Signals, ...] = ()) -> subprocess.Popen:
        """The helper in its own session, to be signalled: SIGINT and SIGTERM at their defaults
        (as in a user's terminal), except those in `ignored`."""
        return subprocess.Popen(
            python_command(str(HELPER), *args, ignored=ignored), cwd=ROOT, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip

    def live_instances(self) -> list[str]:
        reservations = self.ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def _aws_env(moto_url: str, home: Path, work: Path, ssh_args: list[str]) -> AwsEnv:
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10
    ).close()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # keys and known_hosts land in the test's own home
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_EC2": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",  # never probe 169.254.169.254
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        # The public-IP lookup must never leave loopback in tests: a closed local port.
        "CARLA_RLLIB_CHECKIP_URL": f"http://127.0.0.1:{free_port()}/",
    }
    client = boto3.client(
        "ec2", region_name=REGION, endpoint_url=moto_url, aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
    )  # fmt: skip
    return AwsEnv(env=env, home=home, ec2=client, ssh_args=ssh_args, work=work)


@pytest.fixture
def aws(moto_url, tmp_path) -> AwsEnv:
    """moto only: for commands that never SSH."""
    return _aws_env(moto_url, tmp_path / "home", tmp_path, [])


@pytest.fixture
def aws_ssh(moto_url, sshd, tmp_path) -> AwsEnv:
    """moto plus the sshd, with the helper's SSH steps pointed at it."""
    home = sshd.homes / f"h{next(_home_numbers)}"
    ssh_args = ["--ssh-host", "127.0.0.1", "--ssh-port", str(sshd.port), "--ssh-user", "root"]
    return _aws_env(moto_url, home, tmp_path, ssh_args)
