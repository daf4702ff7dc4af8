"""A crashed simulator does not stop training: the env restarts its server and goes on."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

from tests.dqn.helpers import (
    CONFIG,
    ROOT,
    assert_no_servers_left,
    script_env,
    servers_logging_to,
    stop_group,
    tiny_overrides,
    wait_until,
)


def test_killing_the_server_mid_training_does_not_stop_training(tmp_path):
    logs = tmp_path / "server_logs"
    command = [
        sys.executable, str(ROOT / "dqn_train.py"), str(CONFIG), "--name", "crash",
        "--directory", str(tmp_path / "results"), *tiny_overrides(logs, iterations=4),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=script_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any(line.startswith("iter    1") for line in lines), 240), (
            "".join(lines)[-5000:]
        )
        servers = servers_logging_to(logs)
        assert len(servers) == 1, servers
        killed = servers[0]
        killed.send_signal(signal.SIGKILL)  # the server this run launched, by PID
        assert wait_until(lambda: killed not in servers_logging_to(logs), 10)
        assert process.wait(300) == 0, "".join(lines)[-5000:]
    finally:
        stop_group(process)
    reader.join(10)
    out = "".join(lines)
    iterations = [int(i) for i in re.findall(r"^iter +(\d+) \|", out, re.MULTILINE)]
    assert iterations == [1, 2, 3, 4], out[-5000:]
    # A second server was launched after the crash (one log file per launch).
    assert len(list(logs.glob("*.log"))) >= 2, sorted(p.name for p in logs.iterdir())
    assert "final checkpoint" in out
    assert_no_servers_left(logs)
