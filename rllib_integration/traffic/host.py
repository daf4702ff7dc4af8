"""A separate process that owns CARLA's Traffic Manager and its NPC vehicles, and ticks the world.

CARLA's Traffic Manager runs inside the client process, and when the server dies while the TM's
worker thread is inside a call, the `carla` library aborts that whole process. Keeping the TM
here means a dying server takes down only this helper, never the env. The env talks to it over
stdin/stdout, one JSON object per line:

    {"op": "spawn", "n": 5, "seed": 1, "hybrid": true}  -> {"ok": true, "ids": [..]}
    {"op": "tick", "controls": [[7, {...}], ...]}       -> {"ok": true, "frame": 1234}
    {"op": "start_walkers", "ids": [..]}                -> {"ok": true}
    {"op": "autopilot", "actor": 7, "path": [[x, y, z], ...]}  -> {"ok": true}
    {"op": "release", "actor": 7}                       -> {"ok": true}
    {"op": "destroy"}                                   -> {"ok": true}
    {"op": "close"}                                     -> {"ok": true}, then exit
Errors come back as {"ok": false, "error": "..."}.

    python -m rllib_integration.traffic.host HOST PORT TM_PORT TIMEOUT

The env's side of the pipe is `traffic/host_client.py`. This module imports nothing of the package
but the (dependency-free) watchdog of its Traffic Manager, `traffic/tm_watchdog.py`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
from typing import Any

import carla

from rllib_integration.traffic.tm_watchdog import TickWatchdog


class TrafficHost:
    def __init__(self, host: str, port: int, tm_port: int, timeout: float):
        self.client = carla.Client(host, port)
        self.client.set_timeout(timeout)
        self.timeout = timeout
        self.world = self.client.get_world()
        self.tm_port = tm_port
        self.traffic_manager = self.client.get_trafficmanager(tm_port)
        self.traffic_manager.set_synchronous_mode(True)
        self.watchdog = TickWatchdog(self.world, tm_port)  # recovers a stranded TM (carla#9172)
        self.vehicles: list[int] = []
        self.walker_controllers: list[int] = []
        self.driven: set[int] = set()  # other actors on autopilot (the hero)

    def spawn(self, n: int, seed: int, hybrid: bool) -> dict[str, Any]:
        self.traffic_manager.set_hybrid_physics_mode(hybrid)
        self.traffic_manager.set_random_device_seed(seed)
        rng = random.Random(seed)
        carla_map = self.world.get_map()
        points = list(carla_map.get_spawn_points())
        rng.shuffle(points)
        blueprints = list(self.world.get_blueprint_library().filter("vehicle.*"))
        batch = []
        for transform in points[:n]:
            blueprint = rng.choice(blueprints)
            if blueprint.has_attribute("color"):
                colors = blueprint.get_attribute("color").recommended_values
                if colors:
                    blueprint.set_attribute("color", rng.choice(colors))
            blueprint.set_attribute("role_name", "autopilot")
            batch.append(
                carla.command.SpawnActor(blueprint, transform).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, self.tm_port)
                )
            )
        responses = self.client.apply_batch_sync(batch, False)
        self.vehicles = [r.actor_id for r in responses if not r.error]
        return {"ids": self.vehicles, "spawn_points": len(points)}

    def tick(self, controls: list | None = None) -> dict[str, Any]:
        """Apply the heroes' controls ([actor id, control fields] pairs) in one batch on the
        connection that ticks, so they land first; then tick."""
        if controls:
            self.client.apply_batch(
                [
                    carla.command.ApplyVehicleControl(actor, carla.VehicleControl(**fields))
                    for actor, fields in controls
                ]
            )
        return {"frame": self.watchdog.tick(self.timeout)}

    def start_walkers(self, ids: list[int]) -> dict[str, Any]:
        """Start these walkers' AI controllers here: CARLA's walker AI runs in the client that
        started it and moves the walkers only when that client ticks, and this one does."""
        self.walker_controllers = list(ids)
        for controller in self.world.get_actors(self.walker_controllers):
            controller.start()
            target = self.world.get_random_location_from_navigation()
            if target is not None:  # None on a map without sidewalks: they stand
                controller.go_to_location(target)
        return {}

    def autopilot(self, actor: int, path: list[list[float]]) -> dict[str, Any]:
        """Let the Traffic Manager drive `actor` (the hero) through the locations of `path`."""
        vehicle = self.world.get_actor(actor)
        if vehicle is None:
            raise RuntimeError(f"no actor {actor} to put on autopilot")
        vehicle.set_autopilot(True, self.tm_port)
        if path:
            self.traffic_manager.set_path(vehicle, [carla.Location(*point) for point in path])
        self.driven.add(actor)
        return {}

    def release(self, actor: int) -> dict[str, Any]:
        """Take `actor` off autopilot (before it is destroyed: the TM must not drive it then)."""
        if actor in self.driven:
            self.client.apply_batch_sync([carla.command.SetAutopilot(actor, False, self.tm_port)])
            self.driven.discard(actor)
        return {}

    def destroy(self) -> dict[str, Any]:
        for controller in self.world.get_actors(self.walker_controllers):
            controller.stop()
        self.walker_controllers = []
        if self.vehicles:
            # Unregister from the TM first: destroying a vehicle it still drives aborts the client.
            self.client.apply_batch_sync(
                [carla.command.SetAutopilot(i, False, self.tm_port) for i in self.vehicles], False
            )
            self.client.apply_batch_sync(
                [carla.command.DestroyActor(i) for i in self.vehicles], False
            )
        self.vehicles = []
        return {}

    def close(self) -> dict[str, Any]:
        for actor in list(self.driven):
            self.release(actor)
        self.destroy()
        self.watchdog.close()
        self.traffic_manager.set_synchronous_mode(False)
        self.traffic_manager.shut_down()
        return {}


def main(argv: list[str]) -> int:
    global _replies
    # Replies get the original stdout to themselves; anything the carla library prints to stdout
    # goes to stderr (the log) instead of into the protocol.
    _replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    host, port, tm_port, timeout = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    try:
        traffic = TrafficHost(host, port, tm_port, timeout)
    except RuntimeError as exc:
        _reply({"ok": False, "error": f"traffic host cannot start: {exc}"})
        return 1
    _reply({"ok": True})
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            result = getattr(traffic, op)(**request)
        except RuntimeError as exc:
            _reply({"ok": False, "error": str(exc)})
            continue
        _reply({"ok": True, **result})
        if op == "close":
            return 0
    return 0


_replies = sys.stdout


def _reply(message: dict) -> None:
    _replies.write(json.dumps(message) + "\n")
    _replies.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
