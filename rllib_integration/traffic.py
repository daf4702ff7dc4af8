"""Background traffic: NPC vehicles driven by CARLA's client-side Traffic Manager, and walkers
with AI controllers. Owned by CarlaCore; spawned per server (or per episode when asked)."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import carla

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore

logger = logging.getLogger(__name__)

# Clients and Traffic Managers of dead servers, kept alive for good (see `abandon`).
_ABANDONED: list[tuple[Any, Any]] = []
_FOREVER_S = 10.0**7


class BackgroundTraffic:
    def __init__(self, core: CarlaCore):
        self.core = core
        self.traffic_manager: carla.TrafficManager | None = None
        self.vehicles: list[int] = []
        self.walkers: list[int] = []
        self.controllers: list[int] = []
        self.spawned = False

    @property
    def actor_ids(self) -> list[int]:
        return self.vehicles + self.walkers + self.controllers

    def spawn(self, background: Mapping, rng: random.Random) -> None:
        """Spawn `n_vehicles` on autopilot and `n_walkers` with AI controllers."""
        self.spawned = True
        n_vehicles, n_walkers = background["n_vehicles"], background["n_walkers"]
        if n_vehicles == 0 and n_walkers == 0:
            return
        seed = background["seed"]
        npc_rng = random.Random(seed) if seed is not None else rng
        world = self.core.world
        library = world.get_blueprint_library()
        if n_vehicles:
            self._ensure_traffic_manager(background, rng)
            self.vehicles = self._spawn_vehicles(library, n_vehicles, npc_rng)
        if n_walkers:
            self._spawn_walkers(library, n_walkers, npc_rng)
        self.core.tick_world()
        # Without a navigation mesh (embedded server) the server walks them by itself.
        has_navigation = world.get_random_location_from_navigation() is not None
        for controller in world.get_actors(self.controllers):
            controller.start()
            if has_navigation:
                controller.go_to_location(world.get_random_location_from_navigation())

    def _ensure_traffic_manager(self, background: Mapping, rng: random.Random) -> None:
        if self.traffic_manager is None:
            self.traffic_manager = self.core.client.get_trafficmanager(self.core.server.tm_port)
            self.traffic_manager.set_synchronous_mode(True)
        self.traffic_manager.set_hybrid_physics_mode(background["tm_hybrid_mode"])
        # Always seeded: by background_activity.seed, else by the env's reset seed.
        seed = background["seed"]
        self.traffic_manager.set_random_device_seed(
            seed if seed is not None else rng.randrange(2**31)
        )

    def _spawn_vehicles(self, library: Any, count: int, rng: random.Random) -> list[int]:
        points = list(self.core.map.get_spawn_points())
        rng.shuffle(points)
        if count > len(points):
            logger.warning("%d NPC vehicles asked, the map has %d spawn points", count, len(points))
        blueprints = list(library.filter("vehicle.*"))
        port = self.traffic_manager.get_port()
        batch = []
        for transform in points[:count]:
            blueprint = rng.choice(blueprints)
            if blueprint.has_attribute("color"):
                colors = blueprint.get_attribute("color").recommended_values
                if colors:
                    blueprint.set_attribute("color", rng.choice(colors))
            blueprint.set_attribute("role_name", "autopilot")
            batch.append(
                carla.command.SpawnActor(blueprint, transform).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, port)
                )
            )
        responses = self.core.client.apply_batch_sync(batch, False)
        spawned = [r.actor_id for r in responses if not r.error]
        if len(spawned) < count:
            logger.warning("spawned %d of %d NPC vehicles", len(spawned), count)
        return spawned

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
        client, world = self.core.client, self.core.world
        if self.vehicles and self.traffic_manager is not None:
            # Unregister from the client-side Traffic Manager first: destroying a vehicle it still
            # drives makes the client abort on the next tick.
            port = self.traffic_manager.get_port()
            client.apply_batch_sync(
                [carla.command.SetAutopilot(i, False, port) for i in self.vehicles], False
            )
        for controller in world.get_actors(self.controllers):
            controller.stop()
        if self.actor_ids:
            client.apply_batch_sync([carla.command.DestroyActor(i) for i in self.actor_ids], False)
        self.forget()

    def shut_down_traffic_manager(self) -> None:
        """Shut the client-side TM down while the server still answers: a TM left registered in
        this process segfaults the next load_world (of any client in the process)."""
        if self.traffic_manager is not None:
            tm, self.traffic_manager = self.traffic_manager, None
            tm.set_synchronous_mode(False)
            tm.shut_down()

    def abandon(self) -> bool:
        """Park the TM of a dead server for good, without a call that can throw; True if any.

        Its worker thread calls the server after each step, and shutting it down wakes it for
        more calls; a timeout in that thread aborts the whole process. So: make its client's
        calls wait (practically) forever, switch it to asynchronous mode (so that later world
        ticks do not wait for its steps), and keep both objects alive for the life of the
        process. The next TM must use another port.
        """
        if self.traffic_manager is None:
            return False
        _ABANDONED.append((self.core.client, self.traffic_manager))
        with contextlib.suppress(RuntimeError):
            self.core.client.set_timeout(_FOREVER_S)
            self.traffic_manager.set_synchronous_mode(False)
        self.traffic_manager = None
        return True

    def forget(self) -> None:
        """Drop the NPC ids (after destroying them, or with the server that held them)."""
        self.vehicles, self.walkers, self.controllers = [], [], []
        self.spawned = False
