"""Background traffic: NPC vehicles driven by CARLA's Traffic Manager, and walkers with AI
controllers. Owned by CarlaCore; spawned per server (or per episode when asked).

The Traffic Manager and its vehicles live in a helper process (traffic_host.py) that also ticks
the world, because a server dying under a TM aborts the process the TM runs in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import carla

from rllib_integration.server import die_with_parent

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore

logger = logging.getLogger(__name__)

_CONTROL_FIELDS = (
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


class TrafficHost:
    """The helper process (see traffic_host.py): started lazily, killed with its group."""

    def __init__(self, core: CarlaCore):
        server = core.server
        command = [
            sys.executable,
            "-m",
            "rllib_integration.traffic_host",
            server.host,
            str(server.rpc_port),
            str(server.tm_port),
            str(core.config.timeout),
        ]
        log_path = (
            server.log_path.with_suffix(".traffic.log")
            if server.log_path is not None
            else Path(os.devnull)
        )
        self.timeout = core.config.timeout + 5.0
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env=_environment(),
            )
        try:
            self._read(core.config.startup_timeout)
        except BaseException:
            self.kill()
            raise

    def request(self, op: str, **arguments: Any) -> dict:
        try:
            self.process.stdin.write((json.dumps({"op": op, **arguments}) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise TrafficHostError(f"the traffic process is gone ({op})") from None
        return self._read(self.timeout)

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TrafficHostError(f"the traffic process did not answer within {timeout} s")
        line = self.process.stdout.readline()
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
        with contextlib.suppress(TrafficHostError):
            self.request("close")
        self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class BackgroundTraffic:
    def __init__(self, core: CarlaCore):
        self.core = core
        self.host: TrafficHost | None = None
        self.vehicles: list[int] = []
        self.walkers: list[int] = []
        self.controllers: list[int] = []
        self.spawned = False

    @property
    def actor_ids(self) -> list[int]:
        return self.vehicles + self.walkers + self.controllers

    @property
    def ticks_the_world(self) -> bool:
        """True while the traffic process drives the world's ticks (there are NPC vehicles)."""
        return self.host is not None

    def spawn(self, background: Mapping, rng: random.Random) -> None:
        """Spawn `n_vehicles` on autopilot and `n_walkers` with AI controllers."""
        self.spawned = True
        n_vehicles, n_walkers = background["n_vehicles"], background["n_walkers"]
        if n_vehicles == 0 and n_walkers == 0:
            return
        seed = background["seed"]
        npc_rng = random.Random(seed) if seed is not None else rng
        world = self.core.world
        if n_vehicles:
            if self.host is None:
                self.host = TrafficHost(self.core)
            reply = self.host.request(
                "spawn",
                n=n_vehicles,
                # Always seeded: by background_activity.seed, else by the env's reset seed.
                seed=seed if seed is not None else rng.randrange(2**31),
                hybrid=background["tm_hybrid_mode"],
            )
            self.vehicles = reply["ids"]
            if len(self.vehicles) < n_vehicles:
                logger.warning(
                    "spawned %d of %d NPC vehicles (%d spawn points)",
                    len(self.vehicles),
                    n_vehicles,
                    reply["spawn_points"],
                )
        if n_walkers:
            self._spawn_walkers(world.get_blueprint_library(), n_walkers, npc_rng)
        self.core.tick_world()
        # Without a navigation mesh (embedded server) the server walks them by itself.
        has_navigation = world.get_random_location_from_navigation() is not None
        for controller in world.get_actors(self.controllers):
            controller.start()
            if has_navigation:
                controller.go_to_location(world.get_random_location_from_navigation())

    def tick(self, actor: int = 0, control: carla.VehicleControl | None = None) -> int:
        """Tick the world from the traffic process (its TM steps with it), applying `control`
        to `actor` just before; returns the frame."""
        fields = None
        if control is not None:
            fields = {name: getattr(control, name) for name in _CONTROL_FIELDS}
        return self.host.request("tick", actor=actor, control=fields)["frame"]

    def _spawn_walkers(self, library: Any, count: int, rng: random.Random) -> None:
        client = self.core.client
        blueprints = list(library.filter("walker.pedestrian.*"))
        batch = []
        for _ in range(count):
            location = self._walker_location(rng)
            if location is None:
                continue
            blueprint = rng.choice(blueprints)
            if blueprint.has_attribute("is_invincible"):
                blueprint.set_attribute("is_invincible", "false")
            batch.append(carla.command.SpawnActor(blueprint, carla.Transform(location)))
        walkers = [r.actor_id for r in client.apply_batch_sync(batch, False) if not r.error]
        controller_bp = library.find("controller.ai.walker")
        batch = [carla.command.SpawnActor(controller_bp, carla.Transform(), w) for w in walkers]
        controllers = [r.actor_id for r in client.apply_batch_sync(batch, False) if not r.error]
        self.walkers, self.controllers = walkers, controllers
        if len(walkers) < count:
            logger.warning("spawned %d of %d walkers", len(walkers), count)

    def _walker_location(self, rng: random.Random) -> carla.Location | None:
        """A random point on the navigation mesh, or, for servers without one (the embedded
        server), on a sidewalk next to a random spawn point."""
        location = self.core.world.get_random_location_from_navigation()
        if location is not None:
            return location
        carla_map = self.core.map
        points = carla_map.get_spawn_points()
        if not points:
            return None
        anchor = rng.choice(points).location
        sidewalk = carla_map.get_waypoint(
            anchor, project_to_road=True, lane_type=carla.LaneType.Sidewalk
        )
        if sidewalk is None:
            return None
        # Spread walkers along the sidewalk so that several do not share one spot.
        sidewalk = (sidewalk.next(rng.uniform(0.5, 30.0)) or [sidewalk])[0]
        spot = sidewalk.transform.location
        return carla.Location(spot.x, spot.y, spot.z + 1.0)

    def destroy(self) -> None:
        """Destroy every NPC (the server must be answering)."""
        if self.host is not None and self.vehicles:
            self.host.request("destroy")
        for controller in self.core.world.get_actors(self.controllers):
            controller.stop()
        ids = self.walkers + self.controllers
        if ids:
            self.core.client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
        self.forget()

    def close_host(self) -> None:
        """End the traffic process cleanly (the TM shut down while the server still answers)."""
        if self.host is not None:
            host, self.host = self.host, None
            host.close()

    def kill_host(self) -> bool:
        """Kill the traffic process of a dead or hung server; True if there was one."""
        if self.host is None:
            return False
        host, self.host = self.host, None
        host.kill()
        return True

    def forget(self) -> None:
        """Drop the NPC ids (after destroying them, or with the server that held them)."""
        self.vehicles, self.walkers, self.controllers = [], [], []
        self.spawned = False


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env
