"""Ctrl-C during training: the run stops after its current iteration with a checkpoint of
where it got to, exits 130 (not 0 with "final checkpoint"), and --auto goes on from there;
SIGTERM stops at once with status 143, naming the latest checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

from dqn_example.export import CHECKPOINT_FILES
from rllib_integration.training.checkpoints import LATEST_FILE, is_complete
from tests.dqn.helpers import (
    CONFIG,
    assert_no_servers_left,
    start_script,
    tiny_overrides,
    wait_until,
)

ITERATION = re.compile(r"^iter +(\d+) \|", re.MULTILINE)


def test_ctrl_c_checkpoints_where_it_stopped_auto_resumes_there_sigterm_stops_at_once(tmp_path):
    logs, results = tmp_path / "server_logs", tmp_path / "results"
    # No periodic checkpoint: the one there is afterwards is the interrupt's.
    overrides = [*tiny_overrides(logs, iterations=50), "--set", "checkpoint.frequency=1000"]
    run = start_script(
        "dqn_train.py", str(CONFIG), "--name", "stopped", "-d", str(results), *overrides
    )
    try:
        assert wait_until(lambda: ITERATION.findall(run.output), 240), run.output[-5000:]
        os.killpg(run.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        status = run.process.wait(240)
    finally:
        out = run.finish()
    assert status == 130, out[-5000:]
    assert "final checkpoint" not in out
    assert "interrupted: stopping after the current iteration with a checkpoint" in out
    stopped = re.search(
        r"interrupted at iteration (\d+); checkpoint (\S+); resume with --auto", out
    )
    assert stopped, out[-5000:]
    iteration, checkpoint = int(stopped[1]), Path(stopped[2])
    assert iteration == max(int(i) for i in ITERATION.findall(out))  # the last one it ran
    assert is_complete(checkpoint, CHECKPOINT_FILES)
    pointer = json.loads((results / "stopped" / LATEST_FILE).read_text())
    assert Path(pointer["checkpoint"]) == checkpoint
    assert pointer["training_iteration"] == iteration
    assert_no_servers_left(logs)

    # --auto goes on from that checkpoint; SIGTERM to the trainer alone (`kill PID`, a batch
    # system ending the job) stops it at once, naming the latest checkpoint.
    resumed = start_script(
        "dqn_train.py", str(CONFIG), "--name", "stopped", "-d", str(results), "--auto",
        *tiny_overrides(logs, iterations=iteration + 50),
    )  # fmt: skip
    try:
        assert wait_until(lambda: ITERATION.findall(resumed.output), 240), resumed.output[-5000:]
        resumed.process.send_signal(signal.SIGTERM)
        status = resumed.process.wait(120)
    finally:
        out = resumed.finish()
    assert f"continuing from {checkpoint}" in out, out[-5000:]
    assert int(ITERATION.findall(out)[0]) == iteration + 1
    assert status == 128 + signal.SIGTERM, out[-5000:]
    terminated = re.search(r"terminated; latest checkpoint (\S+); resume with --auto", out)
    assert terminated, out[-5000:]
    latest = Path(terminated[1])
    assert is_complete(latest, CHECKPOINT_FILES)
    assert Path(json.loads((results / "stopped" / LATEST_FILE).read_text())["checkpoint"]) == latest
    assert "listens on every network interface" not in out  # the local Ray is on 127.0.0.1
    assert_no_servers_left(logs)
