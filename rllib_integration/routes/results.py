"""Evaluation results in the form of the CARLA leaderboard's results file.

One record per route and a global record over all of them, with the leaderboard's key names and
units (``statistics_manager.py``): ``score_route`` and ``score_composed`` in percent,
``score_penalty`` as a factor, infractions as lists of messages per route and per kilometre
driven in the global record. Only the infractions this library measures appear (not the
leaderboard 2's scenario timeouts, minimum speed or emergency vehicles). What the leaderboard
does not have goes under ``"rllib_integration"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .score import END_REASONS, INFRACTION_KINDS, OUTSIDE_LANES, Infraction

ROUND = 3
ROUND_SCORE = 6
# The leaderboard's labels, in its order, for the kinds measured here.
LABELS = {
    "score_composed": "Avg. driving score",
    "score_route": "Avg. route completion",
    "score_penalty": "Avg. infraction penalty",
    "collisions_pedestrian": "Collisions with pedestrians",
    "collisions_vehicle": "Collisions with vehicles",
    "collisions_layout": "Collisions with layout",
    "red_light": "Red lights infractions",
    "stop_infraction": "Stop sign infractions",
    OUTSIDE_LANES: "Off-road infractions",
    "route_dev": "Route deviations",
    "route_timeout": "Route timeouts",
    "vehicle_blocked": "Agent blocked",
}


def route_record(
    index: int,
    route_id: str,
    result: Mapping[str, Any],
    infractions: Sequence[Infraction],
    duration_system: float,
    failure: str | None = None,
) -> dict[str, Any]:
    """The record of one route from its tracker's ``result()`` and ``infractions``; ``failure``
    says why a route that did not end by its own rules stopped (e.g. "Simulation crashed")."""
    messages: dict[str, list[str]] = {kind: [] for kind in INFRACTION_KINDS}
    for infraction in infractions:
        messages[infraction.kind].append(infraction.message)
    outside = float(result["outside_lanes_m"])
    if outside > 0.0:
        share = 100.0 * outside / max(float(result["passed_m"]), 1e-9)
        messages[OUTSIDE_LANES] = [
            f"Agent went outside its route lanes for about {outside:.3f} meters "
            f"({share:.2f}% of the completed route)"
        ]
    count = sum(len(m) for m in messages.values())
    end = result["end_reason"]
    if end == "completed":
        status = "Perfect" if count == 0 else "Completed"
    else:
        ending = END_REASONS.get(end or "")
        status = "Failed - " + (ending[1] if ending else failure or "Unknown")
    completion, penalty = float(result["completion"]), float(result["penalty"])
    return {
        "index": index,
        "route_id": f"RouteScenario_{route_id}",
        "status": status,
        "num_infractions": count,
        "infractions": messages,
        "scores": {
            "score_route": round(100.0 * completion, ROUND_SCORE),
            "score_penalty": round(penalty, ROUND_SCORE),
            "score_composed": round(100.0 * completion * penalty, ROUND_SCORE),
        },
        "meta": {
            "route_length": round(float(result["route_length"]), ROUND),
            "duration_game": round(float(result["duration"]), ROUND),
            "duration_system": round(duration_system, ROUND),
            "outside_route_lanes_m": round(outside, ROUND),
        },
    }


def global_record(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Means and sample standard deviations of the scores, infractions per km driven (metres
    outside the route's lanes: in km), total length and durations, the failed routes."""
    n = len(records)
    keys = ("score_composed", "score_route", "score_penalty")
    means = {k: sum(r["scores"][k] for r in records) / n if n else 0.0 for k in keys}
    spread = {
        k: math.sqrt(sum((r["scores"][k] - means[k]) ** 2 for r in records) / (n - 1))
        if n > 1
        else 0.0
        for k in keys
    }
    km = max(
        sum(
            r["meta"]["route_length"] / 1000.0 * r["scores"]["score_route"] / 100.0 for r in records
        ),
        0.001,
    )
    infractions = {
        kind: round(sum(len(r["infractions"][kind]) for r in records) / km, ROUND)
        for kind in INFRACTION_KINDS
    }
    infractions[OUTSIDE_LANES] = round(
        sum(r["meta"]["outside_route_lanes_m"] for r in records) / 1000.0, ROUND
    )
    statuses = {r["status"].split(" - ")[0] for r in records}
    status = next((s for s in ("Failed", "Completed") if s in statuses), "Perfect")
    return {
        "index": -1,
        "route_id": -1,
        "status": status,
        "infractions": infractions,
        "scores_mean": {k: round(v, ROUND_SCORE) for k, v in means.items()},
        "scores_std_dev": {k: round(v, ROUND) for k, v in spread.items()},
        "meta": {
            "total_length": round(sum(r["meta"]["route_length"] for r in records), ROUND),
            "duration_game": round(sum(r["meta"]["duration_game"] for r in records), ROUND),
            "duration_system": round(sum(r["meta"]["duration_system"] for r in records), ROUND),
            "exceptions": [
                [r["route_id"], r["index"], r["status"]]
                for r in records
                if r["status"].startswith("Failed")
            ],
        },
    }


def results_file(
    records: Sequence[Mapping[str, Any]], total_routes: int, about: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole results document; ``about`` (agent, config, route file...) is kept under
    ``"rllib_integration"``."""
    record = global_record(records)
    crashed = any("Simulation crashed" in r["status"] for r in records)
    values = {**record["scores_mean"], **record["infractions"]}
    return {
        "_checkpoint": {
            "global_record": record,
            "progress": [len(records), total_routes],
            "records": list(records),
        },
        "entry_status": "Crashed" if crashed else "Finished",
        "eligible": not crashed,
        "sensors": [],
        "values": [str(values[key]) for key in LABELS],
        "labels": list(LABELS.values()),
        "rllib_integration": dict(about),
    }
