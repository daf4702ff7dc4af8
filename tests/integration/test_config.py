"""YAML loading, merging over the defaults, and one clear error per kind of bad input."""

from __future__ import annotations

import pickle
import textwrap
import tracemalloc

import pytest

from rllib_integration.config import (
    EXPERIMENT_DEFAULTS,
    CarlaSettings,
    ConfigError,
    carla_settings,
    load_config,
    merge,
    resolve_env_config,
)

EXPERIMENT = "tests.integration.experiments:DriveStraight"


def write(tmp_path, text: str, name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_config_gets_every_default(tmp_path):
    path = write(tmp_path, f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n")
    config = load_config(path)["env_config"]
    assert config["carla"] == CarlaSettings().__dict__
    assert config["experiment"]["hero"] == EXPERIMENT_DEFAULTS["hero"]
    assert config["experiment"]["background_activity"]["tm_hybrid_mode"] is True
    # The experiment's own DEFAULT_CONFIG keys are filled in (no KeyError for omitted keys).
    assert config["experiment"]["max_steps"] == 50


def test_user_values_merge_recursively_lists_replace_and_rllib_keys_pass_through(tmp_path):
    path = write(
        tmp_path,
        f"""
        num_env_runners: 2
        lr: 0.001
        env_config:
          carla:
            timeout: 3
            server: embedded
          experiment:
            type: {EXPERIMENT}
            hero:
              spawn_points: ["1,2,3", "1,2,3,0,0,90"]
            background_activity:
              n_vehicles: 5
            throttles: [1.0]
            town: [Loop01, Grid01]
            weather: {{cloudiness: 80, sun_altitude_angle: -10.5}}
        """,
    )
    config = load_config(path)
    assert config["num_env_runners"] == 2 and config["lr"] == 0.001
    carla = config["env_config"]["carla"]
    assert carla["timeout"] == 3.0 and isinstance(carla["timeout"], float)
    assert carla["server"] == "embedded" and carla["timestep"] == 0.05
    experiment = config["env_config"]["experiment"]
    assert experiment["hero"]["blueprint"] == "vehicle.lincoln.mkz_2017"  # sibling kept
    assert experiment["hero"]["spawn_points"] == ["1,2,3", "1,2,3,0,0,90"]
    assert experiment["background_activity"]["n_walkers"] == 0
    assert experiment["throttles"] == [1.0]  # lists replace, not extend
    assert experiment["town"] == ["Loop01", "Grid01"]
    # Plain builtins only: RLlib ships env_config to its workers by pickling.
    assert pickle.loads(pickle.dumps(config)) == config
    # Resolving again is a no-op (CarlaEnv resolves what the training script already resolved).
    assert resolve_env_config(config["env_config"]) == config["env_config"]


def test_merge_does_not_share_or_modify_defaults():
    defaults = {"a": {"b": [1]}, "c": 1}
    merged = merge(defaults, {"a": {"d": 2}})
    merged["a"]["b"].append(2)
    assert defaults == {"a": {"b": [1]}, "c": 1}
    assert merged == {"a": {"b": [1, 2], "d": 2}, "c": 1}


def test_carla_settings_dataclass_from_a_partial_section():
    settings = carla_settings({"port": 2000, "gpu": 1})
    assert settings.port == 2000 and settings.gpu == 1 and settings.timeout == 10.0


BAD_CONFIGS = [
    # (YAML text, substrings the one error must contain)
    (
        "env_config:\n  carla:\n    tiemout: 5\n",
        ["env_config.carla.tiemout", "unknown key", "'timeout'"],
    ),
    (
        "env_config:\n  carla:\n    timeout: soon\n",
        ["env_config.carla.timeout", "expected float", "str"],
    ),
    (
        "env_config:\n  carla:\n    server: carl\n",
        ["env_config.carla.server", "auto, embedded, carla", "'carla'"],
    ),
    (
        "env_config:\n  carla:\n    port: 99999\n",
        ["env_config.carla.port", ">= 1 and <= 65532", "99999"],
    ),
    ("env_config:\n  carla:\n    timestep: 0\n", ["env_config.carla.timestep", "> 0"]),
    # Values the client or the server cannot use, refused before anything starts.
    ("env_config:\n  carla:\n    timeout: 1e300\n", ["carla.timeout", "<= 3600 s", "1e+300"]),
    ("env_config:\n  carla:\n    timeout: .nan\n", ["carla.timeout", "finite", "nan"]),
    ("env_config:\n  carla:\n    timestep: .inf\n", ["carla.timestep", "finite", "inf"]),
    ("env_config:\n  carla:\n    timestep: 2\n", ["carla.timestep", "<= 1 s"]),
    ("env_config:\n  carla:\n    base_port: 64997\n", ["carla.base_port", "<= 64996"]),
    ("env_config:\n  carla:\n    base_port: 80\n", ["carla.base_port", ">= 1024"]),
    ("env_config:\n  carla:\n    retries_on_error: 0\n", ["carla.retries_on_error", ">= 1"]),
    ("env_config:\n  carla:\n    resolution_x: -5\n", ["carla.resolution_x", ">= 1"]),
    ("env_config:\n  carla:\n    host: ''\n", ["carla.host", "host name"]),
    (
        "env_config:\n  carla:\n    show_display: 1\n",
        ["env_config.carla.show_display", "expected bool"],
    ),
    (
        "env_config:\n  carla:\n    quality_level: Ultra\n",
        ["quality_level", "Low, Medium, High, Epic"],
    ),
    ("env_config:\n  carla: [1, 2]\n", ["env_config.carla", "expected a mapping", "a list"]),
    ("env_config:\n  carla: {}\n  experimnt: {}\n", ["env_config.experimnt", "'experiment'"]),
    (
        "env_config:\n  experiment: {}\n",
        ["env_config.experiment.type", "missing", "package.module:ClassName"],
    ),
    (
        "env_config:\n  experiment:\n    type: DriveStraight\n",
        ["experiment.type", "not an import path"],
    ),
    (
        "env_config:\n  experiment:\n    type: no_such_pkg.mod:Exp\n",
        ["experiment.type", "cannot import module 'no_such_pkg.mod'"],
    ),
    (
        "env_config:\n  experiment:\n    type: tests.integration.experiments:DriveStrait\n",
        ["has no class 'DriveStrait'", "'DriveStraight'"],
    ),
    (
        "env_config:\n  experiment:\n    type: tests.integration.experiments:NotAnExperiment\n",
        ["not a subclass of BaseExperiment"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    max_step: 3\n",
        ["env_config.experiment.max_step", "unknown key", "'max_steps'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    max_steps: many\n",
        ["experiment.max_steps", "expected int"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      blueprnt: x\n",
        ["experiment.hero.blueprnt", "'blueprint'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        cam: {{type: sensor.camera.rbg}}\n",
        ["hero.sensors.cam.type", "unknown sensor type", "'sensor.camera.rgb'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        cam: {{image_size_x: 84}}\n",
        ["hero.sensors.cam.type", "missing"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        cam: {{type: sensor.camera.rgb, transform: '1,2,3'}}\n",
        ["hero.sensors.cam.transform", "6 numbers"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        bev: {{type: sensor.birdview, size: 1e9}}\n",
        ["bad.yaml:6: env_config.experiment.hero.sensors.bev:", "size must be 8 to 4096"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        bev: {{type: sensor.birdview, radius: .inf}}\n",
        ["hero.sensors.bev:", "radius must be a finite number"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        bev: {{type: sensor.birdview, pixels_per_meter: .nan}}\n",
        ["hero.sensors.bev:", "pixels_per_meter must be a finite number"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      sensors:\n        mine: {{type: 'nowhere.at_all:Sensor'}}\n",
        ["hero.sensors.mine.type:", "cannot import module 'nowhere.at_all'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      spawn_points: ['1,2']\n",
        ["hero.spawn_points.0", "'x,y,z'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    hero:\n      spawn_points: ['a,b,c']\n",
        ["hero.spawn_points.0", "expected numbers"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    background_activity:\n      n_vehicles: -1\n",
        ["background_activity.n_vehicles", ">= 0"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    background_activity:\n      seed: abc\n",
        ["background_activity.seed", "expected int or null"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    background_activity:\n      seed: 4294967296\n",
        ["background_activity.seed", "<= 2147483647"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    max_steps: 1.5\n",
        ["experiment.max_steps", "expected int"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    route: {{deviation: -1}}\n",
        ["experiment.route.deviation", "> 0"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    route: {{timeout: .nan}}\n",
        ["experiment.route.timeout", "finite"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    weather: {{fog_density: .inf}}\n",
        ["experiment.weather.fog_density", "finite"],
    ),
    (
        f"env_config:\n  carla: {{server: embedded}}\n  experiment:\n    type: {EXPERIMENT}\n    town: Town99\n",
        ["bad.yaml:5: env_config.experiment.town", "embedded server has no such town", "Loop01"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    weather: ClearNon\n",
        ["experiment.weather", "unknown weather preset", "'ClearNoon'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    weather: {{cloudyness: 3}}\n",
        ["experiment.weather.cloudyness", "'cloudiness'"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    town: 7\n",
        ["experiment.town", "expected str or a list or null"],
    ),
    (
        f"env_config:\n  experiment:\n    type: {EXPERIMENT}\n    town: []\n",
        ["experiment.town", "list of names"],
    ),
    ("env_config:\n  carla:\n    timeout: [1\n", ["invalid YAML", "bad.yaml:4:"]),
    ("- just\n- a list\n", ["top level must be a mapping"]),
]


@pytest.mark.parametrize(
    "text, expected", BAD_CONFIGS, ids=[str(i) for i in range(len(BAD_CONFIGS))]
)
def test_malformed_config_gives_one_clear_error(tmp_path, text, expected):
    path = write(tmp_path, text, name="bad.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message  # names the file
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message  # one line, one error


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_errors_name_the_line_of_the_offending_key(tmp_path):
    text = f"""\
lr: 0.1
env_config:
  experiment:
    type: {EXPERIMENT}
    hero:
      spawn_points:
        - "1,2,3"
        - "1,2"
  carla:
    timeout: 3
"""
    path = write(tmp_path, text)
    with pytest.raises(
        ConfigError, match=rf"^{path}:8: env_config\.experiment\.hero\.spawn_points\.1:"
    ):
        load_config(path)
    path = write(tmp_path, text.replace('- "1,2"', '- "1,2,4"').replace("timeout: 3", "tmeout: 3"))
    with pytest.raises(ConfigError, match=rf"^{path}:10: env_config\.carla\.tmeout: unknown key"):
        load_config(path)


# ---------------------------------------------------------------- hostile and careless YAML

LAUGHS = """\
env_config:
  experiment:
    type: {experiment}
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def test_alias_expansion_is_refused_with_bounded_memory(tmp_path):
    """A 'billion laughs' file (9^8 nodes once expanded) is refused at the value that blows up,
    without expanding it: before, walking it for key lines took minutes and gigabytes."""
    path = write(tmp_path, LAUGHS.format(experiment=EXPERIMENT))
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{path}:9:"), message  # `f:`, the first value beyond the budget
    assert "expands to" in message and "100000" in message, message
    assert peak < 20e6, f"{peak / 1e6:.0f} MB traced while refusing it"


def test_aliases_and_merge_keys_within_the_budget_still_work(tmp_path):
    path = write(
        tmp_path,
        f"""
        env_config:
          experiment:
            type: {EXPERIMENT}
            hero:
              sensors:
                left: &camera {{type: sensor.camera.rgb, image_size_x: 84}}
                right:
                  <<: *camera
                  image_size_x: 64
        """,
    )
    sensors = load_config(path)["env_config"]["experiment"]["hero"]["sensors"]
    assert sensors["left"] == {"type": "sensor.camera.rgb", "image_size_x": 84}
    assert sensors["right"] == {"type": "sensor.camera.rgb", "image_size_x": 64}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "env_config:\n  carla:\n    timeout: 5\n    port: 2000\n    timeout: 50\n",
            ["bad.yaml:5:5:", "duplicate key 'timeout'", "first at line 3"],
        ),
        (
            "env_config: {}\nlr: 1\nenv_config: {}\n",
            ["bad.yaml:3:1:", "duplicate key 'env_config'"],
        ),
        ("env_config: &a\n  carla: *a\n", ["bad.yaml:", "an alias refers to itself"]),
        ("env_config: " + "[" * 600 + "]" * 600 + "\n", ["bad.yaml:", "nested too deeply"]),
    ],
    ids=["duplicate-nested", "duplicate-top", "recursive", "deep"],
)
def test_yaml_that_cannot_be_a_config_is_one_clear_error(tmp_path, text, expected):
    path = write(tmp_path, text, name="bad.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
