"""What vehicles report as they drive through trigger boxes, and the light operations."""

from __future__ import annotations

import math

import pytest

from rllib_integration.embedded.maps import builtin_xodr
from rllib_integration.embedded.signals import (
    GREEN,
    RED,
    YELLOW,
    SignKind,
    TrafficSignals,
    Vehicles,
)
from rllib_integration.embedded.signals.layout import build_layout
from rllib_integration.embedded.signals.overlap import vehicle_shape

CAR = (2.4, 1.0, 0.75)


def signals_of(town: str) -> TrafficSignals:
    signals = TrafficSignals(build_layout(town, builtin_xodr(town)))
    signals.bind([100 + k for k in range(len(signals.signs))])
    return signals


def cars(*poses: tuple[float, float, float, float]) -> Vehicles:
    """Vehicles at (x, y, z, yaw) of their box centres, ids 1, 2, ..."""
    shape = vehicle_shape((0.0, 0.0, 0.0), CAR)
    return [(k, tuple(pose), shape) for k, pose in enumerate(poses, start=1)]


def approach(box, back: float) -> tuple[float, float, float, float]:
    """A car on the box's lane, ``back`` metres before the box centre, heading along it."""
    yaw = box.rotation[1]
    x = box.center[0] - back * math.cos(math.radians(yaw))
    y = box.center[1] - back * math.sin(math.radians(yaw))
    return (x, y, box.center[2] + CAR[2], yaw)


def test_a_vehicle_in_a_light_box_reports_the_light_and_follows_it():
    signals = signals_of("Grid01")
    k = signals.layout.lights[0]
    light_id, box = signals.actor_ids[k], signals.signs[k].effect_boxes[0]
    far = cars(approach(box, 10.0))
    signals.step(0.05, 0.05, far)
    assert signals.vehicle_fields(1) == (GREEN, 0, 0)  # CARLA's default, not Off
    inside = cars(approach(box, 0.0))
    signals.step(0.05, 0.1, inside)
    state = signals.states[k]
    assert signals.vehicle_fields(1) == (state, 1, light_id)
    signals.set_state(light_id, YELLOW)
    assert signals.vehicle_fields(1) == (YELLOW, 1, light_id)
    signals.set_state(light_id, RED)
    assert signals.vehicle_fields(1) == (RED, 1, light_id)
    past = cars(approach(box, -8.0))
    signals.step(0.05, 0.15, past)
    assert signals.vehicle_fields(1) == (GREEN, 0, 0)


def test_light_operations_act_on_the_controller_and_group():
    signals = signals_of("Grid01")
    group = signals.groups[0]
    first, second = (signals.actor_ids[c.lights[0]] for c in group.controllers)
    assert signals.group_light_ids(first) == [
        signals.actor_ids[k] for c in group.controllers for k in c.lights
    ]
    assert signals.states[signals.index(first)] == GREEN
    assert signals.states[signals.index(second)] == RED
    signals.set_time(first, 0, 0.5)
    for _ in range(11):
        signals.step(0.05, 0.0, cars())
    assert signals.states[signals.index(first)] == YELLOW
    signals.freeze_all(True)
    for _ in range(200):
        signals.step(0.05, 0.0, cars())
    assert signals.states[signals.index(first)] == YELLOW
    assert signals.light_data(signals.index(first))[4] is True
    signals.freeze(first, False)  # its group only
    assert not group.frozen and signals.groups[1].frozen
    signals.reset_group(first)
    assert signals.states[signals.index(first)] == GREEN
    assert signals.light_data(signals.index(first))[:4] == (0.5, 3.0, 2.0, 0.0)
    with pytest.raises(ValueError):
        signals.set_state(first, 7)
    with pytest.raises(ValueError):
        signals.set_state(12345, RED)


def test_stop_sign_holds_red_for_two_seconds_then_gives_way_when_the_crossing_is_clear():
    signals = signals_of("Roundabout01")
    k = next(i for i, s in enumerate(signals.signs) if s.kind is SignKind.STOP)
    box, check = signals.signs[k].effect_boxes[0], signals.signs[k].check_boxes[3]
    at_stop = approach(box, 0.0)
    on_crossing = (*check.center[:2], check.center[2] + CAR[2], check.rotation[1])
    t = 0.0
    for _ in range(30):  # 1.5 s at the sign, another car on the crossing lane
        t += 0.05
        signals.step(0.05, t, cars(at_stop, on_crossing))
        assert signals.vehicle_fields(1) == (RED, 0, 0)
    for _ in range(20):  # past 2 s: still occupied
        t += 0.05
        signals.step(0.05, t, cars(at_stop, on_crossing))
    assert signals.vehicle_fields(1) == (RED, 0, 0)
    far = (on_crossing[0] + 200.0, on_crossing[1], on_crossing[2], 0.0)
    for _ in range(21):  # the crossing clears; the 1 s retry lets it go
        t += 0.05
        signals.step(0.05, t, cars(at_stop, far))
    assert signals.vehicle_fields(1) == (GREEN, 0, 0)


def test_yield_sign_gives_way_at_once_when_clear_and_waits_when_not():
    signals = signals_of("Roundabout01")
    k = next(i for i, s in enumerate(signals.signs) if s.kind is SignKind.YIELD)
    box, check = signals.signs[k].effect_boxes[0], signals.signs[k].check_boxes[2]
    signals.step(0.05, 0.05, cars(approach(box, 0.0)))
    assert signals.vehicle_fields(1) == (GREEN, 0, 0)
    on_ring = (*check.center[:2], check.center[2] + CAR[2], check.rotation[1])
    fresh = signals_of("Roundabout01")
    fresh.step(0.05, 0.05, cars(approach(box, 0.0), on_ring))
    assert fresh.vehicle_fields(1) == (RED, 0, 0)
    fresh.step(0.05, 0.6, cars(approach(box, 0.0)))
    assert fresh.vehicle_fields(1) == (GREEN, 0, 0)
