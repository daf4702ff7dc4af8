"""Collisions of the hero as leaderboard infractions: classified by what was hit, one per crash.

A collision sensor reports every tick of contact; a crash counts once. As in the leaderboard, a
new event is the same crash when it involves the same actor within ``SAME_CRASH_TIME`` seconds
or happens within ``SAME_CRASH_DISTANCE`` metres of the last counted one, and a hero that was
not moving (``AT_FAULT_SPEED``) is not at fault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

SAME_CRASH_TIME = 5.0  # s
SAME_CRASH_DISTANCE = 5.0  # m
AT_FAULT_SPEED = 0.1  # m/s

PEDESTRIAN, VEHICLE, LAYOUT = "collisions_pedestrian", "collisions_vehicle", "collisions_layout"


def collision_kind(type_id: str) -> str | None:
    """The infraction kind of hitting an actor of this blueprint id; None for what does not count
    (e.g. the ground, or a sidewalk's kerb)."""
    if ("static" in type_id or "traffic" in type_id) and "sidewalk" not in type_id:
        return LAYOUT
    if "vehicle" in type_id:
        return VEHICLE
    if "walker" in type_id:
        return PEDESTRIAN
    return None


def other_actor(event: Any) -> tuple[str, int]:
    """(type_id, id) of what a collision event hit: the library's parsed collision dict
    (``other_actor_type``/``other_actor_id``) or a raw ``carla.CollisionEvent``."""
    if isinstance(event, Mapping):
        return str(event.get("other_actor_type", "")), int(event.get("other_actor_id", 0))
    other = event.other_actor
    return (other.type_id, other.id) if other is not None else ("", 0)


class CollisionCounter:
    def __init__(self) -> None:
        self._last_id: int | None = None
        self._last_time = -math.inf
        self._last_place: tuple[float, float] | None = None

    def count(
        self, events: Iterable[Any], time: float, place: tuple[float, float], speed: float
    ) -> list[tuple[str, str, int]]:
        """The new crashes among this tick's collision ``events``: (kind, type_id, actor id).

        ``time`` is the simulation time, ``place`` the hero's (x, y) and ``speed`` its speed
        just before the contact, m/s.
        """
        if (
            self._last_place is not None
            and math.dist(place, self._last_place) > SAME_CRASH_DISTANCE
        ):
            self._last_place = None
        crashes = []
        for event in events:
            type_id, actor_id = other_actor(event)
            kind = collision_kind(type_id)
            same_actor = actor_id == self._last_id and time - self._last_time <= SAME_CRASH_TIME
            if kind is None or same_actor or self._last_place is not None or speed < AT_FAULT_SPEED:
                continue
            crashes.append((kind, type_id, actor_id))
            self._last_id = actor_id if actor_id != 0 else None  # 0: the map itself
            self._last_time = time
            self._last_place = place
        return crashes
