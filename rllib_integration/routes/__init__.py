"""Routes: planning on a map's lanes, leaderboard route files, and scoring a drive along a route.

- ``RoutePlanner``: shortest routes (``trace``/``route``), random routes and route sets, from
  ``carla.Map.get_topology()``.
- ``Route``: a planned route as plain data (points, headings, road options).
- ``read_routes`` / ``write_routes``: the leaderboard's route XML (1.0 and 2.x forms);
  ``bundled_route_files()`` lists the route sets shipped in ``routes/data/``.
- ``RouteTracker``: route completion, infractions and the Driving Score, updated once per tick.

Names load on first use, so importing one module (the env imports the tracker) does not pull in
the planner's networkx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Keypoint": "files",
    "RouteFileError": "files",
    "RouteSpec": "files",
    "bundled_route_files": "files",
    "read_routes": "files",
    "resolve_route_file": "files",
    "spec_of": "files",
    "write_routes": "files",
    "RoadOption": "options",
    "RoutePlanner": "planner",
    "Route": "route",
    "INFRACTION_KINDS": "score",
    "PENALTIES": "score",
    "driving_score": "score",
    "infraction_penalty": "score",
    "RouteTracker": "tracker",
    "TrackerSettings": "tracker",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
