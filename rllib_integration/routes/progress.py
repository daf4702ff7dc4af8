"""How far along its route a vehicle is, and how much of that counts toward completion.

A route point counts as passed once the vehicle is beyond it along the route's heading there (the
leaderboard's test), looking a few metres ahead of the last passed point, so a route that comes
back near itself is followed in order. The distance between passed points earns completion only
while the vehicle is on the route's lanes; the rest is counted as driven outside them.
"""

from __future__ import annotations

import numpy as np

from .route import Route

LOOKAHEAD = 10.0  # metres of route that may be passed in one update (100 m/s at 10 Hz)
BEHIND = 5.0  # metres of route behind the last passed point that still count as "near"
FINISH_FRACTION = 0.99  # the route is done past this fraction of its length ...
FINISH_DISTANCE = 10.0  # ... within this many metres of its end (the leaderboard's thresholds)


class RouteProgress:
    def __init__(self, route: Route) -> None:
        self.route = route
        self.index = 0  # last passed point
        self.credited = 0.0  # metres passed on the route's lanes
        self.outside = 0.0  # metres passed outside them
        self.finished = False
        self._xy = route.positions[:, :2]
        self._s = route.cumulative

    @property
    def completion(self) -> float:
        """Fraction of the route's length driven on its lanes, 0..1."""
        return min(1.0, self.credited / self.route.length) if self.route.length > 0 else 1.0

    @property
    def passed(self) -> float:
        """Metres of route passed, on its lanes or not."""
        return float(self._s[self.index])

    def advance(self, x: float, y: float, on_lanes: bool) -> float:
        """Move past every route point the vehicle at (x, y) is beyond; return the metres passed."""
        if self.finished:
            return 0.0
        start = self.index
        window = self._window(start + 1, self._s[start] + LOOKAHEAD)
        if len(window):
            ahead = np.einsum("ij,ij->i", (x, y) - self._xy[window], self.route.forward[window])
            beyond = window[ahead > 0.0]
            if len(beyond):
                self.index = int(beyond.max())
        end_gap = float(np.hypot(*(self._xy[-1] - (x, y))))
        if self._s[self.index] >= FINISH_FRACTION * self._s[-1] and end_gap < FINISH_DISTANCE:
            self.index = len(self._s) - 1
            self.finished = True
        gained = float(self._s[self.index] - self._s[start])
        if on_lanes:
            self.credited += gained
        else:
            self.outside += gained
        return gained

    def distance_to_route(self, x: float, y: float) -> float:
        """Distance from (x, y) to the nearest route point around the last passed one, metres."""
        first = int(np.searchsorted(self._s, self._s[self.index] - BEHIND))
        window = self._window(first, self._s[self.index] + LOOKAHEAD)
        return float(np.min(np.hypot(*(self._xy[window] - (x, y)).T)))

    def heading(self) -> np.ndarray:
        """Unit heading (2,) of the route at the last passed point."""
        return self.route.forward[self.index]

    def _window(self, first: int, until: float) -> np.ndarray:
        count = len(self._s)
        first = min(first, count - 1)
        last = min(max(int(np.searchsorted(self._s, until, side="right")), first + 1), count)
        return np.arange(first, last)
