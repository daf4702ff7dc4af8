"""aws/install/install.sh run for real, into a temporary HOME, with the CARLA and map archives
served from 127.0.0.1 (stand-ins with CARLA's layout) and apt skipped."""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from tests.aws.conftest import ROOT

INSTALL = ROOT / "aws" / "install" / "install.sh"
pytestmark = pytest.mark.skipif(
    not shutil.which("wget"), reason="install.sh downloads with wget, which is not installed"
)


def _tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# CARLA's layout: files at the top (no folder), ImportAssets.sh extracts Import/*.tar.gz.
CARLA = _tarball(
    {
        "CarlaUE4.sh": "#!/bin/sh\necho fake carla\n",
        "ImportAssets.sh": '#!/bin/sh\nset -e\ncd Import\nfor f in *.tar.gz; do tar -xzf "$f" -C ..; done\n',
        "PythonAPI/carla/README": "x\n",
    }
)
MAPS = _tarball({"CarlaUE4/Content/Carla/Maps/Town07.umap": "map\n"})
NO_CARLA = _tarball({"README": "not carla\n"})


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def archive_server():
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            body = {"/carla.tar.gz": CARLA, "/maps.tar.gz": MAPS, "/bad.tar.gz": NO_CARLA}.get(
                self.path
            )
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install in this test\n")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".bashrc").write_text(
        "case $- in *i*) ;; *) return;; esac\n# Ubuntu's guard above ends non-interactive shells\n"
    )
    return {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "SKIP_APT": "1",
        "CARLA_URL": f"{url}/carla.tar.gz",
        "MAPS_URL": f"{url}/maps.tar.gz",
        "ADDITIONAL_MAPS": "1",
        "VENV_DIR": str(tmp_path / "venv"),
        "REQUIREMENTS": str(requirements),
        **extra,
    }


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=300
    )


def test_install_provisions_carla_venv_and_environment_and_reruns_cleanly(tmp_path, archive_server):
    url, requests = archive_server
    # Pinned checksums (upper case, as some tools print them) that match: the install goes on.
    env = _env(tmp_path, url, CARLA_SHA256=_sha256(CARLA).upper(), MAPS_SHA256=_sha256(MAPS))
    first = _run(env)
    assert first.returncode == 0, first.stderr
    assert f"checking the SHA-256 of {url}/carla.tar.gz" in first.stdout
    assert f"checking the SHA-256 of {url}/maps.tar.gz" in first.stdout
    assert "warning" not in first.stderr
    carla = Path(env["HOME"]) / "CARLA_0.9.16"
    assert (carla / "CarlaUE4.sh").is_file()
    assert (carla / "CarlaUE4/Content/Carla/Maps/Town07.umap").is_file()  # maps imported
    assert not list(Path(env["HOME"]).glob("*.tar.gz*"))  # archives removed
    assert (tmp_path / "venv" / "bin" / "python").is_file()
    assert sorted(requests) == ["/carla.tar.gz", "/maps.tar.gz"]

    # CARLA_ROOT and the venv reach a non-interactive shell started by sshd (`ssh host cmd`)...
    probe = 'echo "$CARLA_ROOT"; command -v python'
    shell_env = {"HOME": env["HOME"], "PATH": "/usr/bin:/bin", "SSH_CLIENT": "127.0.0.1 1 22"}
    seen = subprocess.run(["bash", "-c", probe], env=shell_env, capture_output=True, text=True)
    assert seen.stdout.split() == [str(carla), str(tmp_path / "venv" / "bin" / "python")]
    # ...and Ray's `bash --login -c -i` (Ubuntu's ~/.profile sources ~/.bashrc).
    (Path(env["HOME"]) / ".profile").write_text('. "$HOME/.bashrc"\n')
    ray_shell = subprocess.run(
        ["bash", "--login", "-c", "-i", probe], env={**shell_env, "SSH_CLIENT": ""},
        capture_output=True, text=True,
    )  # fmt: skip
    assert ray_shell.stdout.split() == seen.stdout.split()

    second = _run(env)
    assert second.returncode == 0, second.stderr
    assert "CARLA 0.9.16 already in" in second.stdout
    assert "additional maps already imported" in second.stdout
    assert len(requests) == 2  # nothing downloaded again
    assert (Path(env["HOME"]) / ".bashrc").read_text().count("# carla-rllib") == 1


def test_install_refuses_an_archive_without_carla_and_keeps_no_partial_install(
    tmp_path, archive_server
):
    url, _ = archive_server
    env = _env(tmp_path, url, CARLA_URL=f"{url}/bad.tar.gz")
    result = _run(env)
    assert result.returncode == 1
    assert f"install.sh: error: {url}/bad.tar.gz holds no CarlaUE4.sh" in result.stderr
    assert not (Path(env["HOME"]) / "CARLA_0.9.16").exists()
    # No checksum pinned: said, with the hash to pin.
    assert (
        f"install.sh: warning: CARLA_SHA256 is not set, so {url}/bad.tar.gz was not verified; "
        f"its SHA-256 is {_sha256(NO_CARLA)}"
    ) in result.stderr


@pytest.mark.parametrize("archive", ["carla", "maps"])
def test_install_refuses_an_archive_whose_checksum_differs(tmp_path, archive_server, archive):
    url, requests = archive_server
    variable = f"{archive.upper()}_SHA256"
    pinned = _sha256(b"the release the user meant")
    env = _env(tmp_path, url, **{variable: pinned})
    result = _run(env)
    assert result.returncode == 1
    actual = _sha256(CARLA if archive == "carla" else MAPS)
    assert (
        f"install.sh: error: SHA-256 of {url}/{archive}.tar.gz is {actual}, expected {pinned} "
        f"({variable})"
    ) in result.stderr
    home = Path(env["HOME"])
    assert not list(home.rglob("*.tar.gz*"))  # deleted: a re-run downloads it again
    if archive == "carla":  # nothing unpacked
        assert not list(home.glob("CARLA_0.9.16*"))
    else:
        assert not (home / "CARLA_0.9.16/CarlaUE4/Content/Carla/Maps").exists()
        assert not (home / "CARLA_0.9.16/.carla-rllib-maps-installed").exists()


def test_install_refuses_a_malformed_checksum_before_downloading(tmp_path, archive_server):
    url, requests = archive_server
    result = _run(_env(tmp_path, url, CARLA_SHA256="d41d8cd98f00b204e9800998ecf8427e"))  # MD5
    assert result.returncode == 1
    assert "CARLA_SHA256=d41d8cd98f00b204e9800998ecf8427e is not a SHA-256" in result.stderr
    assert requests == []


def test_install_fails_fast_without_requirements(tmp_path, archive_server):
    url, requests = archive_server
    env = _env(tmp_path, url, REQUIREMENTS=str(tmp_path / "missing.txt"))
    result = _run(env)
    assert result.returncode == 1
    assert "no requirements file at" in result.stderr
    assert requests == []


@pytest.mark.slow
def test_create_image_runs_install_sh_over_ssh(aws_ssh, archive_server):
    """The real script, uploaded by create-image with a requirements.txt beside it, run over SSH.

    --script-env points HOME and the download URL at the test's own places (the remote user is
    root on this machine) and pins the archive's checksum; install.sh finds the requirements next
    to itself, as on EC2.
    """
    from tests.aws.conftest import BASE_IMAGE

    url, requests = archive_server
    aws = aws_ssh
    home = aws.work / "remote-home"
    home.mkdir()
    requirements = aws.work / "requirements.txt"
    requirements.write_text("# the real file would install the pinned stack\n")
    result = aws.run(
        "create-image", "--name", "with-install-sh", "--base-image", BASE_IMAGE,
        "--installation-scripts", str(INSTALL), "--upload", str(requirements),
        "--script-env", f"HOME={home}", "SKIP_APT=1", f"CARLA_URL={url}/carla.tar.gz",
        f"CARLA_SHA256={_sha256(CARLA)}",
        "--remote-dir", str(aws.work / "remote"), "--ssh-cidr", "127.0.0.1/32",
        "--poll-interval", "0.1", *aws.ssh_args, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "install.sh: installing the pinned requirements" not in result.stderr
    assert f"{aws.work / 'remote' / 'requirements.txt'} lists no packages" in result.stderr
    assert f"install.sh: checking the SHA-256 of {url}/carla.tar.gz" in result.stderr
    assert "install.sh: warning" not in result.stderr
    assert "install.sh: done: CARLA_ROOT=" in result.stderr
    assert (home / "CARLA_0.9.16" / "CarlaUE4.sh").is_file()
    assert requests == ["/carla.tar.gz"]
    assert aws.live_instances() == []
