"""Route completion, infractions and the Driving Score, scored by driving a hero through the real
client on the embedded server (Grid01)."""

import pytest

from tests.routes.helpers import run_routes

# Right at (-50, -150), straight across (-50, -50), left at (-50, 50): 271 m.
THREE_JUNCTIONS = (
    "planner.route([L(-100.0, -148.25, 0.0), L(-51.75, 0.0, 0.0), L(-20.0, 51.75, 0.0)])"
)
# 150 m east along the south street, straight across one junction.
STRAIGHT = "planner.route([L(-120.0, -148.25, 0.0), L(30.0, -148.25, 0.0)])"


def test_driving_the_route_completes_it_with_a_perfect_score(grid01):
    body = f"""
    route = {THREE_JUNCTIONS}
    hold_lights(carla.TrafficLightState.Green)
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)
    ticks = run(tracker, hero, events, lambda t: follow(hero, route, tracker.progress.index, 8.0))
    result(route=tracker.result(), ticks=ticks, decisions=[d.name for d in route.decisions()])
    """
    r = run_routes(grid01, body)
    route = r["route"]
    assert r["decisions"] == ["RIGHT", "STRAIGHT", "LEFT"]
    assert route["end_reason"] == "completed"
    assert route["completion"] == pytest.approx(1.0, abs=1e-6)
    assert route["driving_score"] == 1.0 and route["penalty"] == 1.0
    assert not any(route["infractions"].values()), route["infractions"]
    assert route["outside_lanes_m"] == 0.0
    assert route["passed_m"] == pytest.approx(route["route_length"])
    # 271 m at 8 m/s with a standing start: about 35 s of simulated time.
    assert 33.0 < route["duration"] < 45.0
    assert route["town"] == "Grid01"


@pytest.mark.parametrize(
    ("blueprint", "kind", "factor"),
    [
        ("vehicle.tesla.model3", "collisions_vehicle", 0.60),
        ("static.prop.streetbarrier", "collisions_layout", 0.65),
        ("walker.pedestrian.0001", "collisions_pedestrian", 0.50),
    ],
)
def test_a_crash_counts_once_with_its_penalty(grid01, blueprint, kind, factor):
    body = f"""
    route = {STRAIGHT}
    hero, events = spawn_hero(route)
    x, y, z = route.positions[60]  # 60 m ahead, on the route
    lift = 1.0 if {blueprint!r}.startswith("walker") else 0.3
    obstacle = world.spawn_actor(library.find({blueprint!r}),
                                 carla.Transform(L(x, y, z + lift), carla.Rotation(yaw=float(route.yaws[60]))))
    actors.append(obstacle)
    if obstacle.type_id.startswith("vehicle"):
        obstacle.apply_control(carla.VehicleControl(hand_brake=True))
    tracker = RouteTracker(route, world, hero, carla_map, TrackerSettings(blocked_time=5.0))
    run(tracker, hero, events, lambda t: follow(hero, route, tracker.progress.index, 8.0))
    result(route=tracker.result(), messages=[i.message for i in tracker.infractions])
    """
    r = run_routes(grid01, body)
    route = r["route"]
    # It keeps pushing against the obstacle until blocked: one crash, not one per tick of contact.
    assert route["infractions"][kind] == 1, r["messages"]
    assert route["end_reason"] == "blocked" and route["infractions"]["vehicle_blocked"] == 1
    assert route["penalty"] == pytest.approx(factor)
    assert route["driving_score"] == pytest.approx(route["completion"] * factor)
    assert 0.3 < route["completion"] < 0.4  # stopped ~2.5 m short of 60 m of 150 m
    assert any(blueprint in m for m in r["messages"])


def test_leaving_the_route_by_30_m_ends_it(grid01):
    body = f"""
    route = {THREE_JUNCTIONS}
    wrong = Route.from_trace(planner.trace(L(-100.0, -148.25, 0.0), L(100.0, -148.25, 0.0)))
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)
    # Straight on at the first junction, where the route turns right.
    ticks = run(tracker, hero, events, lambda t: follow(hero, wrong, nearest_index(wrong, hero), 8.0))
    where = hero.get_location()
    gap = min(math.hypot(where.x - x, where.y - y) for x, y, _ in route.positions)
    result(route=tracker.result(), gap=gap)
    """
    r = run_routes(grid01, body)
    route = r["route"]
    assert route["end_reason"] == "route_deviation" and route["infractions"]["route_dev"] == 1
    assert 30.0 < r["gap"] < 31.5  # ended the first tick it was more than 30 m away
    assert 0.1 < route["completion"] < 0.25  # ~40 m of the 271 m route, to the junction


def test_standing_still_ends_the_route_as_blocked(grid01):
    body = f"""
    route = {THREE_JUNCTIONS}
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)  # the leaderboard's 180 s
    ticks = run(tracker, hero, events, lambda t: None, max_ticks=5000)
    result(route=tracker.result(), ticks=ticks)
    """
    r = run_routes(grid01, body)
    route = r["route"]
    assert route["end_reason"] == "blocked" and route["infractions"]["vehicle_blocked"] == 1
    assert route["duration"] == pytest.approx(180.0, abs=0.1)
    assert route["completion"] < 0.01 and route["driving_score"] < 0.01


def test_crawling_runs_into_the_timeout(grid01):
    body = f"""
    route = {THREE_JUNCTIONS}
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map, TrackerSettings(timeout=20.0))
    run(tracker, hero, events, lambda t: follow(hero, route, tracker.progress.index, 2.0))
    result(route=tracker.result())
    """
    route = run_routes(grid01, body)["route"]
    assert route["end_reason"] == "timeout" and route["infractions"]["route_timeout"] == 1
    assert route["duration"] == pytest.approx(20.0, abs=0.1)
    assert 0.1 < route["completion"] < 0.2  # ~2 m/s for 20 s, of 271 m


def test_driving_against_the_traffic_earns_no_completion(grid01):
    body = f"""
    route = {STRAIGHT}
    hold_lights(carla.TrafficLightState.Green)
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)
    def control(t):
        i = tracker.progress.index
        # From 85 m to 135 m (past the junction at 60-80 m), in the opposite lane, 3.5 m left.
        shift = 3.5 if 85.0 <= route.cumulative[i] <= 135.0 else 0.0
        return follow(hero, route, i, 8.0, left=shift)
    run(tracker, hero, events, control)
    result(route=tracker.result())
    """
    route = run_routes(grid01, body)["route"]
    assert route["end_reason"] == "completed"
    # The stretch in the other lane (50 m, give or take the moves across) earns nothing.
    assert 40.0 < route["outside_lanes_m"] < 60.0
    assert route["completion"] == pytest.approx(1.0 - route["outside_lanes_m"] / 150.0, abs=0.01)
    assert route["infractions"]["outside_route_lanes"] == 1
    assert route["penalty"] == 1.0 and route["driving_score"] == route["completion"]


def test_running_red_lights_counts_each_with_its_penalty(grid01):
    body = f"""
    route = {THREE_JUNCTIONS}
    hold_lights(carla.TrafficLightState.Red)
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)
    run(tracker, hero, events, lambda t: follow(hero, route, tracker.progress.index, 8.0))
    result(route=tracker.result(), messages=[i.message for i in tracker.infractions])
    """
    r = run_routes(grid01, body)
    route = r["route"]
    # Grid01's lights: through three junctions against red, one infraction each
    assert route["end_reason"] == "completed"
    assert route["infractions"]["red_light"] == 3, r["messages"]
    assert route["penalty"] == pytest.approx(0.7**3)


@pytest.mark.parametrize("stops", [False, True])
def test_driving_through_a_stop_sign_counts_unless_the_hero_stops(roundabout01, stops):
    # Roundabout01's first stop sign: a route through its trigger box in the lane it controls,
    # from 40 m before it to 30 m beyond.
    body = """
    sign = sorted(world.get_actors().filter("traffic.stop"), key=lambda s: s.id)[0]
    centre = sign.get_transform().transform(sign.trigger_volume.location)
    lane = carla_map.get_waypoint(centre)
    route = planner.route([lane.previous(40.0)[0].transform.location,
                           lane.next(30.0)[0].transform.location])
    here = ((route.positions[:, :2] - (centre.x, centre.y)) ** 2).sum(axis=1)
    sign_at = route.cumulative[int(np.argmin(here))]
    hero, events = spawn_hero(route)
    tracker = RouteTracker(route, world, hero, carla_map)
    state = {"stopped": 0}
    def control(t):
        i = tracker.progress.index
        ahead = sign_at - route.cumulative[i]
        if stops and state["stopped"] < 10 and ahead < 20.0:
            # Slow down to the sign, then stand in its box for 10 ticks.
            if ahead > 0.5:
                target = max(1.0, 0.4 * ahead)
                c = follow(hero, route, i, target)
                excess = hero.get_velocity().length() - target
                if excess > 0.0:
                    c.throttle, c.brake = 0.0, min(1.0, 0.5 * excess)
                return c
            state["stopped"] += hero.get_velocity().length() < 0.05
            w = hero.get_location()
            state["at"] = math.hypot(w.x - centre.x, w.y - centre.y)
            return carla.VehicleControl(brake=1.0)
        return follow(hero, route, i, 8.0)
    run(tracker, hero, events, control)
    result(route=tracker.result(), stopped=state["stopped"], at=state.get("at"),
           messages=[i.message for i in tracker.infractions])
    """
    r = run_routes(roundabout01, body, {"stops": stops})
    route = r["route"]
    assert route["end_reason"] == "completed"
    if stops:
        assert r["stopped"] == 10 and r["at"] < 1.5  # stood in the sign's box
        assert route["infractions"]["stop_infraction"] == 0, (r["messages"], r["at"])
        assert route["driving_score"] == pytest.approx(route["completion"])
    else:
        assert route["infractions"]["stop_infraction"] == 1, r["messages"]
        assert route["penalty"] == pytest.approx(0.80)
