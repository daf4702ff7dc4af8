"""The route of the hero's control into the world, and of the tick that follows it.

Chosen once per episode by `CarlaCore.reset_episode` (`choose_control_path`):

- `DirectControl`: no NPC vehicles. This client applies the heroes' controls and ticks the
  world itself.
- `ThroughTrafficHost`: NPC vehicles exist, so CARLA's Traffic Manager runs in the traffic
  helper process and must step with every tick. The controls travel to that process as JSON,
  which applies them and ticks from its own connection (in that order); this client then waits
  until its own view of the world has reached the new frame.

Both raise RuntimeError (from the client, the pipe, or the wait) when the server does not
answer; the core turns that into SimulatorFailure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import carla

if TYPE_CHECKING:
    from rllib_integration.traffic.host_client import TrafficHostProcess

# (hero vehicle, its control for this step)
Controls = Sequence[tuple["carla.Actor", "carla.VehicleControl"]]


class ControlPath(Protocol):
    def apply_and_tick(self, controls: Controls) -> int:
        """Apply each control to its hero, then tick the world once; the new frame."""
        ...


class DirectControl:
    """The env's client applies the controls and ticks."""

    def __init__(self, client: carla.Client, world: carla.World, timeout: float):
        self.client = client
        self.world = world
        self.timeout = timeout

    def apply_and_tick(self, controls: Controls) -> int:
        # Both asynchronous on the connection that ticks, so they land before the tick. Several
        # heroes' controls go as one batch: one message instead of one per hero.
        if len(controls) == 1:
            hero, control = controls[0]
            hero.apply_control(control)
        elif controls:
            self.client.apply_batch(
                [carla.command.ApplyVehicleControl(hero.id, c) for hero, c in controls]
            )
        return self.world.tick(self.timeout)


class ThroughTrafficHost:
    """The traffic helper process applies the controls and ticks; this client waits for the frame."""

    def __init__(self, host: TrafficHostProcess, world: carla.World, timeout: float):
        self.host = host
        self.world = world
        self.timeout = timeout

    def apply_and_tick(self, controls: Controls) -> int:
        frame = self.host.tick([(hero.id, control) for hero, control in controls])
        deadline = time.monotonic() + self.timeout
        while self.world.get_snapshot().frame < frame:
            if time.monotonic() > deadline:
                raise RuntimeError(f"frame {frame} never reached this client")
            time.sleep(0.0002)
        return frame


def choose_control_path(
    host: TrafficHostProcess | None, client: carla.Client, world: carla.World, timeout: float
) -> ControlPath:
    """Through the traffic helper while it runs (there are NPC vehicles), else direct."""
    if host is not None:
        return ThroughTrafficHost(host, world, timeout)
    return DirectControl(client, world, timeout)
