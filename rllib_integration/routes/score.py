"""The CARLA leaderboard's scoring: infraction kinds, penalty factors and the Driving Score.

Driving Score = Route Completion x Infraction Penalty, where the penalty starts at 1.0 and is
multiplied by a factor per infraction (the leaderboard's ``statistics_manager.py`` values).
Infraction kinds use the leaderboard's names, so results compare key for key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

PENALTIES: dict[str, float] = {
    "collisions_pedestrian": 0.50,
    "collisions_vehicle": 0.60,
    "collisions_layout": 0.65,  # static objects and the map itself
    "red_light": 0.70,
    "stop_infraction": 0.80,
}
# Infractions without a factor: driving outside the route's lanes (metres; that stretch earns no
# completion), and the three that end a route.
OUTSIDE_LANES = "outside_route_lanes"
ROUTE_DEVIATION = "route_dev"
BLOCKED = "vehicle_blocked"
TIMEOUT = "route_timeout"
INFRACTION_KINDS: tuple[str, ...] = (*PENALTIES, OUTSIDE_LANES, ROUTE_DEVIATION, BLOCKED, TIMEOUT)

# Why a route ended (``None`` while it runs): its infraction kind and the leaderboard's
# message for it, and what the leaderboard's status says then.
COMPLETED = "completed"
END_REASONS: dict[str, tuple[str, str] | None] = {
    COMPLETED: None,
    "route_deviation": (ROUTE_DEVIATION, "Agent deviated from the route"),
    "blocked": (BLOCKED, "Agent got blocked"),
    "timeout": (TIMEOUT, "Agent timed out"),
}


@dataclass(frozen=True)
class Infraction:
    kind: str  # one of INFRACTION_KINDS
    frame: int
    time: float  # simulation seconds since the route started
    location: tuple[float, float, float]
    message: str


def infraction_penalty(counts: Mapping[str, int]) -> float:
    """Product of the penalty factors, one per counted infraction (1.0 with none)."""
    return math.prod(factor ** counts.get(kind, 0) for kind, factor in PENALTIES.items())


def driving_score(completion: float, counts: Mapping[str, int]) -> float:
    """``completion`` (0..1) times the infraction penalty: 0..1."""
    return completion * infraction_penalty(counts)
