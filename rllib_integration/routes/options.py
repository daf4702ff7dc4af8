"""Road options: what a route asks of the driver at each point (CARLA's values and names)."""

from __future__ import annotations

import enum

# A junction crossing whose heading changes by less than this is "straight".
STRAIGHT_TOLERANCE_DEG = 35.0


class RoadOption(enum.IntEnum):
    """The values of CARLA's ``agents.navigation.local_planner.RoadOption``."""

    VOID = -1
    LEFT = 1
    RIGHT = 2
    STRAIGHT = 3
    LANEFOLLOW = 4
    CHANGELANELEFT = 5
    CHANGELANERIGHT = 6


TURNS = (RoadOption.LEFT, RoadOption.RIGHT, RoadOption.STRAIGHT)


def heading_change(yaw_in: float, yaw_out: float) -> float:
    """Signed change of heading in degrees, in (-180, 180]; positive turns right.

    CARLA's frame is left-handed (x forward, y right, z up), so yaw grows clockwise seen from above.
    """
    delta = (yaw_out - yaw_in) % 360.0
    return delta - 360.0 if delta > 180.0 else delta


def junction_option(yaw_in: float, yaw_out: float) -> RoadOption:
    """The turn a junction crossing makes, from its entry and exit headings."""
    delta = heading_change(yaw_in, yaw_out)
    if abs(delta) < STRAIGHT_TOLERANCE_DEG:
        return RoadOption.STRAIGHT
    return RoadOption.RIGHT if delta > 0 else RoadOption.LEFT
