"""A crashed simulator does not stop training: the env restarts its server and goes on."""

from __future__ import annotations

import re
import signal

from tests.dqn.helpers import (
    CONFIG,
    assert_no_servers_left,
    servers_logging_to,
    start_script,
    tiny_overrides,
    wait_until,
)


def test_killing_the_server_mid_training_does_not_stop_training(tmp_path):
    logs = tmp_path / "server_logs"
    run = start_script(
        "dqn_train.py", str(CONFIG), "--name", "crash", "--directory", str(tmp_path / "results"),
        *tiny_overrides(logs, iterations=4),
    )  # fmt: skip
    try:
        assert wait_until(lambda: any(line.startswith("iter    1") for line in run.lines), 240), (
            run.output[-5000:]
        )
        servers = servers_logging_to(logs)
        assert len(servers) == 1, servers
        killed = servers[0]
        killed.send_signal(signal.SIGKILL)  # the server this run launched, by PID
        assert wait_until(lambda: killed not in servers_logging_to(logs), 10)
        # A run that does not end says where it stands (its output), not just "timed out".
        assert wait_until(lambda: run.process.poll() is not None, 300), run.output[-5000:]
        assert run.process.returncode == 0, run.output[-5000:]
    finally:
        out = run.finish()
    iterations = [int(i) for i in re.findall(r"^iter +(\d+) \|", out, re.MULTILINE)]
    assert iterations == [1, 2, 3, 4], out[-5000:]
    # A second server was launched after the crash (one log file per launch).
    assert len(list(logs.glob("*.log"))) >= 2, sorted(p.name for p in logs.iterdir())
    assert "final checkpoint" in out
    assert_no_servers_left(logs)
