"""Ctrl-C during training: the run stops after its current iteration with a checkpoint of
where it got to, exits 130 (not 0 with "final checkpoint"), and --auto goes on from there."""

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
    run_script,
    start_script,
    tiny_overrides,
    wait_until,
)

ITERATION = re.compile(r"^iter +(\d+) \|", re.MULTILINE)


def test_ctrl_c_checkpoints_where_training_stopped_and_auto_resumes_there(tmp_path):
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

    resumed = run_script(
        "dqn_train.py", str(CONFIG), "--name", "stopped", "-d", str(results), "--auto",
        *tiny_overrides(logs, iterations=iteration + 1),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"continuing from {checkpoint}" in resumed.stdout
    assert [int(i) for i in ITERATION.findall(resumed.stdout)] == [iteration + 1]
    assert_no_servers_left(logs)
