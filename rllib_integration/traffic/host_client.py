"""TrafficHostProcess: the env's side of the traffic helper process (`traffic/host.py`).

Starts the helper with `python -m rllib_integration.traffic.host`, talks to it over its
stdin/stdout (one JSON object per line, see `traffic/host.py`), and kills its process group.
The heroes' `carla.VehicleControl`s cross the pipe as dicts of `CONTROL_FIELDS`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rllib_integration.supervisor.process import child_environment, die_with_parent, kill_group

if TYPE_CHECKING:
    import carla

    from rllib_integration.defaults import CarlaSettings
    from rllib_integration.supervisor.simulator import SimulatorServer

HOST_MODULE = "rllib_integration.traffic.host"

# Every field of carla.VehicleControl (a test pins this list to the installed client's).
CONTROL_FIELDS = (
    "throttle",
    "steer",
    "brake",
    "hand_brake",
    "reverse",
    "manual_gear_shift",
    "gear",
)


class TrafficHostError(RuntimeError):
    """The traffic helper process died, hung or reported an error."""


def control_to_dict(control: carla.VehicleControl) -> dict[str, Any]:
    """The control as JSON-able fields; the helper rebuilds it with carla.VehicleControl(**d)."""
    return {name: getattr(control, name) for name in CONTROL_FIELDS}


class TrafficHostProcess:
    """The helper process of one server: started on demand, killed with its group."""

    def __init__(self, server: SimulatorServer, settings: CarlaSettings):
        command = [
            sys.executable,
            "-m",
            HOST_MODULE,
            server.host,
            str(server.rpc_port),
            str(server.tm_port),
            str(settings.timeout),
        ]
        log_path = (
            server.log_path.with_suffix(".traffic.log")
            if server.log_path is not None
            else Path(os.devnull)
        )
        self.timeout = settings.timeout + 5.0
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env=child_environment(),
            )
        try:
            self._read(settings.startup_timeout)
        except BaseException:
            self.kill()
            raise

    def request(self, op: str, **arguments: Any) -> dict:
        stdin = self.process.stdin
        assert stdin is not None  # opened with stdin=PIPE
        try:
            stdin.write((json.dumps({"op": op, **arguments}) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise TrafficHostError(f"the traffic process is gone ({op})") from None
        return self._read(self.timeout)

    def tick(self, controls: Sequence[tuple[int, carla.VehicleControl]] = ()) -> int:
        """Apply each control to its actor (a hero, by id), then tick the world, both from the
        helper's connection, in that order; the helper's Traffic Manager steps with the tick.
        Returns the new frame."""
        fields = [[actor, control_to_dict(control)] for actor, control in controls]
        return self.request("tick", controls=fields)["frame"]

    def _read(self, timeout: float) -> dict:
        stdout = self.process.stdout
        assert stdout is not None  # opened with stdout=PIPE
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise TrafficHostError(f"the traffic process did not answer within {timeout} s")
        line = stdout.readline()
        if not line:
            raise TrafficHostError(f"the traffic process exited ({self.process.poll()})")
        try:
            reply = json.loads(line)
        except ValueError:
            raise TrafficHostError(
                f"unexpected output from the traffic process: {line!r}"
            ) from None
        if not reply.pop("ok"):
            raise TrafficHostError(reply["error"])
        return reply

    def close(self) -> None:
        """Ask the helper to shut its Traffic Manager down and exit, then make sure it did."""
        with contextlib.suppress(TrafficHostError):
            self.request("close")
        self.kill()

    def kill(self) -> None:
        kill_group(self.process)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
