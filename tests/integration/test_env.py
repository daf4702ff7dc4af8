"""CarlaEnv end to end on the embedded server, through the real `carla` client."""

from __future__ import annotations

import subprocess
import sys

import carla
import gymnasium as gym
import numpy as np
import psutil
import pytest
from gymnasium.utils.env_checker import check_env

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import ConfigError
from tests.conftest import client_code, run_client
from tests.integration.scenarios import env_config

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def make_env():
    """Build CarlaEnvs that are closed (servers stopped) even when the test fails."""
    envs = []

    def make(config: dict, **kwargs) -> CarlaEnv:
        env = CarlaEnv(config, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if (
                process.info["status"] != psutil.STATUS_ZOMBIE
                and psutil.os.getpgid(process.pid) == pgid
            ):
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            pass
    return members


def test_gymnasium_check_env_passes(make_env):
    env = make_env(env_config(max_steps=20))
    check_env(env, skip_render_check=True)


def test_full_episode_loop_and_next_episode(make_env):
    env = make_env(env_config(max_steps=25))
    observation, info = env.reset(seed=3)
    assert env.observation_space.contains(observation)
    assert env.episodes == 1 and info["env"]["town"] == "Loop01" and info["env"]["distance"] == 0.0
    server = env.core.server
    steps, rewards = 0, []
    while True:
        observation, reward, terminated, truncated, info = env.step(2)  # full throttle
        steps += 1
        rewards.append(reward)
        assert env.observation_space.contains(observation)
        if terminated or truncated:
            break
    assert steps == 25 and truncated and not terminated
    assert info["env"]["distance"] > 1.0 and info["env"]["speed"] > 1.0  # the hero really drove
    assert rewards[-1] > rewards[0]  # reward = speed, which grew
    old_hero = env.core.hero.id
    _, info = env.reset()
    assert env.episodes == 2 and info["env"]["distance"] == 0.0
    assert env.core.hero.id != old_hero and env.core.server is server  # same server, new hero
    assert not env.step(0)[3]


def test_sensor_data_is_of_the_current_frame(make_env):
    """Every reading carries the world's current frame, and GNSS matches the hero's position at
    that frame exactly (an off-by-one would be one step's travel away)."""
    camera = {"image_size_x": 32, "image_size_y": 24, "transform": "1.5,0,2.0,0,0,0"}
    sensors = {
        "rgb": {"type": "sensor.camera.rgb", **camera},
        "depth": {"type": "sensor.camera.depth", **camera},
        "semantic": {"type": "sensor.camera.semantic_segmentation", **camera},
        "gnss": {"type": "sensor.other.gnss"},
        "imu": {"type": "sensor.other.imu"},
        "lidar": {"type": "sensor.lidar.ray_cast", "transform": "0,0,2.4,0,0,0", "channels": 8},
        "semantic_lidar": {
            "type": "sensor.lidar.ray_cast_semantic",
            "transform": "0,0,2.4,0,0,0",
            "channels": 8,
        },
        "radar": {"type": "sensor.other.radar", "transform": "2.5,0,1.0,0,0,0"},
        "collision": {"type": "sensor.other.collision"},
        "lane": {"type": "sensor.other.lane_invasion"},
        "obstacle": {"type": "sensor.other.obstacle"},
    }
    env = make_env(env_config(max_steps=100, hero={"sensors": sensors}), render_mode="rgb_array")
    env.reset(seed=0)
    core = env.core
    previous_geo = None
    for _ in range(15):
        env.step(2)
        data = env.experiment.last_sensor_data
        assert set(data) == set(sensors)
        frame = core.world.get_snapshot().frame
        assert core.frame == frame
        assert {name: reading[0] for name, reading in data.items()} == dict.fromkeys(sensors, frame)
        geo = core.map.transform_to_geolocation(core.hero.get_location())
        here = np.array([geo.latitude, geo.longitude])
        np.testing.assert_allclose(data["gnss"][1][:2], here, rtol=0, atol=1e-9)
        if previous_geo is not None:
            assert (
                np.abs(here - previous_geo).max() > 1e-8
            )  # the hero moved more than the tolerance
        previous_geo = here
    assert data["rgb"][1].shape == (24, 32, 3) and data["rgb"][1].dtype == np.uint8
    depth = data["depth"][1]
    assert depth.shape == (24, 32) and depth.dtype == np.float32
    assert 0.0 < depth.min() < 50.0 and depth.max() <= 1000.0  # metres: the ground is near
    assert data["semantic"][1].dtype == np.uint8 and 1 in data["semantic"][1]  # 1 = road
    imu = data["imu"][1]
    assert imu.shape == (7,) and imu.dtype == np.float64
    assert imu[0] > 0.5  # accelerating forward under full throttle (m/s^2, sensor frame)
    lidar = data["lidar"][1]
    assert lidar.dtype == np.float32 and lidar.ndim == 2 and lidar.shape[1] == 4
    assert len(lidar) > 0 and np.all(np.linalg.norm(lidar[:, :3], axis=1) <= 10.0 + 1e-3)  # range
    semantic_lidar = data["semantic_lidar"][1]
    assert semantic_lidar.dtype.names == ("x", "y", "z", "cos", "idx", "tag")
    assert semantic_lidar["tag"].dtype == np.uint32 and 1 in semantic_lidar["tag"]  # 1 = road
    radar = data["radar"][1]
    assert radar.dtype == np.float32 and radar.ndim == 2 and radar.shape[1] == 4
    assert isinstance(data["obstacle"][1], list)
    assert data["collision"][1] == [] and isinstance(data["lane"][1], list)
    assert env.render() is data["rgb"][1]


def test_collision_events_arrive_in_their_frame_and_are_counted(make_env):
    sensors = {"collision": {"type": "sensor.other.collision"}}
    env = make_env(env_config(max_steps=200, hero={"sensors": sensors}))
    env.reset(seed=0)
    core = env.core
    hero_tf = core.hero.get_transform()
    ahead = hero_tf.location + hero_tf.get_forward_vector() * 8.0
    ahead.z += 0.3
    blueprint = core.world.get_blueprint_library().find("vehicle.lincoln.mkz_2017")
    blocker = core.world.spawn_actor(blueprint, carla.Transform(ahead, hero_tf.rotation))
    spawn_frame = core.frame
    try:
        for _ in range(100):
            _, _, _, truncated, info = env.step(2)
            events = env.experiment.last_sensor_data["collision"]
            if events[1]:
                break
        else:
            pytest.fail("no collision within 100 steps")
        assert events[0] == core.frame
        # Events carry their own frame; under load one can arrive a step after its frame
        # (never lost, never from the future).
        assert all(spawn_frame < event["frame"] <= core.frame for event in events[1])
        assert events[1][0]["other_actor_id"] == blocker.id
        assert events[1][0]["intensity"] > 0
        assert info["env"]["collisions"] == len(events[1])
    finally:
        blocker.destroy()


def test_four_envs_in_one_process_get_distinct_ports_and_run(make_env):
    envs = [make_env(env_config(max_steps=100)) for _ in range(4)]
    for env in envs:
        env.reset(seed=0)
    for _ in range(10):
        for env in envs:
            assert not env.step(2)[3]
    blocks = [env.core.server.ports for env in envs]
    ports = {port for b in blocks for port in (b.rpc, b.streaming, b.secondary, b.traffic_manager)}
    assert len(ports) == 16
    assert len({env.core.server.process.pid for env in envs}) == 4
    assert all(env.step(2)[4]["env"]["distance"] > 0 for env in envs)


def test_four_envs_in_four_processes_get_distinct_ports_and_run(tmp_path):
    scenario = [sys.executable, "-m", "tests.integration.scenarios", "one_env_reports_port"]
    command = [*scenario, str(tmp_path), "4"]  # all four servers alive at the same time
    procs = [
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    ports = [int(out.split("PORT ")[1].split()[0]) for out, _ in outputs]
    pids = [int(out.split("PID ")[1].split()[0]) for out, _ in outputs]
    assert len(set(ports)) == 4 and all(abs(a - b) >= 4 for a in ports for b in ports if a != b)
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )


def test_npc_traffic_drives_and_is_respawned_per_episode(make_env):
    """With NPCs the traffic process ticks the world: the hero's control, its sensor frames and
    the NPCs' driving must all still be right."""
    background = {"n_vehicles": 3, "seed": 5, "respawn_per_episode": True}
    sensors = {"gnss": {"type": "sensor.other.gnss"}}
    config = env_config(max_steps=100, background_activity=background, hero={"sensors": sensors})
    env = make_env(config)
    env.reset(seed=0)
    core = env.core

    def npcs():
        vehicles = core.world.get_actors().filter("vehicle.*")
        return {v.id: v for v in vehicles if v.attributes.get("role_name") == "autopilot"}

    first = npcs()
    assert len(first) == 3
    start = {i: v.get_location() for i, v in first.items()}
    for _ in range(30):
        _, _, _, _, info = env.step(2)  # full throttle
        frame, gnss = env.experiment.last_sensor_data["gnss"]
        assert frame == core.frame == core.world.get_snapshot().frame
        geo = core.map.transform_to_geolocation(core.hero.get_location())
        np.testing.assert_allclose(gnss[:2], [geo.latitude, geo.longitude], rtol=0, atol=1e-9)
    assert (
        info["env"]["distance"] > 1.0 and info["env"]["speed"] > 1.0
    )  # the hero's control was applied
    moved = [v.get_location().distance(start[i]) for i, v in npcs().items()]
    assert min(moved) > 2.0, moved  # the Traffic Manager drives them, in step with the world
    from rllib_integration.supervisor.simulator import port_is_free

    # The Traffic Manager (in the traffic process) serves on the block's TM port.
    assert core.tm_port == core.server.ports.traffic_manager
    assert not port_is_free(core.tm_port)
    env.reset()
    second = npcs()
    assert len(second) == 3 and not set(first) & set(second)


def test_npcs_and_walkers_are_kept_across_episodes_unless_asked(make_env):
    background = {"n_vehicles": 2, "n_walkers": 3}
    env = make_env(env_config(max_steps=100, background_activity=background))
    env.reset(seed=0)
    world = env.core.world
    ids = {v.id for v in world.get_actors().filter("vehicle.*")} - {env.core.hero.id}
    walkers = world.get_actors().filter("walker.pedestrian.*")
    controllers = world.get_actors().filter("controller.ai.walker")
    assert len(ids) == 2 and len(walkers) == 3 and len(controllers) == 3
    start = {w.id: w.get_location() for w in walkers}
    for _ in range(40):
        env.step(0)
    moved = [w.get_location().distance(start[w.id]) for w in world.get_actors().filter("walker.*")]
    assert max(moved) > 0.5, moved  # the AI controllers walk them
    env.reset()
    assert ids <= {v.id for v in world.get_actors().filter("vehicle.*")}
    assert {w.id for w in walkers} == {w.id for w in world.get_actors().filter("walker.*")}


def test_info_reports_route_completion_when_the_experiment_has_a_route(make_env):
    config = env_config(max_steps=10)
    config["experiment"]["type"] = "tests.integration.experiments:RouteExperiment"
    env = make_env(config)
    env.reset(seed=0)
    infos = [env.step(2)[4] for _ in range(5)]
    assert [info["env"]["route_completion"] for info in infos] == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_the_env_never_writes_over_the_experiments_info(make_env):
    config = env_config(max_steps=10)
    config["experiment"]["type"] = "tests.integration.experiments:OwnDistance"
    env = make_env(config)
    _, info = env.reset(seed=0)
    assert info["distance"] == -1.0 and info["steps"] == 0 and info["env"]["distance"] == 0.0
    for _ in range(5):
        _, _, _, _, info = env.step(2)
    assert info["distance"] == -1.0 and info["steps"] == 5  # the experiment's, after the step
    assert info["env"]["distance"] > 0.0 and "route_completion" not in info["env"]
    config["experiment"]["type"] = "tests.integration.experiments:ClaimsEnvKey"
    clash = make_env(config)
    with pytest.raises(ValueError, match="ClaimsEnvKey: info key 'env' is the env's own"):
        clash.reset(seed=0)


def test_town_changes_across_resets_and_loads_only_on_change(make_env):
    env = make_env(env_config(max_steps=100, town=["Loop01", "Grid01"], town_change_every=2))
    seen, worlds = [], []
    for episode in range(6):
        _, info = env.reset(seed=episode if episode == 0 else None)
        # The map the env uses is the server's, as a client without a cached map reads it (the
        # 0.9.16 client caches the map; a stale one would be the previous town's).
        fresh = carla.Client(env.core.server.host, env.core.server.rpc_port)
        fresh.set_timeout(10.0)
        served = fresh.get_world().get_map()
        assert env.core.map.name == served.name and env.core.map.name.endswith(info["env"]["town"])
        assert len(env.core.map.get_spawn_points()) == len(served.get_spawn_points())
        seen.append(info["env"]["town"])
        worlds.append(env.core.world.id)
        assert not env.step(2)[3]
    assert set(seen) == {"Loop01", "Grid01"}, seen
    for a in (0, 2, 4):  # every 2 episodes: the pair shares one town and one loaded world
        assert seen[a] == seen[a + 1] and worlds[a] == worlds[a + 1]


def test_single_town_by_name_and_unknown_town_is_clear(make_env, embedded_server):
    env = make_env(env_config(town="Grid01"))
    env.reset(seed=0)
    assert env.core.map.name.endswith("Grid01")
    # A server the env launches: refused before it starts (every env runner would fail).
    with pytest.raises(ConfigError, match="experiment.town: the embedded server has no such"):
        CarlaEnv(env_config(town="Town99"))
    with pytest.raises(ConfigError, match=r"experiment\.town\.1: .*'Town99'.*Loop01"):
        CarlaEnv(env_config(town=["Grid01", "Town99"]))
    # A server someone else runs: only it knows its towns, so the reset says.
    bad = make_env(env_config({"port": embedded_server.rpc_port}, town="Town99"))
    with pytest.raises(RuntimeError, match="town 'Town99' .*not available.*Loop01"):
        bad.reset(seed=0)


@pytest.mark.parametrize(
    "signal_name, n_vehicles", [("SIGKILL", 0), ("SIGSTOP", 0), ("SIGKILL", 2), ("SIGSTOP", 2)]
)
def test_killed_or_frozen_server_is_restarted_and_the_env_goes_on(signal_name, n_vehicles):
    command = [
        sys.executable,
        "-m",
        "tests.integration.scenarios",
        "server_survives_signal",
        signal_name,
        str(n_vehicles),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK detected in" in result.stdout


def test_a_lost_server_is_told_by_a_query_not_by_error_text():
    command = [
        sys.executable,
        "-m",
        "tests.integration.scenarios",
        "lost_server_is_told_from_an_error",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK hung detected in" in result.stdout


def test_close_leaves_no_process_and_no_actor_on_an_attached_server(embedded_server, make_env):
    """Attach mode with the embedded server as the 'running CARLA': nothing is launched, and
    close() destroys every actor it spawned and gives the world back in asynchronous mode."""
    sensors = {
        "collision": {"type": "sensor.other.collision"},
        "gnss": {"type": "sensor.other.gnss"},
    }
    config = env_config(
        {"host": embedded_server.host, "port": embedded_server.rpc_port},
        hero={"sensors": sensors},
        background_activity={"n_vehicles": 2, "n_walkers": 0},
    )
    env = make_env(config)
    env.reset(seed=0)
    assert env.core.server.process is None and env.core.server.kind == "attach"
    for _ in range(5):
        assert not env.step(2)[3]
    spawned = env.core.spawned_actor_ids()
    assert len(spawned) == 1 + 2 + 2  # hero, two sensors, two NPCs
    env.close()
    assert embedded_server.alive()  # not ours to stop
    check = client_code(
        embedded_server,
        f"""
        ids = {{a.id for a in world.get_actors()}}
        print("LEFT", sorted(ids & set({spawned!r})))
        print("SYNC", world.get_settings().synchronous_mode)
        """,
    )
    result = run_client(check, timeout=60)
    assert "LEFT []" in result.stdout, result.stdout + result.stderr
    assert "SYNC False" in result.stdout


def test_close_stops_the_launched_server_group(make_env):
    env = make_env(env_config())
    env.reset(seed=0)
    server = env.core.server
    pgid, ports = server.process.pid, server.ports
    assert group_members(pgid)
    env.close()
    assert group_members(pgid) == []
    from rllib_integration.supervisor.simulator import port_is_free

    assert port_is_free(ports.rpc) and port_is_free(ports.streaming)


def test_server_carla_without_an_install_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    with pytest.raises(ConfigError, match="server is .carla. but no CARLA install.*CARLA_ROOT"):
        CarlaEnv(env_config({"server": "carla"}))
    with pytest.raises(ConfigError, match="CarlaUE4.sh does not exist"):
        CarlaEnv(env_config({"server": "carla", "carla_root": str(tmp_path)}))


def test_bad_experiment_import_path_is_a_clear_error():
    with pytest.raises(
        ConfigError, match="experiment.type: cannot import module 'tests.integration.nope'"
    ):
        CarlaEnv({"experiment": {"type": "tests.integration.nope:Exp"}})
    with pytest.raises(ConfigError, match="has no class 'Missing'"):
        CarlaEnv({"experiment": {"type": "tests.integration.experiments:Missing"}})


def test_spaces_come_from_the_experiment_without_starting_a_server():
    env = CarlaEnv(env_config(throttles=[0.0, 1.0]))
    assert env.action_space == gym.spaces.Discrete(2)
    assert env._core is None  # nothing launched until the first reset
    with pytest.raises(gym.error.ResetNeeded, match="before reset"):
        env.step(0)
    assert env._core is None
    env.close()


def test_spawn_points_from_config_weather_and_spawn_errors(make_env):
    probe = make_env(env_config())
    probe.reset(seed=0)
    point = probe.core.map.get_spawn_points()[3]
    loc, rot = point.location, point.rotation
    six = f"{loc.x},{loc.y},{loc.z + 0.3},{rot.roll},{rot.pitch},{rot.yaw}"
    # Three numbers: snapped to the nearest lane, heading of the lane (2 m off to the side here).
    right = point.get_right_vector()
    three = f"{loc.x + 2.0 * right.x},{loc.y + 2.0 * right.y},{loc.z + 0.5}"
    probe.close()

    weather = {"cloudiness": 80, "sun_altitude_angle": -10.5}
    env = make_env(env_config(hero={"spawn_points": [six]}, weather=weather))
    env.reset(seed=0)
    hero_tf = env.core.hero.get_transform()
    assert np.hypot(hero_tf.location.x - loc.x, hero_tf.location.y - loc.y) < 0.1
    assert abs((hero_tf.rotation.yaw - rot.yaw + 180) % 360 - 180) < 1.0
    assert env.core.world.get_weather().cloudiness == pytest.approx(80.0)
    assert env.core.world.get_weather().sun_altitude_angle == pytest.approx(-10.5)

    # Block the only spawn point: the next reset fails with a clear error, not a None hero.
    hero_bp = env.core.world.get_blueprint_library().find("vehicle.lincoln.mkz_2017")
    env.core.remove_hero("hero")
    blocker = env.core.world.spawn_actor(hero_bp, hero_tf)
    try:
        with pytest.raises(
            RuntimeError, match="could not spawn the hero .* at any of 1 spawn points"
        ):
            env.reset()
    finally:
        blocker.destroy()

    snapped = make_env(env_config(hero={"spawn_points": [three]}))
    snapped.reset(seed=0)
    waypoint = snapped.core.map.get_waypoint(snapped.core.hero.get_location())
    hero_loc, lane_loc = snapped.core.hero.get_location(), waypoint.transform.location
    assert np.hypot(hero_loc.x - lane_loc.x, hero_loc.y - lane_loc.y) < 0.1
    yaw_error = (
        snapped.core.hero.get_transform().rotation.yaw - waypoint.transform.rotation.yaw + 180
    ) % 360 - 180
    assert abs(yaw_error) < 1.0


def test_reset_option_spawn_point_picks_that_point_modulo_their_number(make_env):
    env = make_env(env_config())
    _, info = env.reset(seed=0)
    points = env.core.map.get_spawn_points()
    assert info["env"]["spawn_points"] == len(points) > 5

    def hero_at(index: int) -> bool:
        location = env.core.hero.get_location()
        target = points[index].location
        return bool(np.hypot(location.x - target.x, location.y - target.y) < 0.1)

    for requested, expected in ((5, 5), (len(points) + 2, 2), (np.int64(0), 0)):
        _, info = env.reset(options={"spawn_point": requested})
        assert hero_at(expected), requested
        assert info["env"]["spawn_points"] == len(points)
    # Without the option the point is random: ten seeded resets do not all land on one point.
    starts = set()
    for seed in range(10):
        env.reset(seed=seed)
        location = env.core.hero.get_location()
        starts.add((round(location.x), round(location.y)))
    assert len(starts) > 1
    for bad in ("3", 1.5, True):
        with pytest.raises(ValueError, match="spawn_point must be an int"):
            env.reset(options={"spawn_point": bad})


def test_evaluation_episodes_spread_over_the_spawn_points(make_env):
    from rllib_integration.training.episodes import run_episodes

    class StartRecorder(gym.Wrapper):
        def reset(self, **kwargs):
            result = self.env.reset(**kwargs)
            location = self.env.core.hero.get_location()
            starts.append((location.x, location.y))
            return result

    starts: list[tuple[float, float]] = []
    env = make_env(env_config(max_steps=3))
    reports = run_episodes(StartRecorder(env), lambda _: 0, 4, spread_spawn_points=True)
    assert len(reports) == 4 and all(r.steps == 3 for r in reports)
    points = env.core.map.get_spawn_points()
    expected = [points[i * len(points) // 4].location for i in range(4)]
    for (x, y), target in zip(starts, expected, strict=True):
        assert np.hypot(x - target.x, y - target.y) < 0.1


def test_unknown_hero_blueprint_is_a_clear_error(make_env):
    env = make_env(env_config(hero={"blueprint": "vehicle.nope.car"}))
    with pytest.raises(
        RuntimeError, match="hero.blueprint: unknown vehicle blueprint 'vehicle.nope.car'"
    ):
        env.reset(seed=0)


def test_rllib_worker_index_spreads_port_blocks():
    from ray.rllib.env.env_context import EnvContext

    config = env_config()
    first = CarlaEnv(EnvContext(config, worker_index=3))
    second = CarlaEnv(EnvContext(config, worker_index=3))
    try:
        assert (first.worker_index, second.worker_index) == (3, 3)
        # Same runner: distinct sub-indices (vector_index is always 0 on RLlib's new stack).
        assert second.spread_index == first.spread_index + 1
        assert first.spread_index >= 3 * 8
    finally:
        first.close()
        second.close()


def test_a_sensor_attribute_typo_is_refused_before_a_server_starts(make_env):
    sensors = {"ok": {"type": "sensor.other.gnss"}, "bad": {"type": "sensor.camera.rgb"}}
    sensors["bad"]["image_sise_x"] = 84
    with pytest.raises(ConfigError, match="hero.sensors.bad.image_sise_x: .*did you mean"):
        make_env(env_config(hero={"sensors": sensors}))


def test_a_bad_sensor_value_is_a_clear_error_and_leaves_nothing(make_env):
    """A value of the right type that the server refuses (no lidar has 0 channels)."""
    sensors = {"ok": {"type": "sensor.other.gnss"}}
    sensors["bad"] = {"type": "sensor.lidar.ray_cast", "channels": 0}
    env = make_env(env_config(hero={"sensors": sensors}))
    with pytest.raises(RuntimeError, match="hero.sensors.bad: .*channels"):
        env.reset(seed=0)
    env.core.world.tick()  # the client's actor list follows the next episode state
    left = [a.type_id for a in env.core.world.get_actors() if a.type_id != "spectator"]
    assert left == []


def test_the_carla_launch_path_runs_an_episode(tmp_path, make_env):
    """`server: carla` end to end: CarlaEnv launches $CARLA_ROOT/CarlaUE4.sh with the exact
    headless command line; this stand-in script records it and runs the embedded server, which
    accepts CarlaUE4's flags."""
    script = tmp_path / "CarlaUE4.sh"
    script.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" > "$(dirname "$0")/argv.txt"\n'
        f'exec "{sys.executable}" -m rllib_integration.embedded "$@"\n'
    )
    script.chmod(0o755)
    config = env_config({"server": "carla", "carla_root": str(tmp_path), "gpu": 0}, max_steps=5)
    env = make_env(config)
    env.reset(seed=0)
    ports = env.core.server.ports
    assert (tmp_path / "argv.txt").read_text().split() == [
        "-RenderOffScreen",
        "-nosound",
        f"-carla-rpc-port={ports.rpc}",
        f"-carla-streaming-port={ports.streaming}",
        "-quality-level=Low",
        "-graphicsadapter=0",
    ]
    assert env.core.server.kind == "carla"
    results = [env.step(2) for _ in range(5)]
    assert results[-1][3] and results[-1][4]["env"]["distance"] > 0


def test_resets_do_not_leak_actors_or_sensor_streams(make_env):
    sensors = {
        "gnss": {"type": "sensor.other.gnss"},
        "collision": {"type": "sensor.other.collision"},
        "camera": {"type": "sensor.camera.rgb", "image_size_x": 16, "image_size_y": 16},
    }
    background = {"n_vehicles": 2, "respawn_per_episode": True}
    env = make_env(env_config(hero={"sensors": sensors}, background_activity=background))
    counts = []
    for episode in range(8):
        env.reset(seed=episode)
        env.step(2)
        counts.append(len(env.core.world.get_actors()))
        assert len(env.core.spawned_actor_ids()) == 1 + 3 + 2
    assert len(set(counts)) == 1, counts  # hero, 3 sensors, 2 NPCs, spectator: same every episode


def test_a_sensor_with_a_long_sensor_tick_gives_its_latest_reading(make_env):
    sensors = {
        "slow_gnss": {"type": "sensor.other.gnss", "sensor_tick": 0.2},  # every 4 frames at 20 Hz
        "gnss": {"type": "sensor.other.gnss"},
    }
    env = make_env(env_config(hero={"sensors": sensors}, max_steps=100))
    env.reset(seed=0)
    slow_frames = []
    for _ in range(12):
        env.step(2)
        data = env.experiment.last_sensor_data
        assert data["gnss"][0] == env.core.frame
        frame, reading = data["slow_gnss"]
        assert frame <= env.core.frame and (reading is None or reading.shape == (3,))
        slow_frames.append(frame)
    distinct = sorted(set(slow_frames) - {-1})
    assert 2 <= len(distinct) <= 5, slow_frames  # a new reading about every 4th frame


@pytest.mark.slow
def test_long_run_keeps_threads_memory_and_buffers_bounded(make_env):
    sensors = {
        "camera": {"type": "sensor.camera.rgb", "image_size_x": 32, "image_size_y": 32},
        "gnss": {"type": "sensor.other.gnss"},
        "collision": {"type": "sensor.other.collision"},
    }
    background = {"n_vehicles": 3, "respawn_per_episode": True}
    env = make_env(env_config(hero={"sensors": sensors}, background_activity=background))
    me = psutil.Process()
    threads, memory = [], []
    for episode in range(20):
        env.reset(seed=episode)
        for _ in range(100):
            env.step(1)
        stores = env.core.collector._readings
        assert all(len(store) <= 2 for store in stores.values()), {
            k: len(v) for k, v in stores.items()
        }
        threads.append(me.num_threads())
        memory.append(me.memory_info().rss)
    assert max(threads[5:]) <= threads[4] + 2, threads  # no thread leak per episode
    assert memory[-1] < memory[4] * 1.3, memory  # no steady growth


def test_with_a_display_the_spectator_follows_the_hero(make_env):
    # show_display only changes CarlaUE4's window flags; the embedded server ignores it.
    env = make_env(env_config({"show_display": True}, max_steps=100))
    env.reset(seed=0)
    for _ in range(10):
        env.step(2)
    env.core.world.tick()  # the spectator's new transform arrives with the next state
    hero = env.core.hero.get_transform()
    spectator = env.core.world.get_spectator().get_transform()
    behind = hero.location - hero.get_forward_vector() * 5.0
    assert np.hypot(spectator.location.x - behind.x, spectator.location.y - behind.y) < 1.0
    assert spectator.location.z == pytest.approx(hero.location.z + 3.0, abs=0.5)


def test_time_limit_truncates_at_that_much_simulated_time(make_env):
    env = make_env(env_config(max_steps=1000, time_limit=0.5))  # 10 steps of 0.05 s
    env.reset(seed=0)
    ends = [env.step(1)[3] for _ in range(10)]
    assert ends == [False] * 9 + [True]
