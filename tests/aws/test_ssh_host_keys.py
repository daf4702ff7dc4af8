"""Host-key checks: EC2 console fingerprints parsed as cloud-init prints them, compared in
OpenSSH's own SHA256 notation."""

from __future__ import annotations

import subprocess

import paramiko
import pytest

from aws.errors import HelperError
from aws.ssh_remote import HostKeyStore, console_fingerprints


def _key(tmp_path, name):
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True)
    return paramiko.Ed25519Key.from_private_key_file(str(path)), listed.stdout.split()[1]


def test_console_fingerprints_match_openssh_notation(tmp_path):
    key, openssh_fingerprint = _key(tmp_path, "host")
    assert key.fingerprint == openssh_fingerprint
    console = (
        "[   12.3] cloud-init[800]: Cloud-init v. 23.1 running 'modules:final'\n"
        "ec2: #############################################################\n"
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        "ec2: 256 SHA256:AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK root@ip-10-0-0-1 (ECDSA)\n"
        f"ec2: 256 {openssh_fingerprint} root@ip-10-0-0-1 (ED25519)\n"
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
        "ec2: SHA256:outsideTheBlock\n"
    )
    assert console_fingerprints(console) == [
        "SHA256:AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK",
        openssh_fingerprint,
    ]


def test_store_records_first_key_checks_console_and_rejects_changes(tmp_path):
    key, fingerprint = _key(tmp_path, "host")
    other, _ = _key(tmp_path, "other")
    store = HostKeyStore(tmp_path / "keys" / "known_hosts")
    with pytest.raises(HelperError, match="not among the fingerprints the instance printed"):
        store.check("i-1", key, ["SHA256:somethingElse"])
    store.check("i-1", key, [fingerprint])  # matches the console: recorded
    reloaded = HostKeyStore(tmp_path / "keys" / "known_hosts")
    reloaded.check("i-1", key, [])  # the same key again: fine
    with pytest.raises(HelperError, match="host key of i-1 changed"):
        reloaded.check("i-1", other, [])
