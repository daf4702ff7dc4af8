"""End-to-end scenarios on the embedded server, each runnable in its own process.

The real `carla` client can abort its process when a server misbehaves, so the tests that kill
or freeze servers run these functions in a subprocess (`python -m tests.integration.scenarios
NAME`) and check the exit status and output.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil

from rllib_integration.carla_env import CarlaEnv

EXPERIMENT = "tests.integration.experiments:DriveStraight"


def env_config(carla_section: dict | None = None, **experiment) -> dict:
    """A small env_config: embedded server, short timeouts, DriveStraight experiment."""
    carla_config = {"server": "embedded", "timeout": 5.0, "sensor_timeout": 5.0}
    carla_config.update(carla_section or {})
    return {"carla": carla_config, "experiment": {"type": EXPERIMENT, **experiment}}


def drive(env: CarlaEnv, steps: int, action: int = 2) -> list[tuple]:
    return [env.step(action) for _ in range(steps)]


def server_survives_signal(sig_name: str, n_vehicles: str = "0") -> None:
    """Kill (SIGKILL) or freeze (SIGSTOP) the server mid-episode: the step truncates, the next
    reset restarts the server and the env runs on (NPC traffic too); nothing is left behind."""
    sig = getattr(signal, sig_name)
    background = {"n_vehicles": int(n_vehicles)}
    config = env_config(
        {"timeout": 2.0, "sensor_timeout": 2.0}, max_steps=1000, background_activity=background
    )
    env = CarlaEnv(config)
    try:
        env.reset(seed=1)
        drive(env, 5)
        old_pid = env.core.server.process.pid
        os.kill(old_pid, sig)
        started = time.monotonic()
        _, reward, terminated, truncated, info = env.step(2)
        detected_after = time.monotonic() - started
        assert truncated and not terminated and reward == 0.0, (terminated, truncated)
        assert info["env"]["simulator_failure"] is True
        assert detected_after < 10, detected_after
        observation, info = env.reset()
        new_pid = env.core.server.process.pid
        assert new_pid != old_pid
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
        assert info["env"]["server_restarts"] == 1
        if int(n_vehicles):
            npcs = [
                a
                for a in env.core.world.get_actors().filter("vehicle.*")
                if a.attributes.get("role_name") == "autopilot"
            ]
            assert len(npcs) == int(n_vehicles)
            start = {a.id: a.get_location() for a in npcs}
        results = drive(env, 30 if int(n_vehicles) else 10)
        assert not any(r[3] for r in results), "episode after the restart must run normally"
        if int(n_vehicles):
            assert all(a.get_location().distance(start[a.id]) > 1.0 for a in npcs)
        assert env.core.frame > 0
        print(f"OK detected in {detected_after:.2f} s, old pid {old_pid}, new pid {new_pid}")
    finally:
        env.close()
    assert not psutil.pid_exists(new_pid) or psutil.Process(new_pid).status() == "zombie"


def lost_server_is_told_from_an_error() -> None:
    """A live server answers; a frozen or dead one does not (what turns a client error into a
    SimulatorFailure, instead of reading the error's text)."""
    env = CarlaEnv(env_config({"timeout": 2.0}))
    try:
        env.reset(seed=0)
        core, pid = env.core, env.core.server.process.pid
        assert core.server_answers()
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        assert not core.server_answers()
        hung_after = time.monotonic() - started
        assert 1.5 < hung_after < 10, hung_after  # the client's timeout (2 s)
        os.kill(pid, signal.SIGCONT)
        assert core.server_answers()  # thawed: answering again
        os.kill(pid, signal.SIGKILL)
        core.server.process.wait(timeout=10)
        started = time.monotonic()
        assert not core.server_answers()
        assert time.monotonic() - started < 1.0  # a dead process needs no query
        print(f"OK hung detected in {hung_after:.2f} s")
    finally:
        env.close()


def one_env_reports_port(barrier_dir: str, parties: str = "4") -> None:
    """Start an env, wait until `parties` processes have theirs running (so that all servers
    are alive at once), drive it, print its RPC port (for the across-processes test)."""
    env = CarlaEnv(env_config(max_steps=1000))
    try:
        env.reset(seed=0)
        barrier = Path(barrier_dir)
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < int(parties):
            assert time.monotonic() < deadline, "the other processes never started"
            time.sleep(0.05)
        results = drive(env, 20)
        assert results[-1][4]["env"]["distance"] > 0
        print(f"PORT {env.core.server.rpc_port} PID {env.core.server.process.pid}", flush=True)
    finally:
        env.close()


def npc_env_then_abort() -> None:
    """Start an env with NPC traffic and die without close() (as when the client aborts)."""
    env = CarlaEnv(env_config(background_activity={"n_vehicles": 2}))
    env.reset(seed=0)
    drive(env, 3)
    print(f"SERVER PID {env.core.server.process.pid}", flush=True)
    print(f"TRAFFIC PID {env.core.traffic.host.process.pid}", flush=True)
    os.abort()


def multi_agent_config(agents: int = 4, carla_section: dict | None = None, **experiment) -> dict:
    """A MultiAgentCarlaEnv env_config: `agents` heroes car_0.. with GNSS and collision sensors."""
    config = env_config(carla_section, **experiment)
    config["experiment"]["type"] = "tests.integration.experiments:MultiAgentProbe"
    sensors = {
        "gnss": {"type": "sensor.other.gnss"},
        "collision": {"type": "sensor.other.collision"},
    }
    config["experiment"].setdefault("hero", {}).setdefault("sensors", sensors)
    config["experiment"].setdefault("agents", {f"car_{i}": {} for i in range(agents)})
    return config


def multi_agent_server_killed(sig_name: str, n_vehicles: str = "0") -> None:
    """Kill or freeze the server mid-episode: every live agent is truncated with the failure in
    its info, the next reset restarts the server (NPCs too) and the agents drive again."""
    from rllib_integration.multi_agent_env import MultiAgentCarlaEnv

    background = {"n_vehicles": int(n_vehicles)}
    config = multi_agent_config(
        4, {"timeout": 2.0, "sensor_timeout": 2.0}, max_steps=1000, background_activity=background
    )
    config["experiment"]["agents"]["car_3"] = {"end_at_step": 2}  # done before the failure
    env = MultiAgentCarlaEnv(config)
    try:
        env.reset(seed=1)
        for _ in range(5):
            env.step(dict.fromkeys(env.agents, 2))
        assert env.agents == ["car_0", "car_1", "car_2"]
        old_pid = env.core.server.process.pid
        os.kill(old_pid, getattr(signal, sig_name))
        obs, rewards, terminateds, truncateds, infos = env.step(dict.fromkeys(env.agents, 2))
        live = ["car_0", "car_1", "car_2"]
        assert set(obs) == set(rewards) == set(infos) == set(live), obs
        assert truncateds == {**dict.fromkeys(live, True), "__all__": True}, truncateds
        assert terminateds == {**dict.fromkeys(live, False), "__all__": True}, terminateds
        assert all(infos[a]["env"]["simulator_failure"] is True for a in live)
        assert all(rewards[a] == 0.0 for a in live) and env.agents == []
        obs, infos = env.reset()
        assert env.core.server.process.pid != old_pid and set(obs) == set(env.possible_agents)
        assert all(info["env"]["server_restarts"] == 1 for info in infos.values())
        if int(n_vehicles):
            npcs = [
                a
                for a in env.core.world.get_actors().filter("vehicle.*")
                if a.attributes.get("role_name") == "autopilot"
            ]
            assert len(npcs) == int(n_vehicles)
        for _ in range(20):
            _, _, _, truncateds, infos = env.step(dict.fromkeys(env.agents, 2))
            assert not truncateds["__all__"]
        assert all(infos[a]["env"]["distance"] > 1.0 for a in ["car_0", "car_1", "car_2"])
        print("OK")
    finally:
        env.close()


# A street of Grid01 to start a route episode on (as tests/routes/test_env_routes.py does).
GRID01_STREET = ((-120.0, -148.25), (30.0, -148.25))
# Sensors enough that destroying them one client timeout each would show (6 actors).
MANY_SENSORS = {
    "collision": {"type": "sensor.other.collision"},
    "lane_invasion": {"type": "sensor.other.lane_invasion"},
    "gnss": {"type": "sensor.other.gnss"},
    "imu": {"type": "sensor.other.imu"},
    "obstacle": {"type": "sensor.other.obstacle"},
    "camera": {"type": "sensor.camera.rgb", "image_size_x": 32, "image_size_y": 32},
}


def _kill_server(env: CarlaEnv) -> None:
    """SIGKILL the env's server and wait until it is gone (by PID: the one this env launched)."""
    process = env.core.server.process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def server_lost_at_the_spawn(start: str) -> None:
    """The server dies just before a reset spawns the hero, at a spawn point or at a route's
    start. The first spawn finds it lost (a SimulatorFailure: the server is restarted and the
    episode runs), instead of one spawn per spawn point, each waiting out the client's timeout
    (minutes without a word), and then a SetupError that would stop a training run."""
    import carla

    from rllib_integration.routes import RoutePlanner

    config = env_config({"timeout": 2.0, "sensor_timeout": 2.0}, town="Grid01", max_steps=1000)
    env = CarlaEnv(config)
    try:
        env.reset(seed=1)
        drive(env, 2)
        options = {}
        if start == "route":
            planner = RoutePlanner(env.core.map)
            options["route"] = planner.route([carla.Location(*p) for p in GRID01_STREET])
        lost_server = env.core.server.process.pid
        on_lost_server = []
        original = carla.World.try_spawn_actor

        def spawn_after_killing_the_server(world, *args, **kwargs):
            if not on_lost_server:
                _kill_server(env)
            if env.core.server.process.pid == lost_server:
                on_lost_server.append(args)
            return original(world, *args, **kwargs)

        carla.World.try_spawn_actor = spawn_after_killing_the_server
        started = time.monotonic()
        try:
            env.reset(options=options)
        finally:
            carla.World.try_spawn_actor = original
        recovered_in = time.monotonic() - started
        assert len(on_lost_server) == 1, f"{len(on_lost_server)} spawns on the lost server"
        assert env.core.restarts == 1 and env.core.server.process.pid != lost_server
        results = drive(env, 5)
        assert not any(r[3] for r in results), "the episode after the restart must run"
        print(f"OK spawns on the lost server: 1; recovered in {recovered_in:.1f} s")
    finally:
        env.close()


def server_lost_before_the_heroes_are_destroyed() -> None:
    """The server dies between two episodes: the next reset's first destroy finds it lost, not
    one destroy per sensor and vehicle, each waiting out the client's timeout."""
    from rllib_integration.sensors.base import CarlaSensor

    config = env_config({"timeout": 2.0, "sensor_timeout": 2.0}, max_steps=1000)
    config["experiment"]["hero"] = {"sensors": MANY_SENSORS}
    env = CarlaEnv(config)
    try:
        env.reset(seed=1)
        drive(env, 2)
        _kill_server(env)
        lost_server = env.core.server.process.pid
        on_lost_server = []
        original = CarlaSensor.destroy

        def counted(sensor):  # a destroy that calls the server (not one of an abandoned sensor)
            if sensor.actor is not None and env.core.server.process.pid == lost_server:
                on_lost_server.append(sensor.name)
            return original(sensor)

        CarlaSensor.destroy = counted  # type: ignore[method-assign]
        started = time.monotonic()
        try:
            env.reset()
        finally:
            CarlaSensor.destroy = original  # type: ignore[method-assign]
        recovered_in = time.monotonic() - started
        assert on_lost_server == ["collision"], on_lost_server
        assert env.core.restarts == 1 and env.core.server.process.pid != lost_server
        assert sorted(env.core.collector.sensors) == sorted(MANY_SENSORS)
        results = drive(env, 5)
        assert not any(r[3] for r in results), "the episode after the restart must run"
        print(f"OK destroys on the lost server: 1; recovered in {recovered_in:.1f} s")
    finally:
        env.close()


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    globals()[name](*args)
