"""Hero: one ego vehicle of a CarlaCore, with its own sensors and its own read-only view.

The core holds a list of heroes (`CarlaEnv` has one, `MultiAgentCarlaEnv` one per agent). Each
hero's sensors file their readings in the hero's own `SensorCollector`, so an agent only ever
gets its own sensors' data; each hero's `view` is the core's `SimulatorView` with `view.hero`
being this hero, so sensors and experiments built from it work unchanged for any hero.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rllib_integration.sensors.base import PseudoSensor
from rllib_integration.sensors.collector import SensorCollector
from rllib_integration.sim_view import SimulatorView

if TYPE_CHECKING:
    import carla

    from rllib_integration.routes.route import Route


@dataclass(frozen=True)
class HeroRequest:
    """A hero to spawn: its name, its `hero` settings (blueprint, spawn_points, sensors), the
    spawn point index to try first (None: random) or an exact transform (e.g. a route's start),
    the config path for messages, and its route in a route episode (its pseudo-sensors get it
    with `set_route` before their first frame)."""

    name: str
    config: Mapping[str, Any]
    spawn_point: int | None = None
    transform: carla.Transform | None = None
    label: str = "hero"
    route: Route | None = None


class HeroSimulator:
    """The core's simulator as one hero sees it: the core's client, world, map, timestep and
    frame, and this hero as `hero` (what `SimulatorView` reads)."""

    __slots__ = ("_core", "_hero")

    def __init__(self, core: Any, hero: Hero):
        self._core = core
        self._hero = hero

    @property
    def client(self) -> carla.Client | None:
        return self._core.client

    @property
    def world(self) -> carla.World | None:
        return self._core.world

    @property
    def map(self) -> carla.Map | None:
        return self._core.map

    @property
    def blueprint_library(self) -> carla.BlueprintLibrary:
        return self._core.blueprint_library

    @property
    def hero(self) -> carla.Actor | None:
        return self._hero.actor

    @property
    def frame(self) -> int:
        return self._core.frame

    @property
    def timestep(self) -> float:
        return self._core.timestep


class Hero:
    """An ego vehicle: its actor (None once removed), its sensors' collector and pseudo-sensors."""

    def __init__(self, request: HeroRequest, core: Any):
        self.request = request
        self.actor: carla.Actor | None = None
        self.collector = SensorCollector()
        self.pseudo_sensors: list[PseudoSensor] = []
        self.on_autopilot = False  # driven by the Traffic Manager: no control of its own
        self.view = SimulatorView(HeroSimulator(core, self))

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def alive(self) -> bool:
        return self.actor is not None

    def actor_ids(self) -> list[int]:
        ids = [self.actor.id] if self.actor is not None else []
        for sensor in self.collector.sensors.values():
            ids += sensor.actor_ids()
        return ids

    def destroy(self, failed: Callable[[], None] | None = None) -> None:
        """Destroy its sensors and its vehicle (the server must be answering). `failed()` runs
        after each actor whose destroy failed; if it raises, what is not destroyed yet stays
        (for `abandon`)."""
        self.collector.destroy(failed)
        self.pseudo_sensors = []
        if self.actor is not None:
            actor, self.actor = self.actor, None
            if not actor.destroy() and failed is not None:
                failed()

    def abandon(self) -> None:
        """Forget everything without a call to the (dead or hung) server."""
        for sensor in self.collector.sensors.values():
            with contextlib.suppress(RuntimeError):
                sensor.abandon()
        self.collector.destroy()
        self.pseudo_sensors = []
        self.actor = None
        self.on_autopilot = False
