"""MultiAgentCarlaEnv end to end on the embedded server, through the real `carla` client."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rllib_integration.multi_agent_env import MultiAgentCarlaEnv
from rllib_integration.sensors.birdview.sensor import BirdViewSensor
from tests.integration.scenarios import multi_agent_config

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
CARS = ["car_0", "car_1", "car_2", "car_3"]
# On Loop01 map spawn points 6 and 7 are 20 m apart in the same lane, 6 behind 7.
BEHIND, AHEAD = 6, 7


@pytest.fixture
def make_env():
    """Build MultiAgentCarlaEnvs that are closed (servers stopped) even when the test fails."""
    envs = []

    def make(config: dict, **kwargs) -> MultiAgentCarlaEnv:
        env = MultiAgentCarlaEnv(config, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def hero_location(env: MultiAgentCarlaEnv, agent: str):
    return env.core.heroes[agent].view.hero.get_location()


def test_four_heroes_at_distinct_points_each_reading_only_its_own_sensors(make_env):
    env = make_env(multi_agent_config(4, max_steps=1000))
    assert env.possible_agents == CARS and env.agents == []
    assert set(env.observation_spaces) == set(env.action_spaces) == set(CARS)
    for seed in (0, 1):
        observations, infos = env.reset(seed=seed)
        assert env.agents == CARS and set(observations) == set(infos) == set(CARS)
        spots = [hero_location(env, agent) for agent in CARS]
        assert all(p.distance(q) > 2.0 for i, p in enumerate(spots) for q in spots[i + 1 :])
    heroes = {agent: env.core.heroes[agent].view.hero.id for agent in CARS}
    assert len(set(heroes.values())) == 4
    # Every sensor attached to its own agent's hero.
    for agent in CARS:
        sensors = env.core.heroes[agent].collector.sensors.values()
        parents = {s.actor.parent.id for s in sensors}
        assert parents == {heroes[agent]}
    throttle = {"car_0": 2, "car_1": 0, "car_2": 1, "car_3": 2}
    for _ in range(15):
        observations, rewards, terminateds, truncateds, infos = env.step(throttle)
        frame = env.core.world.get_snapshot().frame
        assert set(observations) == set(rewards) == set(infos) == set(CARS)
        assert terminateds == truncateds == {**dict.fromkeys(CARS, False), "__all__": False}
        for agent in CARS:
            data = env.experiment(agent).last_sensor_data
            assert set(data) == {"gnss", "collision"}
            assert data["gnss"][0] == data["collision"][0] == frame
            geo = env.core.map.transform_to_geolocation(hero_location(env, agent))
            np.testing.assert_allclose(
                data["gnss"][1][:2], [geo.latitude, geo.longitude], atol=1e-9
            )
            assert env.observation_spaces[agent].contains(observations[agent])
    speeds = {agent: infos[agent]["env"]["speed"] for agent in CARS}
    assert speeds["car_1"] < 0.1 < speeds["car_2"] < speeds["car_0"]  # each drove by its action
    # Fixed spawn points: agent i at k + i, or per agent.
    env.reset(options={"spawn_point": 10})
    points = env.core.map.get_spawn_points()
    for i, agent in enumerate(CARS):
        assert hero_location(env, agent).distance(points[10 + i].location) < 1.0
    env.reset(options={"spawn_points": {"car_2": 40}})
    assert hero_location(env, "car_2").distance(points[40].location) < 1.0
    with pytest.raises(ValueError, match="unknown agent 'car_9'"):
        env.reset(options={"spawn_points": {"car_9": 1}})


def test_agents_that_collide_both_get_the_event_and_only_the_one_that_ends_on_it_ends(make_env):
    config = multi_agent_config(4, max_steps=1000)
    config["experiment"]["agents"]["car_0"] = {"end_on_collision": True}
    env = make_env(config)
    env.reset(seed=0, options={"spawn_points": {"car_0": AHEAD, "car_1": BEHIND}})
    car_0, car_1 = (env.core.heroes[a].view.hero.id for a in ("car_0", "car_1"))
    actions = {"car_0": 0, "car_1": 2, "car_2": 0, "car_3": 0}  # car_1 drives into car_0
    for _ in range(200):
        observations, rewards, terminateds, truncateds, infos = env.step(actions)
        if terminateds["car_0"]:
            break
    else:
        pytest.fail("car_1 never reached car_0")
    assert terminateds == {**dict.fromkeys(CARS, False), "car_0": True, "__all__": False}
    assert not any(truncateds.values())
    assert infos["car_0"]["env"]["collisions"] >= 1 and infos["car_1"]["env"]["collisions"] >= 1
    hit = env.experiment("car_0").collisions[0]
    hitter = env.experiment("car_1").collisions[0]
    assert hit["other_actor_id"] == car_1 and hitter["other_actor_id"] == car_0
    # car_0 is gone: no hero, no sensors, no observations; the others drive on.
    assert env.agents == ["car_1", "car_2", "car_3"]
    observations, *_ = env.step({"car_1": 0, "car_2": 0, "car_3": 0})
    assert set(observations) == {"car_1", "car_2", "car_3"}
    assert car_0 not in {actor.id for actor in env.core.world.get_actors()}  # as of this tick
    with pytest.raises(ValueError, match="not live"):
        env.step({"car_0": 0})


def test_all_is_set_when_the_last_agent_is_done_or_at_the_shared_time_limit(make_env):
    config = multi_agent_config(3, max_steps=1000, hero={"sensors": {}})
    config["experiment"]["agents"] = {"a": {"end_at_step": 2}, "b": {"end_at_step": 4}, "c": {}}
    config["experiment"]["agents"]["c"] = {"end_at_step": 4}
    env = make_env(config)
    env.reset(seed=0)
    ends = []
    for step in range(1, 5):
        observations, _, terminateds, truncateds, _ = env.step(dict.fromkeys(env.agents, 1))
        ends.append((step, sorted(a for a in observations if truncateds[a]), truncateds["__all__"]))
        assert terminateds["__all__"] is False
    assert ends == [(1, [], False), (2, ["a"], False), (3, [], False), (4, ["b", "c"], True)]
    assert env.agents == []
    # time_limit: 0.25 s at 0.05 s a step truncates everyone left at step 5.
    config["experiment"]["time_limit"] = 0.25
    config["experiment"]["agents"] = {"a": {"end_at_step": 2}, "b": {}, "c": {}}
    env = make_env(config)
    env.reset(seed=0)
    for step in range(1, 6):
        _, _, terminateds, truncateds, _ = env.step(dict.fromkeys(env.agents, 1))
        assert truncateds["__all__"] is (step == 5) and terminateds["__all__"] is False
    assert truncateds == {"b": True, "c": True, "__all__": True}


@pytest.mark.parametrize(
    "signal_name, n_vehicles",
    [("SIGKILL", 0), ("SIGSTOP", 0), ("SIGKILL", 2)],
    ids=["killed", "frozen", "killed-with-npcs"],
)
def test_a_lost_server_truncates_every_agent_and_the_next_reset_restarts_it(
    signal_name, n_vehicles
):
    command = [
        sys.executable,
        "-m",
        "tests.integration.scenarios",
        "multi_agent_server_killed",
        signal_name,
        str(n_vehicles),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout


def test_render_shows_every_agents_birds_eye_view_side_by_side(make_env):
    bev = {"bev": {"type": "sensor.birdview", "size": 32}}
    env = make_env(multi_agent_config(3, hero={"sensors": bev}), render_mode="rgb_array")
    env.reset(seed=0)
    env.step({"car_0": 1, "car_1": 1, "car_2": 1})
    frame = env.render()
    assert frame.shape == (32, 96, 3) and frame.dtype == np.uint8
    for i, agent in enumerate(env.possible_agents):
        own = env.experiment(agent).last_sensor_data["bev"][1]
        np.testing.assert_array_equal(frame[:, 32 * i : 32 * (i + 1)], own)


def test_each_agents_birds_eye_view_is_its_own_heros_of_the_current_tick(make_env):
    """The heroes' views of a tick are rendered together (one read of the snapshot, one pass
    over the actors): each agent gets exactly what its hero's view renders alone from that
    tick's world, its own hero on the hero layer and the others as vehicles."""
    bev = {
        "type": "sensor.birdview",
        "size": 64,
        "pixels_per_meter": 2.0,  # 24 m ahead of the hero to 8 m behind it
        "mode": "masks",
        "layers": ["road", "hero", "vehicles"],
    }
    env = make_env(multi_agent_config(3, hero={"sensors": {"bev": bev}}))
    env.reset(options={"spawn_points": {"car_0": BEHIND, "car_1": AHEAD, "car_2": 30}})
    agents = ["car_0", "car_1", "car_2"]
    alone = {a: BirdViewSensor("alone", bev, env.core.heroes[a].view) for a in agents}
    rows_ahead = []
    for _ in range(25):
        env.step({"car_0": 2, "car_1": 0, "car_2": 1})  # car_0 closes in on car_1, 20 m ahead
        snapshot = env.core.world.get_snapshot()
        for agent in agents:
            frame, image = env.experiment(agent).last_sensor_data["bev"]
            assert frame == snapshot.frame
            np.testing.assert_array_equal(image, alone[agent].tick(frame, snapshot))
            hero, vehicles = image[..., 1], image[..., 2]
            assert hero.any() and not (hero & vehicles).any()
        rows_ahead.append(np.nonzero(env.experiment("car_0").last_sensor_data["bev"][1][..., 2])[0])
    # car_1 ahead of car_0, drawn nearer (lower in the image) as car_0 drives up to it.
    assert all(len(rows) for rows in rows_ahead)
    assert rows_ahead[-1].mean() > rows_ahead[0].mean() + 2.0
