"""Static map of a town for the bird's-eye view: from the cache, or rasterised and cached."""

from __future__ import annotations

import os
from collections import OrderedDict

from rllib_integration.sensors.birdview.cache import CacheKey, CacheResult, load_or_build, xodr_sha1
from rllib_integration.sensors.birdview.static_map import rasterize

# carla.Map object id -> (the map, sha1 of its OpenDRIVE): hashing Town03's 2 MB per reset adds
# up; holding the map keeps its id from being reused.
_SHA1_OF_MAP: OrderedDict[int, tuple[object, str]] = OrderedDict()


def static_map_for_xodr(
    name: str, xodr: str, pixels_per_meter: float, cache_dir: str | os.PathLike | None = None
) -> CacheResult:
    """The rasterised static layers of OpenDRIVE text ``xodr`` (validated: libcarla may crash)."""

    def build():
        from rllib_integration.map_geometry import MapGeometry

        return rasterize(MapGeometry.from_xodr(name, xodr), pixels_per_meter)

    return load_or_build(CacheKey(name, xodr_sha1(xodr), float(pixels_per_meter)), build, cache_dir)


def static_map_for_carla_map(
    carla_map, pixels_per_meter: float, cache_dir: str | os.PathLike | None = None
) -> CacheResult:
    """The rasterised static layers of a ``carla.Map`` (the client's map of the world)."""
    known = _SHA1_OF_MAP.get(id(carla_map))
    if known is None or known[0] is not carla_map:
        known = (carla_map, xodr_sha1(carla_map.to_opendrive()))
        _SHA1_OF_MAP[id(carla_map)] = known
        while len(_SHA1_OF_MAP) > 4:
            _SHA1_OF_MAP.popitem(last=False)

    def build():
        from rllib_integration.map_geometry import MapGeometry

        return rasterize(MapGeometry.from_carla_map(carla_map), pixels_per_meter)

    key = CacheKey(carla_map.name, known[1], float(pixels_per_meter))
    return load_or_build(key, build, cache_dir)
