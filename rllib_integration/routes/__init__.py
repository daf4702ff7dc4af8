"""Routes: planning on a map's lanes, leaderboard route files, and scoring a drive along a route.

- ``RoutePlanner``: shortest routes (``trace``/``route``), random routes and route sets, from
  ``carla.Map.get_topology()``.
- ``Route``: a planned route as plain data (points, headings, road options).
- ``read_routes`` / ``write_routes``: the leaderboard's route XML (1.0 and 2.x forms);
  ``bundled_route_files()`` lists the route sets shipped in ``routes/data/``.
- ``RouteTracker``: route completion, infractions and the Driving Score, updated once per tick.
"""

from .files import (
    Keypoint,
    RouteFileError,
    RouteSpec,
    bundled_route_files,
    read_routes,
    resolve_route_file,
    spec_of,
    write_routes,
)
from .options import RoadOption
from .planner import RoutePlanner
from .route import Route
from .score import INFRACTION_KINDS, PENALTIES, driving_score, infraction_penalty
from .tracker import RouteTracker, TrackerSettings

__all__ = [
    "INFRACTION_KINDS",
    "PENALTIES",
    "Keypoint",
    "RoadOption",
    "Route",
    "RouteFileError",
    "RoutePlanner",
    "RouteSpec",
    "RouteTracker",
    "TrackerSettings",
    "bundled_route_files",
    "driving_score",
    "infraction_penalty",
    "read_routes",
    "resolve_route_file",
    "spec_of",
    "write_routes",
]
