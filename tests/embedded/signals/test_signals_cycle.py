"""Group cycles tick for tick as CARLA 0.9.16 runs them (float32 time, strict comparison)."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_integration.embedded.signals.cycle import GREEN, RED, YELLOW, Group
from rllib_integration.embedded.signals.layout import ControllerSpec, GroupSpec


def three_phase_group() -> tuple[Group, list[int]]:
    spec = GroupSpec(7, [ControllerSpec(str(c), [2 * c, 2 * c + 1]) for c in range(3)])
    states = [-1] * 6
    group = Group(spec)
    group.reset(states)
    return group, states


def run_lengths(group: Group, states: list[int], dt: float, ticks: int) -> list[tuple]:
    """(phase-0 state, ticks it lasted) for consecutive runs."""
    runs, dt32 = [], np.float32(dt)
    for _ in range(ticks):
        group.tick(dt32, states)
        if runs and runs[-1][0] == states[0]:
            runs[-1][1] += 1
        else:
            runs.append([states[0], 1])
    return [tuple(r) for r in runs]


@pytest.mark.parametrize(
    ("dt", "green", "yellow", "red"), [(0.05, 200, 61, 41), (0.1, 100, 31, 20)]
)
def test_stage_lengths_are_quantised_like_carla(dt, green, yellow, red):
    group, states = three_phase_group()
    assert states == [GREEN, GREEN, RED, RED, RED, RED]  # phase 0 starts green at reset
    runs = run_lengths(group, states, dt, 3 * (green + yellow + red) + 5)
    # the reset frame counts as the first green tick
    assert runs[0] == (GREEN, green - 1) and runs[1] == (YELLOW, yellow) and runs[2][0] == RED
    # red for phase 0 = its own red + the other two phases' whole cycles
    assert runs[2][1] == red + 2 * (green + yellow + red)


def test_only_the_active_phase_accumulates_and_waiting_phases_sit_red():
    group, states = three_phase_group()
    dt = np.float32(0.05)
    for _ in range(200 + 61 + 41):  # phase 0 runs its whole cycle
        group.tick(dt, states)
    assert group.current == 1 and states[2:4] == [GREEN, GREEN]
    assert states[0] == states[4] == RED
    assert group.controllers[0].elapsed == 0.0 and group.controllers[2].elapsed == 0.0
    group.tick(dt, states)
    assert group.controllers[1].elapsed == pytest.approx(0.05)


def test_frozen_group_stands_still_and_reset_restarts_phase_zero():
    group, states = three_phase_group()
    dt = np.float32(0.05)
    for _ in range(50):
        group.tick(dt, states)
    group.frozen = True
    for _ in range(1000):
        group.tick(dt, states)
    assert states[0] == GREEN and group.controllers[0].elapsed == pytest.approx(2.5, abs=1e-4)
    group.frozen = False
    for _ in range(300):
        group.tick(dt, states)
    assert group.current == 1
    group.reset(states)
    assert group.current == 0 and states == [GREEN, GREEN, RED, RED, RED, RED]
    assert group.controllers[0].elapsed == 0.0


def test_a_raised_time_applies_to_the_running_stage():
    group, states = three_phase_group()
    dt = np.float32(0.05)
    for _ in range(150):
        group.tick(dt, states)
    group.controllers[0].times[0] = np.float32(20.0)
    for _ in range(200):
        group.tick(dt, states)
    assert states[0] == GREEN  # 17.5 s of green so far
    for _ in range(60):
        group.tick(dt, states)
    assert states[0] == YELLOW
