"""Traffic-light group cycles as CARLA 0.9.16 runs them (reference/carla_traffic_signals.md §3).

A group (one junction) lets its controllers (phases) take turns: the active one runs green,
yellow, red; at the end of its red the next one turns green. Waiting controllers sit in red with
no elapsed time. Time accumulates in float32 and a stage ends when its time is strictly exceeded
(the overshoot is dropped), so stage lengths are quantised to ticks exactly as in CARLA: at 20 Hz
green 10 s lasts 200 ticks, yellow 3 s 61 and red 2 s 41.
"""

from __future__ import annotations

import numpy as np

from .layout import ControllerSpec, GroupSpec

RED, YELLOW, GREEN, OFF, UNKNOWN = 0, 1, 2, 3, 4  # carla.TrafficLightState
STAGE_STATES = (GREEN, YELLOW, RED)
LAST_STAGE = len(STAGE_STATES) - 1


class Controller:
    """One phase: its lights, stage times (green, yellow, red) and where it is in them."""

    def __init__(self, spec: ControllerSpec) -> None:
        self.lights = list(spec.lights)
        self.times = [np.float32(t) for t in spec.times]
        self.stage = LAST_STAGE
        self.elapsed = np.float32(0.0)

    def enter(self, stage: int, states: list[int]) -> None:
        """Start ``stage``; every light of the phase shows it (overriding any set_state)."""
        self.stage = stage
        self.elapsed = np.float32(0.0)
        for light in self.lights:
            states[light] = STAGE_STATES[stage]


class Group:
    """The controllers of one junction, in turn order, and whether the cycle is frozen."""

    def __init__(self, spec: GroupSpec) -> None:
        self.junction_id = spec.junction_id
        self.controllers = [Controller(c) for c in spec.controllers]
        self.current = 0
        self.frozen = False

    def reset(self, states: list[int]) -> None:
        """Every phase red, then the first one green from zero (``frozen`` is kept)."""
        for controller in self.controllers:
            controller.enter(LAST_STAGE, states)
        self.current = 0
        if self.controllers:
            self.controllers[0].enter(0, states)

    def tick(self, dt: np.float32, states: list[int]) -> None:
        if self.frozen or not self.controllers:
            return
        active = self.controllers[self.current]
        active.elapsed = np.float32(active.elapsed + dt)
        if active.elapsed > active.times[active.stage]:
            if active.stage == LAST_STAGE:  # it stays red, with no elapsed time, until its turn
                active.elapsed = np.float32(0.0)
                self.current = (self.current + 1) % len(self.controllers)
                self.controllers[self.current].enter(0, states)
            else:
                active.enter(active.stage + 1, states)
