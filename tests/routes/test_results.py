"""The leaderboard-style results: per-route records and the global record's arithmetic."""

import pytest

from rllib_integration.routes.results import global_record, results_file, route_record
from rllib_integration.routes.score import Infraction


def _result(completion, penalty=1.0, end="completed", length=200.0, outside=0.0):
    return {
        "completion": completion,
        "penalty": penalty,
        "outside_lanes_m": outside,
        "passed_m": length * completion + outside,
        "route_length": length,
        "duration": 20.0,
        "end_reason": end,
    }


def _crash(kind="collisions_vehicle"):
    return Infraction(kind, 10, 1.5, (1.0, 2.0, 0.0), f"Agent collided ({kind})")


def test_a_route_record_has_the_leaderboards_fields_and_units():
    record = route_record(3, "7", _result(0.5, 0.6, "blocked"), [_crash()], 4.2)
    assert record["route_id"] == "RouteScenario_7" and record["index"] == 3
    assert record["status"] == "Failed - Agent got blocked"
    assert record["scores"] == {"score_route": 50.0, "score_penalty": 0.6, "score_composed": 30.0}
    assert record["infractions"]["collisions_vehicle"] == ["Agent collided (collisions_vehicle)"]
    assert record["num_infractions"] == 1
    assert record["meta"]["route_length"] == 200.0 and record["meta"]["duration_system"] == 4.2


def test_statuses_follow_the_leaderboard():
    assert route_record(0, "a", _result(1.0), [], 1.0)["status"] == "Perfect"
    assert route_record(0, "a", _result(1.0, 0.6), [_crash()], 1.0)["status"] == "Completed"
    off_lanes = route_record(0, "a", _result(0.9, outside=20.0), [], 1.0)
    assert off_lanes["status"] == "Completed" and off_lanes["num_infractions"] == 1
    assert "about 20.000 meters" in off_lanes["infractions"]["outside_route_lanes"][0]
    crashed = route_record(0, "a", _result(0.2, end=None), [], 1.0, "Simulation crashed")
    assert crashed["status"] == "Failed - Simulation crashed"
    timed_out = route_record(0, "a", _result(0.4, end="timeout"), [], 1.0)
    assert timed_out["status"] == "Failed - Agent timed out"


def test_the_global_record_averages_and_counts_per_km_driven():
    records = [
        route_record(0, "0", _result(1.0, 0.6, length=1000.0), [_crash()], 1.0),
        route_record(
            1, "1", _result(0.5, 1.0, "route_deviation", length=1000.0), [_crash("route_dev")], 2.0
        ),
    ]
    record = global_record(records)
    assert record["scores_mean"] == {
        "score_composed": pytest.approx(55.0),
        "score_route": pytest.approx(75.0),
        "score_penalty": pytest.approx(0.8),
    }
    # Sample standard deviation over the routes, as the leaderboard's.
    assert record["scores_std_dev"]["score_route"] == pytest.approx(35.355, abs=1e-3)
    # 1.5 km driven (1 km + half of 1 km): 1 vehicle collision and 1 deviation per 1.5 km.
    assert record["infractions"]["collisions_vehicle"] == pytest.approx(1 / 1.5, abs=1e-3)
    assert record["infractions"]["route_dev"] == pytest.approx(1 / 1.5, abs=1e-3)
    assert record["status"] == "Failed"
    assert record["meta"]["exceptions"] == [
        ["RouteScenario_1", 1, "Failed - Agent deviated from the route"]
    ]
    assert record["meta"]["total_length"] == 2000.0


def test_the_results_document_is_the_leaderboards_shape():
    records = [route_record(0, "0", _result(1.0), [], 1.0)]
    document = results_file(records, 2, {"agent": "autopilot"})
    assert document["_checkpoint"]["progress"] == [1, 2]
    assert document["_checkpoint"]["global_record"]["status"] == "Perfect"
    assert document["entry_status"] == "Finished" and document["eligible"] is True
    assert len(document["values"]) == len(document["labels"])
    assert document["labels"][:2] == ["Avg. driving score", "Avg. route completion"]
    assert document["values"][:2] == ["100.0", "100.0"]
    assert document["rllib_integration"] == {"agent": "autopilot"}
