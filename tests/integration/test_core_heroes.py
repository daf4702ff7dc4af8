"""CarlaCore with several heroes in one world, through the real client on the embedded server."""

from __future__ import annotations

import carla
import pytest

from rllib_integration.config import resolve_env_config
from rllib_integration.core.carla_core import CarlaCore, SetupError
from rllib_integration.core.heroes import HeroRequest
from tests.integration.scenarios import env_config


@pytest.fixture
def core():
    config = resolve_env_config(env_config())
    core = CarlaCore(config["carla"])
    yield core, config["experiment"]
    core.close()


def gnss_hero(name: str, **hero) -> HeroRequest:
    config = {"blueprint": "vehicle.lincoln.mkz_2017", "spawn_points": [], **hero}
    config.setdefault("sensors", {"gnss": {"type": "sensor.other.gnss"}})
    return HeroRequest(name, config, label=f"agents.{name}.hero")


@pytest.mark.parametrize("npcs", [0, 2], ids=["direct", "through-traffic-host"])
def test_heroes_spawn_apart_step_together_and_read_only_their_own_sensors(core, npcs):
    core, experiment = core
    experiment = {**experiment, "background_activity": {**experiment["background_activity"]}}
    experiment["background_activity"]["n_vehicles"] = npcs
    names = ["a", "b", "c"]
    first = core.reset_heroes(experiment, [gnss_hero(n) for n in names], seed=0)
    assert set(first) == set(names)
    assert (core.traffic.host is not None) == bool(npcs)
    actors = {name: core.heroes[name].actor for name in names}
    assert len({actor.id for actor in actors.values()}) == 3
    spots = [actor.get_location() for actor in actors.values()]
    assert all(p.distance(q) > 2.0 for i, p in enumerate(spots) for q in spots[i + 1 :])
    # Full throttle for "a" only: one tick per step, every hero's reading of that frame.
    for _ in range(20):
        data = core.step_heroes({"a": carla.VehicleControl(throttle=1.0)})
        frame = core.world.get_snapshot().frame
        for name in names:
            reading_frame, reading = data[name]["gnss"]
            assert reading_frame == frame
            geo = core.map.transform_to_geolocation(actors[name].get_location())
            assert reading[0] == pytest.approx(geo.latitude, abs=1e-9)
    assert actors["a"].get_location().distance(spots[0]) > 1.0  # 1 s at full throttle
    assert actors["b"].get_location().distance(spots[1]) < 0.3
    # Removing one hero leaves the others stepping.
    sensor_ids = core.heroes["b"].actor_ids()
    core.remove_hero("b")
    data = core.step_heroes({"a": carla.VehicleControl(throttle=1.0)})
    assert set(data) == {"a", "c"}
    alive = {actor.id for actor in core.world.get_actors()}
    assert not alive & set(sensor_ids)
    assert core.hero.id == actors["a"].id  # the first hero stands for a single-agent env's


def test_a_hero_that_finds_no_free_spawn_point_is_a_clear_error_and_leaves_nothing(core):
    core, experiment = core
    point = core.map.get_spawn_points()[0].location
    spot = f"{point.x},{point.y},{point.z}"
    requests = [gnss_hero("a", spawn_points=[spot]), gnss_hero("b", spawn_points=[spot])]
    with pytest.raises(SetupError, match="could not spawn the hero of agent 'b'.*agents.b.hero"):
        core.reset_heroes(experiment, requests, seed=0)
    assert core.heroes == {}
    heroes = [a for a in core.world.get_actors() if a.attributes.get("role_name") == "hero"]
    assert heroes == []
