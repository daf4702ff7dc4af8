"""BackgroundTraffic: NPC vehicles driven by CARLA's Traffic Manager, and walkers with AI
controllers. Owned by CarlaCore; spawned per server (or per episode when asked).

The Traffic Manager and its vehicles live in a helper process (`TrafficHostProcess`), because a
server dying under a TM aborts the process the TM runs in. While that process exists it also
ticks the world (the core then steps through it, see `core/control_path.py`). Walkers are
spawned through the env's own client; their AI controllers are started by whichever client ticks
(CARLA's walker AI runs in the client that started it, and moves walkers as that client ticks).
Nothing here ticks the world: the core does, between `spawn` and `start_walkers`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import carla

from rllib_integration.traffic.host_client import TrafficHostProcess

if TYPE_CHECKING:
    from rllib_integration.defaults import CarlaSettings
    from rllib_integration.sim_view import SimulatorView
    from rllib_integration.supervisor.simulator import SimulatorServer

logger = logging.getLogger(__name__)


class BackgroundTraffic:
    """The NPCs of one server: spawned, kept across episodes or respawned, destroyed."""

    def __init__(self, view: SimulatorView, server: SimulatorServer, settings: CarlaSettings):
        self.view = view
        self.server = server
        self.settings = settings
        self.host: TrafficHostProcess | None = None
        self.vehicles: list[int] = []
        self.walkers: list[int] = []
        self.controllers: list[int] = []
        self.spawned = False

    @property
    def actor_ids(self) -> list[int]:
        return self.vehicles + self.walkers + self.controllers

    def spawn(self, background: Mapping, rng: random.Random) -> bool:
        """Spawn `n_vehicles` on autopilot and `n_walkers` (not walking yet); True if any.

        The walkers' controllers start in `start_walkers`, after one world tick (the core's) has
        put the new actors into the client's episode state.
        """
        self.spawned = True
        n_vehicles, n_walkers = background["n_vehicles"], background["n_walkers"]
        if n_vehicles == 0 and n_walkers == 0:
            return False
        seed = background["seed"]
        npc_rng = random.Random(seed) if seed is not None else rng
        if n_vehicles:
            if self.host is None:
                self.host = TrafficHostProcess(self.server, self.settings)
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
            self._spawn_walkers(self.view.world.get_blueprint_library(), n_walkers, npc_rng)
        return True

    def start_walkers(self) -> None:
        """Start the walkers' AI controllers (after a tick that put the walkers in the world)."""
        if self.host is not None:
            self.host.request("start_walkers", ids=self.controllers)
            return
        world = self.view.world
        # CARLA's walker AI runs in the client on the map's navigation mesh; on a map without
        # one (no sidewalks) the walkers stand, as on CarlaUE4.
        has_navigation = world.get_random_location_from_navigation() is not None
        for controller in world.get_actors(self.controllers):
            controller.start()
            if has_navigation:
                controller.go_to_location(world.get_random_location_from_navigation())

    def _spawn_walkers(self, library: Any, count: int, rng: random.Random) -> None:
        client = self.view.client
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
        """A random point on the navigation mesh, or, before the client has loaded one (it does
        on an episode's first tick) or where there is none, on a sidewalk next to a random
        spawn point."""
        location = self.view.world.get_random_location_from_navigation()
        if location is not None:
            return location
        carla_map = self.view.map
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

    def drive(self, actor: int, path: list[tuple[float, float, float]]) -> None:
        """Put `actor` (the hero) on the Traffic Manager's autopilot through `path`'s
        locations; starts the traffic process if there is none (the core then ticks through it).
        """
        if self.host is None:
            self.host = TrafficHostProcess(self.server, self.settings)
        self.host.request("autopilot", actor=actor, path=[list(p) for p in path])

    def release(self, actor: int) -> None:
        """Take `actor` off autopilot; the TM must not drive a vehicle that is destroyed."""
        if self.host is not None:
            self.host.request("release", actor=actor)

    def destroy(self) -> None:
        """Destroy every NPC (the server must be answering)."""
        if self.host is not None:
            self.host.request("destroy")  # its vehicles, and the walker AIs it started
        else:
            for controller in self.view.world.get_actors(self.controllers):
                controller.stop()
        ids = self.walkers + self.controllers
        if ids:
            self.view.client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
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
