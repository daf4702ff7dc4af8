"""SSH to the instances: connect with a deadline, check host keys, run commands, copy files.

Host keys are remembered per instance id (not per IP: a stopped and started instance gets a new
public IP but keeps its host keys) in an OpenSSH-format known_hosts file beside the private keys.
A key seen before must match; a new instance's key is accepted on first use, after checking it
against the fingerprints the instance printed to its console when EC2 provides them.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import stat
import sys
import time
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path
from typing import BinaryIO

import paramiko

from aws.errors import HelperError
from aws.ssh_access import DEFAULT_EXCLUDES, SshTarget

log = logging.getLogger("aws_helper")


class HostKeyStore:
    """known_hosts keyed by instance id; a mismatch is an error, never silently replaced."""

    def __init__(self, path: Path):
        self.path = path.expanduser()
        self.keys = paramiko.HostKeys()
        if self.path.is_file():
            self.keys.load(str(self.path))

    def check(self, alias: str, key: paramiko.PKey, console_fingerprints: list[str]) -> None:
        known = self.keys.lookup(alias)
        if known is not None and key.get_name() in known:
            if known[key.get_name()] != key:
                raise HelperError(
                    f"host key of {alias} changed: expected {known[key.get_name()].fingerprint}, "
                    f"got {key.fingerprint}. If the instance was really replaced, delete its line "
                    f"from {self.path}"
                )
            return
        if known is not None:  # a different key type than recorded: treat as a change
            raise HelperError(
                f"host key of {alias} changed: recorded {', '.join(known.keys())} key(s), "
                f"server offers {key.get_name()} {key.fingerprint}; if the instance was really "
                f"replaced, delete its line from {self.path}"
            )
        if console_fingerprints and key.fingerprint not in console_fingerprints:
            raise HelperError(
                f"host key of {alias} ({key.fingerprint}) is not among the fingerprints the "
                f"instance printed to its console ({', '.join(console_fingerprints)})"
            )
        how = "matches the console output" if console_fingerprints else "first use"
        log.info(
            "recording host key of %s: %s %s (%s)", alias, key.get_name(), key.fingerprint, how
        )
        self.keys.add(alias, key.get_name(), key)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keys.save(str(self.path))


def console_fingerprints(console_text: str) -> list[str]:
    """SHA256 fingerprints from cloud-init's 'BEGIN SSH HOST KEY FINGERPRINTS' console block."""
    found, inside = [], False
    for line in console_text.splitlines():
        if "BEGIN SSH HOST KEY FINGERPRINTS" in line:
            inside = True
        elif "END SSH HOST KEY FINGERPRINTS" in line:
            inside = False
        elif inside:
            found += [word for word in line.split() if word.startswith("SHA256:")]
    return found


class RemoteSession:
    """One authenticated SSH transport to an instance."""

    def __init__(self, transport: paramiko.Transport, target: SshTarget):
        self.transport = transport
        self.target = target

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, command: str, timeout: float | None = None, out: BinaryIO | None = None) -> int:
        """Run `command`, stream its output (stdout+stderr) live to `out`, return its exit status.

        It runs on a pty so that it is hung up (killed) when we disconnect, e.g. after Ctrl-C.
        """
        out = out if out is not None else sys.stderr.buffer
        deadline = None if timeout is None else time.monotonic() + timeout
        channel = self.transport.open_session()
        try:
            channel.get_pty(term="dumb", width=200)
            channel.exec_command(command)
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise HelperError(f"timed out after {timeout:g} s running {command!r}")
                ready, _, _ = select.select([channel], [], [], 0.2)
                if ready or channel.recv_ready():
                    data = channel.recv(65536)
                    if not data:
                        break
                    out.write(data.replace(b"\r\n", b"\n"))
                    out.flush()
            status = channel.recv_exit_status()
        finally:
            channel.close()
        return status

    def put(self, local: Path, remote: str, excludes: Iterable[str] = DEFAULT_EXCLUDES) -> int:
        """Copy a file or directory tree to `remote` (relative paths: from the remote home)."""
        excludes = tuple(excludes)
        count = 0
        with self.transport.open_sftp_client() as sftp:
            if local.is_dir():
                for root, dirs, files in os.walk(local):
                    dirs[:] = sorted(d for d in dirs if not _excluded(d, excludes))
                    relative = Path(root).relative_to(local)
                    remote_dir = _join(remote, relative.as_posix())
                    _sftp_makedirs(sftp, remote_dir)
                    for name in sorted(files):
                        if not _excluded(name, excludes):
                            self._put_file(sftp, Path(root) / name, _join(remote_dir, name))
                            count += 1
            elif local.is_file():
                if "/" in remote.rstrip("/"):
                    _sftp_makedirs(sftp, remote.rstrip("/").rsplit("/", 1)[0])
                self._put_file(sftp, local, remote)
                count = 1
            else:
                raise HelperError(f"{local}: no such file or directory")
        return count

    @staticmethod
    def _put_file(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
        sftp.put(str(local), remote)
        sftp.chmod(remote, stat.S_IMODE(local.stat().st_mode))

    def get(self, remote: str, local: Path) -> int:
        """Copy a remote file or directory tree to `local`."""
        count = 0
        with self.transport.open_sftp_client() as sftp:
            try:
                attributes = sftp.stat(remote)
            except FileNotFoundError:
                raise HelperError(f"remote path {remote}: no such file or directory") from None
            if not stat.S_ISDIR(attributes.st_mode or 0):  # no mode sent: not a directory
                local.parent.mkdir(parents=True, exist_ok=True)
                sftp.get(remote, str(local))
                return 1
            pending = [(remote, local)]
            while pending:
                remote_dir, local_dir = pending.pop()
                local_dir.mkdir(parents=True, exist_ok=True)
                for entry in sftp.listdir_attr(remote_dir):
                    source = _join(remote_dir, entry.filename)
                    if stat.S_ISDIR(entry.st_mode or 0):
                        pending.append((source, local_dir / entry.filename))
                    else:
                        sftp.get(source, str(local_dir / entry.filename))
                        count += 1
        return count


def _excluded(name: str, excludes: tuple[str, ...]) -> bool:
    return any(fnmatch(name, pattern) for pattern in excludes)


def _join(base: str, name: str) -> str:
    if name in ("", "."):
        return base
    return f"{base.rstrip('/')}/{name}" if base else name


def _sftp_makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if not prefix or prefix in (".", "~"):
            continue
        try:
            sftp.stat(prefix)
        except FileNotFoundError:
            sftp.mkdir(prefix)


def connect(
    target: SshTarget,
    store: HostKeyStore,
    timeout: float,
    fingerprints: list[str] | None = None,
    retry_delay: float = 2.0,
) -> RemoteSession:
    """Connect and authenticate, retrying until `timeout` (sshd and cloud-init come up late)."""
    try:
        pkey = paramiko.PKey.from_path(target.key_file)
    except (OSError, paramiko.SSHException) as error:
        raise HelperError(f"cannot read private key {target.key_file}: {error}") from None
    where = f"{target.user}@{target.host}:{target.port}"
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HelperError(f"SSH to {where} failed for {timeout:g} s; last error: {last_error}")
        sock = None
        transport = None
        try:
            sock = socket.create_connection((target.host, target.port), timeout=min(10, remaining))
            transport = paramiko.Transport(sock)
            transport.banner_timeout = transport.handshake_timeout = min(30, remaining)
            transport.start_client(timeout=min(30, remaining))
            # Check the host key before offering our key.
            store.check(target.alias, transport.get_remote_server_key(), fingerprints or [])
            transport.auth_publickey(target.user, pkey)
            log.info("connected to %s", where)
            return RemoteSession(transport, target)
        except (OSError, paramiko.SSHException, EOFError) as error:
            # Refused/unreachable, banner not ready, or the key not yet installed by cloud-init.
            last_error = error
            if transport is not None:
                transport.close()
            elif sock is not None:
                sock.close()
            log.debug("SSH to %s not ready: %s", where, error)
            time.sleep(min(retry_delay, max(0.0, deadline - time.monotonic())))
        except BaseException:
            if transport is not None:
                transport.close()
            elif sock is not None:
                sock.close()
            raise


def remote_script_command(
    remote_dir: str, script_name: str, environment: dict[str, str] | None = None
) -> str:
    """A shell command running `script_name` in `remote_dir` with `environment` added."""
    assignments = [shlex.quote(f"{name}={value}") for name, value in (environment or {}).items()]
    prefix = f"env {' '.join(assignments)} " if assignments else ""
    return f"cd {shlex.quote(remote_dir)} && {prefix}./{shlex.quote(script_name)}"
