"""SimulatorView: the read-only window on the running simulator that the parts are given.

Sensors, the background traffic and experiments read the client, the world, its map, the hero,
the fixed timestep and the current frame through it, and nothing else: they cannot tick the
world, restart the server or reach each other through their owner (`core.CarlaCore`). Every read
is live (the core replaces its world when it loads a town or recovers from a dead server), and a
read of something that does not exist yet raises instead of returning None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import carla

T = TypeVar("T")


class _Simulator(Protocol):
    """What the view reads from (the core); attributes are None while not connected. Read-only
    here, so plain attributes and properties both fit."""

    @property
    def client(self) -> carla.Client | None: ...
    @property
    def world(self) -> carla.World | None: ...
    @property
    def map(self) -> carla.Map | None: ...
    @property
    def hero(self) -> carla.Actor | None: ...
    @property
    def frame(self) -> int: ...
    @property
    def timestep(self) -> float: ...


class SimulatorView:
    """Read-only: client, world, map, hero, timestep (s) and frame of one simulator."""

    __slots__ = ("_simulator",)

    def __init__(self, simulator: _Simulator):
        self._simulator = simulator

    @property
    def client(self) -> carla.Client:
        return _present(self._simulator.client, "client")

    @property
    def world(self) -> carla.World:
        return _present(self._simulator.world, "world")

    @property
    def map(self) -> carla.Map:
        return _present(self._simulator.map, "map")

    @property
    def blueprint_library(self) -> carla.BlueprintLibrary:
        """The world's blueprint library: fetched once per world by a core (it is one RPC that
        sends every blueprint), else asked of the world. `find` gives a copy to set up."""
        library = getattr(self._simulator, "blueprint_library", None)
        return library if library is not None else self.world.get_blueprint_library()

    @property
    def hero(self) -> carla.Actor:
        """The ego vehicle; RuntimeError between episodes (before the hero is spawned)."""
        return _present(self._simulator.hero, "hero")

    @property
    def has_hero(self) -> bool:
        return self._simulator.hero is not None

    @property
    def timestep(self) -> float:
        """Fixed simulation step in seconds (`env_config.carla.timestep`)."""
        return self._simulator.timestep

    @property
    def frame(self) -> int:
        """The frame of the last tick."""
        return self._simulator.frame


def _present(value: T | None, name: str) -> T:
    if value is None:
        raise RuntimeError(f"the simulator has no {name} now (not connected, or between episodes)")
    return value
