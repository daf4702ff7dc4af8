"""Helpers of the DQN tests: run the scripts as a user does, tiny training settings, and the
embedded servers a run launched (found by the log folder the test gave it)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from tests import conftest
from tests.conftest import python_command

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "dqn_example" / "dqn_config.yaml"


def tiny_overrides(log_dir: Path, iterations: int = 2, steps: int = 100) -> list[str]:
    """The shipped config made CI-sized: `steps` env steps per iteration, 5 s episodes."""
    sets = {
        "reporting.min_sample_timesteps_per_iteration": steps,
        "training.num_steps_sampled_before_learning_starts": steps // 2,
        "training.replay_buffer_config.capacity": 2000,
        "stop.iterations": iterations,
        "checkpoint.frequency": 1,
        "env_config.experiment.max_time_episode": 5.0,
        "env_config.carla.log_dir": str(log_dir),
    }
    args = []
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return args


def script_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, RAY_DISABLE_USAGE_STATS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_script(
    script: str, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python <script> args...` from the repository root in its own process group, with the
    default SIGINT/SIGTERM handling whatever this process inherited (see `python_command`)."""
    return _run(python_command(str(ROOT / script), *args), timeout, env, script)


def run_python(code: str, timeout: float = 300, env: dict | None = None):
    """`python -c code` from the repository root in its own process group."""
    return _run(python_command("-c", code), timeout, env, "python -c")


def _run(
    command: list[str], timeout: float, env: dict | None, name: str
) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env or script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process)
        out, err = process.communicate()
        raise AssertionError(f"{name} timed out after {timeout} s\n{out}\n{err}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


class Started:
    """A script started by `start_script`: its process and its output so far, line by line."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=script_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        self.lines.extend(self.process.stdout)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def finish(self) -> str:
        """Stop what is left of the process group; the whole output."""
        stop_group(self.process)
        self._reader.join(10)
        return self.output


def start_script(script: str, *args: str) -> Started:
    """`python <script> args...` as `run_script` starts it, stdout and stderr read into one list
    of lines while it runs."""
    return Started(python_command(str(ROOT / script), *args))


def stop_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGINT (a trainer stops after its iteration), then SIGKILL, to the group this test
    started."""
    conftest.stop_group(process, grace, signal.SIGINT)


def servers_logging_to(log_dir: Path) -> list[psutil.Process]:
    """Live processes whose stdout is a log file in `log_dir`: the servers of this test."""
    found = []
    prefix = str(Path(log_dir).resolve())
    for process in psutil.process_iter(["pid"]):
        try:
            target = os.readlink(f"/proc/{process.pid}/fd/1")
        except OSError:
            continue
        if target.startswith(prefix) and process.is_running():
            found.append(process)
    return found


def wait_until(predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def assert_no_servers_left(log_dir: Path, timeout: float = 20.0) -> None:
    left = wait_until(lambda: not servers_logging_to(log_dir), timeout)
    assert left, f"servers still running: {[p.pid for p in servers_logging_to(log_dir)]}"
