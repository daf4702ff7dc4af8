"""What the progress line, the inference summary and the metrics callback make of any
experiment's episodes: the env's own measurements, '-' for what no episode has given yet."""

from __future__ import annotations

import math

import numpy as np

from rllib_integration.training.episodes import format_row, format_summary, report_from, summary
from rllib_integration.training.metrics import numeric_leaves
from rllib_integration.training.monitor import progress_line


def result(**env_runners) -> dict:
    return {
        "training_iteration": 3,
        "num_env_steps_sampled_lifetime": 3000,
        "time_this_iter_s": 10.0,
        "time_total_s": 31.4,
        "env_runners": {"num_env_steps_sampled": 1000, **env_runners},
    }


def test_the_progress_line_reads_the_envs_metrics():
    line = progress_line(
        result(
            num_episodes_lifetime=12,
            episode_return_mean=-3.456,
            env={"distance": 199.4, "mean_speed": 5.0, "collisions": 0.25, "route_completion": 0.5},
        )
    )
    assert line == (
        "iter    3 | env steps 3,000 | episodes 12 | return -3.46 | distance 199 m | "
        "speed 18.0 km/h | collisions 0.25 | route completion 50% | 100.0 steps/s | 31 s"
    )


def test_an_iteration_without_finished_episodes_shows_one_marker():
    missing = progress_line(result())  # RLlib reports nothing before the first episode ends
    nan = progress_line(result(episode_return_mean=math.nan, env={"distance": math.nan}))
    for line in (missing, nan):
        assert "return - |" in line and "distance - m" in line and "speed - km/h" in line
        assert "nan" not in line
    assert missing.replace("episodes - |", "episodes - |") == nan.replace(
        "episodes - |", "episodes - |"
    )


def test_the_inference_summary_counts_what_the_env_measured():
    # The experiment's own info says nothing of distance or speed; the env's does.
    crash = report_from(
        1, 80, -5.0, {"env": {"distance": 199.0, "mean_speed": 5.0, "collisions": 1}}, True, False
    )
    limit = report_from(
        2, 100, 9.0, {"end_reason": "time_limit", "env": {"distance": 50.0, "mean_speed": 1.0}},
        False, True,
    )  # fmt: skip
    assert (crash.end, crash.mean_speed, crash.collisions) == ("terminated", 18.0, 1)
    assert limit.end == "time_limit" and limit.truncated and limit.route_completion is None
    stats = summary([crash, limit])
    assert stats["collision_rate"] == 0.5 and stats["truncated_rate"] == 0.5
    assert stats["mean_speed_kmh"] == 10.8 and stats["mean_distance"] == 124.5
    assert format_summary(stats) == (
        "2 episodes | mean return 2.0 | distance 124 m | mean speed 10.8 km/h | "
        "to the limit (truncated) 50% | with a collision 50% | route completion -"
    )
    assert format_row(crash).split() == ["1", "80", "-5.0", "terminated", "199.0", "18.0", "1",
                                         "0", "-"]  # fmt: skip


def test_every_finite_number_of_an_info_is_a_metric():
    info = {
        "progress": 0.5,
        "crashed": True,
        "count": np.int64(3),
        "name": "x",
        "nan": math.nan,
        "terms": {"a": 1.0, "b": {"c": np.float32(2.0)}},
        "vector": np.zeros(3),
    }
    assert dict(numeric_leaves(info)) == {
        ("progress",): 0.5,
        ("crashed",): 1.0,
        ("count",): 3.0,
        ("terms", "a"): 1.0,
        ("terms", "b", "c"): 2.0,
    }
