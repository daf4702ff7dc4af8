"""The static objects of a map's scene, for `world.get_environment_objects` and `get_level_bbs`.

CarlaUE4 answers both from the level's meshes. The embedded server's scene is its road network,
so its objects are: one per road for the carriageway and its shoulders (CityObjectLabel Roads),
one per road side for the sidewalk (Sidewalks), one per crosswalk of the OpenDRIVE (RoadLines, as
CARLA's semantic segmentation tags crosswalk paint). Boxes are world-aligned; ids are stable for
a map (the same OpenDRIVE gives the same ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rllib_integration.embedded.world import World, compose
from rllib_integration.map_geometry import LaneStrip, xodr_sha1

ROADS, SIDEWALKS, ROAD_LINES, ANY = 1, 2, 24, 255  # carla.CityObjectLabel
ROAD_HALF_HEIGHT = 0.05  # a road is a thin slab
SIDEWALK_HALF_HEIGHT = 0.075  # kerb height 15 cm
_ROAD_KINDS = ("driving", "shoulder", "parking", "other")
_MAX_CACHED_MAPS = 4


@dataclass(frozen=True)
class SceneObject:
    id: int
    name: str
    label: int  # carla.CityObjectLabel
    center: tuple[float, float, float]
    extent: tuple[float, float, float]  # half sizes


@dataclass(frozen=True)
class LevelBox:
    """A box of `world.get_level_bbs()`: world position, half sizes, rotation, actor id (or 0)."""

    center: tuple[float, float, float]
    extent: tuple[float, float, float]
    rotation: tuple[float, float, float]  # pitch, yaw, roll (degrees)
    actor_id: int = 0


def matches(label: int, tag: int) -> bool:
    """CARLA's filter: tag Any (255) matches every label."""
    return int(tag) == ANY or int(tag) == label


_cache: dict[str, tuple[SceneObject, ...]] = {}


def environment_objects(world: World, tag: int = ANY) -> list[SceneObject]:
    """The static objects of the world's map with the label `tag` (Any: all)."""
    m = world.map
    return [o for o in scene_objects(m.name, m.xodr, m.ground.lanes) if matches(o.label, tag)]


def level_boxes(world: World, tag: int = ANY) -> list[LevelBox]:
    """As CarlaUE4's level query: the scene's static objects and every actor with a semantic tag
    (vehicles, walkers, props, traffic lights and signs), filtered by `tag`."""
    boxes = [LevelBox(o.center, o.extent, (0.0, 0.0, 0.0)) for o in environment_objects(world, tag)]
    for actor in world.actors.values():
        if actor.semantic_tag and matches(actor.semantic_tag, tag):
            pose = actor.pose()
            center = compose(pose, (*actor.blueprint.box_center, 0.0, 0.0, 0.0))[:3]
            boxes.append(LevelBox(center, actor.blueprint.extent, pose[3:], actor.id))
    return boxes


def scene_objects(name: str, xodr: str, lanes: Sequence[LaneStrip]) -> tuple[SceneObject, ...]:
    """The map's static objects (built once per OpenDRIVE text; the last few are kept)."""
    sha1 = xodr_sha1(xodr)
    objects = _cache.get(sha1)
    if objects is None:
        objects = tuple(_road_objects(sha1, lanes)) + tuple(_crosswalks(sha1, name, xodr))
        if len(_cache) >= _MAX_CACHED_MAPS:
            _cache.pop(next(iter(_cache)))
        _cache[sha1] = objects
    return objects


def _object_id(sha1: str, name: str) -> int:
    """A stable uint64 below 2**63 (some bindings read the id as signed)."""
    digest = hashlib.sha1(f"{sha1}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _box(points: np.ndarray, half_height: float) -> tuple[tuple, tuple]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    center = (lo + hi) / 2.0
    extent = np.maximum((hi - lo) / 2.0, 0.0)
    return (
        (float(center[0]), float(center[1]), float(center[2]) + half_height),
        (float(extent[0]), float(extent[1]), float(extent[2]) + half_height),
    )


def _road_objects(sha1: str, lanes: Iterable[LaneStrip]) -> list[SceneObject]:
    groups: dict[tuple[str, int, int], list[np.ndarray]] = {}
    for lane in lanes:
        if lane.kind == "sidewalk":
            key = ("Sidewalk", lane.road_id, 1 if lane.lane_id > 0 else -1)
        elif lane.kind in _ROAD_KINDS:
            key = ("Road", lane.road_id, 0)
        else:
            continue
        groups.setdefault(key, []).append(np.column_stack([lane.polygon, lane.z]))
    objects = []
    for (kind, road_id, side), parts in sorted(groups.items()):
        suffix = {1: "_left", -1: "_right", 0: ""}[side]
        name = f"{kind}_{road_id}{suffix}"
        label = SIDEWALKS if kind == "Sidewalk" else ROADS
        half = SIDEWALK_HALF_HEIGHT if kind == "Sidewalk" else ROAD_HALF_HEIGHT
        center, extent = _box(np.concatenate(parts), half)
        objects.append(SceneObject(_object_id(sha1, name), name, label, center, extent))
    return objects


def _crosswalks(sha1: str, name: str, xodr: str) -> list[SceneObject]:
    """Crosswalk outlines as the client's `Map.get_crosswalks()` computes them from the
    OpenDRIVE `<object type="crosswalk">`s (closed loops of points)."""
    if "crosswalk" not in xodr:
        return []
    import carla  # validated OpenDRIVE only (the map was checked before it was served)

    points = [(p.x, p.y, p.z) for p in carla.Map(name, xodr).get_crosswalks()]
    objects = []
    for index, loop in enumerate(_loops(points)):
        label_name = f"Crosswalk_{index}"
        center, extent = _box(np.asarray(loop), ROAD_HALF_HEIGHT)
        objects.append(
            SceneObject(_object_id(sha1, label_name), label_name, ROAD_LINES, center, extent)
        )
    return objects


def _loops(points: list[tuple[float, float, float]]) -> list[list[tuple[float, float, float]]]:
    """Split CARLA's flat crosswalk list: each outline ends by repeating its first point."""
    loops, current = [], []
    for point in points:
        current.append(point)
        if len(current) > 2 and np.allclose(point, current[0], atol=1e-3):
            loops.append(current)
            current = []
    return loops
