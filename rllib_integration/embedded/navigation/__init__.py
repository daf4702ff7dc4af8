"""Pedestrian navigation for the embedded server.

CARLA 0.9.16 walks its AI pedestrians on the client: ``controller.ai.walker`` runs Recast/Detour's
crowd inside libcarla on a navigation mesh the client downloads from the server, then sends the
walkers' poses back every tick (``ApplyWalkerState``). This package builds that mesh from a map's
OpenDRIVE: sidewalks, crosswalks and roads as convex polygons (``surfaces``, ``polymesh``) written
in the Detour tile format CARLA's loader reads (``detour``), cached per map (``cache``, ``mesh``).

    future = navigation.prepare(name, xodr, ground.height)   # starts at map load
    mesh = future.result()          # NavigationMesh(file_name, data), or None (no sidewalks)
"""

from rllib_integration.embedded.navigation.mesh import (
    NAV_FOLDER,
    NavigationError,
    NavigationMesh,
    build_navmesh_bytes,
    navigation_mesh,
    prepare,
)

__all__ = [
    "NAV_FOLDER",
    "NavigationError",
    "NavigationMesh",
    "build_navmesh_bytes",
    "navigation_mesh",
    "prepare",
]
