"""The scoring rules on their own: penalty factors, collision counting, progress along a route and
stop-line crossing (the parts of the tracker that need no simulator)."""

import numpy as np
import pytest

from rllib_integration.routes import PENALTIES, RoadOption, Route, driving_score
from rllib_integration.routes.collisions import CollisionCounter, collision_kind
from rllib_integration.routes.progress import RouteProgress
from rllib_integration.routes.signals import StopLine


def test_penalty_factors_are_the_leaderboards_and_multiply():
    assert PENALTIES == {
        "collisions_pedestrian": 0.50,
        "collisions_vehicle": 0.60,
        "collisions_layout": 0.65,
        "red_light": 0.70,
        "stop_infraction": 0.80,
    }
    assert driving_score(1.0, {}) == 1.0
    assert driving_score(0.5, {"collisions_vehicle": 1}) == pytest.approx(0.3)
    counts = {"collisions_pedestrian": 1, "red_light": 2, "stop_infraction": 1, "route_dev": 1}
    assert driving_score(1.0, counts) == pytest.approx(0.5 * 0.7 * 0.7 * 0.8)


@pytest.mark.parametrize(
    ("type_id", "kind"),
    [
        ("walker.pedestrian.0001", "collisions_pedestrian"),
        ("vehicle.tesla.model3", "collisions_vehicle"),
        ("static.prop.streetbarrier", "collisions_layout"),
        ("static.wall", "collisions_layout"),  # the embedded server's edge of the world
        ("traffic.traffic_light", "collisions_layout"),
        ("static.sidewalk", None),
        ("", None),
    ],
)
def test_collisions_are_classified_by_what_was_hit(type_id, kind):
    assert collision_kind(type_id) == kind


def test_a_crash_counts_once_however_many_ticks_of_contact():
    counter = CollisionCounter()
    car = {"other_actor_type": "vehicle.audi.a2", "other_actor_id": 7}
    wall = {"other_actor_type": "static.wall", "other_actor_id": 0}
    assert counter.count([car, car], 1.0, (0.0, 0.0), 5.0) == [
        ("collisions_vehicle", "vehicle.audi.a2", 7)
    ]
    assert counter.count([car], 1.05, (0.2, 0.0), 5.0) == []  # still touching
    assert counter.count([wall], 3.0, (4.0, 0.0), 5.0) == []  # within 5 m of the last crash
    assert counter.count([car], 5.5, (20.0, 0.0), 5.0) == []  # same car within 5 s
    assert counter.count([car], 7.0, (40.0, 0.0), 5.0) == [
        ("collisions_vehicle", "vehicle.audi.a2", 7)
    ]
    assert counter.count([wall], 9.0, (60.0, 0.0), 0.05) == []  # hit while standing: not at fault


def _straight_route(length: float = 100.0) -> Route:
    xs = np.arange(0.0, length + 0.5, 1.0)
    positions = np.stack((xs, np.zeros_like(xs), np.zeros_like(xs)), axis=1)
    count = len(xs)
    return Route(positions, np.zeros(count), (RoadOption.LANEFOLLOW,) * count, -np.ones(count, int))


def test_progress_earns_completion_only_on_the_route_lanes():
    progress = RouteProgress(_straight_route())
    assert progress.advance(0.5, 0.0, on_lanes=True) == 0.0
    assert progress.advance(10.4, 0.3, on_lanes=True) == pytest.approx(10.0)
    assert progress.advance(30.0, 0.0, on_lanes=True) == pytest.approx(10.0)  # 10 m a step at most
    assert progress.advance(40.5, 3.5, on_lanes=False) == pytest.approx(10.0)
    assert progress.outside == pytest.approx(10.0) and progress.credited == pytest.approx(20.0)
    assert progress.distance_to_route(40.0, 31.0) == pytest.approx(31.0)
    assert progress.advance(25.0, 0.0, on_lanes=True) == 0.0  # behind: nothing
    for x in range(45, 100, 5):
        progress.advance(x + 0.5, 0.0, on_lanes=True)
    assert not progress.finished and progress.passed == pytest.approx(95.0)
    progress.advance(99.2, 0.0, on_lanes=True)
    assert progress.finished  # past 99 % and within 10 m of the end: the rest counts too
    assert progress.completion == pytest.approx(0.9)


def test_a_stop_line_is_crossed_only_forward_and_within_its_lane():
    line = StopLine(3, np.array([10.0, 0.0]), np.array([1.0, 0.0]), half_width=1.75)
    assert line.crossed(np.array([9.5, 0.5]), np.array([10.5, 0.7]))
    assert not line.crossed(np.array([10.5, 0.5]), np.array([9.5, 0.5]))  # backwards
    assert not line.crossed(np.array([9.0, 3.0]), np.array([11.0, 3.0]))  # the next lane
    assert not line.crossed(np.array([8.0, 0.0]), np.array([9.9, 0.0]))  # short of it
    assert line.crossed(np.array([10.0 - 1e-9, 0.0]), np.array([10.0, 0.0]))  # onto it
