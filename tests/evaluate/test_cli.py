"""`python -m rllib_integration.evaluate` end to end on the embedded server: every route once, a
row each and the means, the results as JSON in the leaderboard's form."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import cv2
import pytest

from rllib_integration.routes import (
    Keypoint,
    RouteSpec,
    read_routes,
    resolve_route_file,
    write_routes,
)
from tests.conftest import run_command, run_module
from tests.evaluate.agents import SAVE_ADAPTED_MODULE, SAVE_MODULE, SAVE_ROUTE_DQN_MODULE

# DriveStraight would end its episodes after 10 steps: evaluation runs every route to its end.
CONFIG = """
env_config:
  carla: {server: embedded, timeout: 10.0, sensor_timeout: 10.0}
  experiment:
    type: tests.integration.experiments:DriveStraight
    max_steps: 10
"""
# An agent that stops for good is blocked after 5 s instead of the leaderboard's 180 s.
SHORT_BLOCK = ("--set", "env_config.experiment.route.blocked_time=5.0")
NO_TRAFFIC = (
    "--set", "env_config.experiment.background_activity.n_vehicles=0",
    "--set", "env_config.experiment.background_activity.n_walkers=0",
)  # fmt: skip
SUMMARY = re.compile(r"^(\d+) routes: route completion (\d+\.\d) %, driving score (\d+\.\d)$")
ROUTE_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routes"
STRAIGHT = RouteSpec("s1", "Grid01", (Keypoint(-120.0, -148.25), Keypoint(30.0, -148.25)))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def evaluate(*args: str, timeout: float = 300.0):
    return run_module("rllib_integration.evaluate", *args, timeout=timeout)


def _summary(stdout: str) -> tuple[int, float, float]:
    match = SUMMARY.match(stdout.strip().splitlines()[-1])
    assert match, stdout
    return int(match[1]), float(match[2]), float(match[3])


def test_two_routes_end_to_end_with_valid_json(config, tmp_path):
    routes = tmp_path / "two.xml"
    write_routes(routes, read_routes(resolve_route_file("grid01_heldout"))[:2])
    output = tmp_path / "out" / "results.json"
    done = evaluate(
        str(config), "--agent", "autopilot", "--routes", str(routes), "--output", str(output)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert _summary(done.stdout) == (2, 100.0, 100.0)
    rows = [line for line in done.stdout.splitlines() if line.startswith("RouteScenario_")]
    assert [row.split()[0] for row in rows] == ["RouteScenario_10", "RouteScenario_11"]
    document = json.loads(output.read_text())
    checkpoint = document["_checkpoint"]
    assert checkpoint["progress"] == [2, 2]
    assert checkpoint["global_record"]["scores_mean"]["score_composed"] == 100.0
    assert checkpoint["global_record"]["status"] == "Perfect"
    for record in checkpoint["records"]:
        assert record["status"] == "Perfect" and record["num_infractions"] == 0
        assert record["scores"] == {
            "score_route": 100.0,
            "score_penalty": 1.0,
            "score_composed": 100.0,
        }
        assert 200.0 < record["meta"]["route_length"] < 600.0
        assert record["meta"]["duration_game"] > 20.0  # far beyond the experiment's 10 steps
    assert document["rllib_integration"]["agent"] == "autopilot"


def test_the_autopilot_completes_at_least_90_percent_of_the_heldout_routes(config, tmp_path):
    output = tmp_path / "results.json"
    done = evaluate(
        str(config), "--agent", "autopilot", "--routes", "grid01_heldout", "--output", str(output)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    routes, completion, score = _summary(done.stdout)
    assert routes == 10 and completion >= 90.0, done.stdout
    assert json.loads(output.read_text())["_checkpoint"]["global_record"]["scores_mean"][
        "score_route"
    ] == pytest.approx(completion, abs=0.05)


def test_an_rllib_checkpoint_and_an_import_path_agent_drive(config, tmp_path):
    routes = tmp_path / "straight.xml"
    write_routes(routes, [STRAIGHT])
    module = tmp_path / "module"
    saved = run_command([sys.executable, "-c", SAVE_MODULE, str(module)], timeout=300)
    assert saved.returncode == 0, saved.stderr[-3000:]
    output = tmp_path / "rllib.json"
    done = evaluate(
        str(config), str(module), "--routes", str(routes), "--output", str(output), *SHORT_BLOCK
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(output.read_text())["_checkpoint"]["records"][0]
    assert record["route_id"] == "RouteScenario_s1" and record["meta"]["duration_game"] > 0
    # Your own policy, by import path; it gets the checkpoint (any path) and the env.
    output = tmp_path / "mine.json"
    done = evaluate(
        str(config), str(module), "--agent", "tests.evaluate.agents:full_throttle",
        "--routes", str(routes), "--output", str(output),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # Full throttle along a straight street: all of it, and through its junction whatever the
    # light (where the server has traffic lights, a red one costs its factor).
    record = json.loads(output.read_text())["_checkpoint"]["records"][0]
    red_lights = len(record["infractions"]["red_light"])
    assert record["num_infractions"] == red_lights
    assert _summary(done.stdout) == (1, 100.0, round(100.0 * 0.7**red_lights, 1))


def test_a_generic_trainer_checkpoint_on_dict_observations_evaluates(tmp_path):
    # The route example's env with RLlib's default network (no module_class of its own): the
    # checkpoint's module takes the flattened float32 observation, as the trainer adapted it.
    config = tmp_path / "ppo.yaml"
    config.write_text(
        "algorithm: PPO\n"
        f"python_path: [{ROUTE_EXAMPLE}]\n"
        "env_config:\n"
        "  carla: {server: embedded, timeout: 10.0, sensor_timeout: 10.0}\n"
        "  experiment:\n"
        "    type: route_following:RouteFollowing\n"
        "    hero:\n"
        "      sensors:\n"
        "        birdview: {type: sensor.birdview, size: 32, mode: masks,\n"
        "                   layers: [road, route, vehicles]}\n"
        "        route: {type: sensor.route_state}\n"
        "        lane: {type: sensor.lane_state}\n"
        "        collision: {type: sensor.other.collision}\n"
    )
    module = tmp_path / "module"
    saved = run_command(
        [sys.executable, "-c", SAVE_ADAPTED_MODULE, str(config), str(module)], timeout=300
    )
    assert saved.returncode == 0, saved.stderr[-3000:]
    routes = tmp_path / "straight.xml"
    write_routes(routes, [STRAIGHT])
    output = tmp_path / "adapted.json"
    done = evaluate(
        str(config), str(module), "--routes", str(routes), "--output", str(output), *SHORT_BLOCK
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(output.read_text())["_checkpoint"]["records"][0]
    assert record["route_id"] == "RouteScenario_s1" and record["meta"]["duration_game"] > 0
    assert _summary(done.stdout)[0] == 1


def test_a_checkpoint_of_the_route_example_evaluates_with_its_own_network(tmp_path):
    # The shipped route config names its own RLModule: the Dict observation goes in unchanged.
    config = ROUTE_EXAMPLE / "dqn_config.yaml"
    module = tmp_path / "module"
    saved = run_command(
        [sys.executable, "-c", SAVE_ROUTE_DQN_MODULE, str(config), str(module)], timeout=300
    )
    assert saved.returncode == 0, saved.stderr[-3000:]
    routes = tmp_path / "straight.xml"
    write_routes(routes, [STRAIGHT])
    output = tmp_path / "route_dqn.json"
    done = evaluate(
        str(config), str(module), "--routes", str(routes), "--output", str(output),
        *SHORT_BLOCK, *NO_TRAFFIC,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(output.read_text())["_checkpoint"]["records"][0]
    assert record["route_id"] == "RouteScenario_s1" and record["meta"]["duration_game"] > 0


def test_video_films_each_route_from_the_birds_eye_view(tmp_path):
    config = tmp_path / "bev.yaml"
    config.write_text(
        CONFIG + "    hero:\n      sensors:\n        bev: {type: sensor.birdview, size: 64}\n"
    )
    routes = tmp_path / "straight.xml"
    write_routes(routes, [STRAIGHT])
    videos = tmp_path / "videos"
    done = evaluate(
        str(config), "--agent", "autopilot", "--routes", str(routes), "--video", str(videos),
        "--output", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    capture = cv2.VideoCapture(str(videos / "RouteScenario_s1.mp4"))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = capture.read()
    capture.release()
    seconds = json.loads((tmp_path / "r.json").read_text())["_checkpoint"]["records"][0]["meta"]
    assert ok and frame.shape == (64, 64, 3)
    assert frames == pytest.approx(seconds["duration_game"] / 0.05, abs=2)  # one per step


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--routes", "grid01_heldout"), "--agent rllib needs a CHECKPOINT"),
        (("--routes", "grid01_helout", "--agent", "autopilot"), "no route file 'grid01_helout'"),
        (("CHECKPOINT", "--routes", "grid01_heldout"), "no RLModule in"),
        (("nowhere", "--routes", "grid01_heldout"), "no checkpoint 'nowhere'"),
        (("CHECKPOINT", "--routes", "grid01_heldout", "--agent", "no_such.mod:f"), "cannot import"),
        (("--agent", "autopilot", "--routes", "grid01_heldout", "--video", "V"), "--video films"),
        (
            ("--routes", "grid01_heldout", "--set", "env_config.experiment.hero.colour=red"),
            "colour",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(config, tmp_path, args, message):
    args = tuple(str(tmp_path) if a == "CHECKPOINT" else a for a in args)
    args = tuple(str(tmp_path / "videos") if a == "V" else a for a in args)
    done = evaluate(str(config), *args, "--output", str(tmp_path / "r.json"))
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], done.stderr[-2000:]
    assert not (tmp_path / "r.json").exists()
