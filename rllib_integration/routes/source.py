"""Where the routes of training episodes come from: `env_config.experiment.routes`.

    routes: {source: random, min_length: 200, max_length: 600}   # a random route, episode's town
    routes: {source: grid01_train}                                # a route of this file

`CarlaEnv` draws one at every reset that gives no route of its own, so RLlib's env runners
(which reset without options) train on routes. A drawn route is chosen first (its town: the
file route's own, or the episode's for random routes), then planned on that town's map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .files import RouteSpec, read_routes, resolve_route_file

if TYPE_CHECKING:
    import carla

    from .planner import RoutePlanner
    from .route import Route

RANDOM = "random"


@dataclass(frozen=True)
class RouteChoice:
    """A route to plan: a route file's entry, or (spec None) a random route of `length` m."""

    town: str | None  # None: the episode's town
    spec: RouteSpec | None = None
    length: float = 0.0


class RouteSource:
    def __init__(self, source: str, min_length: float, max_length: float) -> None:
        if not 0 < min_length <= max_length:
            raise ValueError(f"need 0 < min_length <= max_length, got {min_length}, {max_length}")
        self.source = source
        self.min_length, self.max_length = float(min_length), float(max_length)
        self.specs: list[RouteSpec] = []
        if source != RANDOM:
            self.specs = read_routes(resolve_route_file(source))
            if not self.specs:
                raise ValueError(f"route file {source!r} holds no routes")
        self._planners: dict[str, RoutePlanner] = {}

    @classmethod
    def from_config(cls, routes: dict[str, Any]) -> RouteSource | None:
        """The source of `experiment.routes`, or None for ordinary episodes."""
        if routes.get("source") is None:
            return None
        return cls(str(routes["source"]), routes["min_length"], routes["max_length"])

    @property
    def towns(self) -> list[str]:
        """The towns of a route file's routes (none for random routes)."""
        return sorted({spec.town for spec in self.specs if spec.town})

    def choose(self, rng: np.random.Generator) -> RouteChoice:
        if self.source == RANDOM:
            return RouteChoice(None, length=float(rng.uniform(self.min_length, self.max_length)))
        spec = self.specs[int(rng.integers(len(self.specs)))]
        return RouteChoice(spec.town or None, spec)

    def plan(self, choice: RouteChoice, carla_map: carla.Map, rng: np.random.Generator) -> Route:
        """The chosen route on `carla_map` (the town it asked for)."""
        planner = self._planner(carla_map)
        if choice.spec is not None:
            return planner.plan(choice.spec)
        return planner.random_route(choice.length, rng, route_id="random")

    def _planner(self, carla_map: carla.Map) -> RoutePlanner:
        from .planner import RoutePlanner  # networkx only where routes are planned

        name = carla_map.name
        if name not in self._planners:
            self._planners[name] = RoutePlanner(carla_map)
        return self._planners[name]


def absolute_source(source: str, folder: Path | None) -> str:
    """A route file path relative to the config file's `folder` made absolute; `random` and the
    names of shipped route sets as they are."""
    if source == RANDOM or folder is None or Path(source).is_absolute():
        return source
    beside = folder / source
    return str(beside) if beside.exists() else source
