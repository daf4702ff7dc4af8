"""Every number a client sends is range-checked before the world stores it (pure Python).

A refused value gets an error reply naming the field; the world is left as it was and its state
still packs, with every float finite (what a tick streams to every client).
"""

import math

import msgpack
import pytest

from rllib_integration.embedded.blueprints import default_library, readable_value
from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.handlers import RpcApi
from rllib_integration.embedded.protocol.rpc_server import Dispatcher, Pending
from rllib_integration.embedded.protocol.stream_server import StreamHub
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.world import World

NAN, INF = math.nan, math.inf
POSE = [[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
CONTROL = [0.5, 0.0, 0.0, False, False, False, 0]
BAD_REALS = [1e39, -1e39, 3e38, 2e7, NAN, INF, -INF, "1.0", None, True, [1.0]]
BAD_FLAGS = ["yes", 2, None, 0.5]
BAD_I32 = [2**31, -(2**31) - 1, 2**63, 1.5, NAN, "3"]


class Server:
    """A world with a vehicle and a walker, and the RPC table over it."""

    def __init__(self) -> None:
        streams = WorldStreams(StreamHub(), 2001)
        self.world = World(default_library(), None, streams)
        self.api = RpcApi(self.world, streams, lambda name: None, lambda: [], self.world.tick)
        self.dispatcher = Dispatcher(self.api.handlers())
        self.car = self.world.spawn("vehicle.audi.a2", {}, (0.0, 0.0, 0.5, 0.0, 0.0, 0.0))
        self.walker = self.world.spawn(
            "walker.pedestrian.0001", {}, (50.0, 0.0, 1.0, 0.0, 0.0, 0.0)
        )

    def call(self, method: str, *args: object) -> list:
        raw = self.dispatcher.handle([0, 7, method, [[False], *args]])
        if isinstance(raw, Pending):  # an Offload (e.g. a TM probe): its work done right here
            raw = raw.run_here()
        kind, msgid, error, result = msgpack.unpackb(raw, raw=False)
        assert (kind, msgid, error) == (1, 7, None)
        return result


def _error_text(result: list) -> str | None:
    """The error of a Response<T> / Response<void>, or None on success."""
    tag = result[0][0]  # Response<T>: 1 ok, 0 error; Response<void>: False ok, True error
    failed = tag is True or (type(tag) is int and tag == 0)
    return result[0][1][0] if failed else None


def _finite_state(world: World) -> None:
    """The episode state packs and every float in it is finite."""
    message = codec.state_message(world)
    offset = 4 + codec.SENSOR_HEADER.size + codec.EPISODE_HEADER.size
    assert (len(message) - offset) % codec.ACTOR_RECORD_SIZE == 0
    for start in range(offset, len(message), codec.ACTOR_RECORD_SIZE):
        record = codec.VEHICLE_RECORD.unpack_from(message, start)
        floats = record[2:14] + record[14:17] + (record[21],)
        assert all(math.isfinite(x) for x in floats), record


def _cases():
    """(method, args builder from the bad value, the field the error must name, bad values)."""
    car, walker = 2, 3  # ids: the spectator is 1, then the car and the walker

    def at(i, j):  # transform with the bad value at [i][j]
        def build(x):
            t = [list(POSE[0]), list(POSE[1])]
            t[i][j] = x
            return t

        return build

    def control(i):
        return lambda x: CONTROL[:i] + [x] + CONTROL[i + 1 :]

    desc = [0, "vehicle.audi.a2", []]
    yield "spawn_actor", lambda x: [desc, at(0, 0)(x)], "location.x", BAD_REALS
    yield "spawn_actor", lambda x: [desc, at(1, 1)(x)], "rotation.yaw", BAD_REALS
    cam = [0, "sensor.camera.rgb", []]
    yield "spawn_actor_with_parent", lambda x: [cam, at(0, 2)(x), car], "location.z", BAD_REALS
    yield "set_actor_transform", lambda x: [car, at(0, 0)(x)], "location.x", BAD_REALS
    yield "set_actor_transform", lambda x: [car, at(1, 2)(x)], "rotation.roll", BAD_REALS
    yield "set_actor_location", lambda x: [car, [0.0, x, 0.0]], "location.y", BAD_REALS
    yield "set_actor_target_velocity", lambda x: [car, [x, 0.0, 0.0]], "velocity.x", BAD_REALS
    yield "enable_actor_constant_velocity", lambda x: [car, [0, 0, x]], "velocity.z", BAD_REALS
    yield "add_actor_impulse", lambda x: [car, [x, 0.0, 0.0]], "impulse.x", BAD_REALS
    yield "apply_control_to_vehicle", lambda x: [car, control(0)(x)], "throttle", BAD_REALS
    yield "apply_control_to_vehicle", lambda x: [car, control(1)(x)], "steer", BAD_REALS
    yield "apply_control_to_vehicle", lambda x: [car, control(3)(x)], "hand_brake", BAD_FLAGS
    yield "apply_control_to_vehicle", lambda x: [car, control(6)(x)], "gear", BAD_I32
    ackermann = lambda x: [car, [0.0, 0.0, x, 0.0, 0.0]]  # noqa: E731
    yield "apply_ackermann_control_to_vehicle", ackermann, "speed", BAD_REALS
    walk = lambda x: [walker, [[1.0, x, 0.0], 1.0, False]]  # noqa: E731
    yield "apply_control_to_walker", walk, "direction.y", BAD_REALS
    yield "apply_control_to_walker", lambda x: [walker, [[1, 0, 0], x, False]], "speed", BAD_REALS
    yield "set_walker_state", lambda x: [walker, at(0, 1)(x), 1.0], "location.y", BAD_REALS
    yield "set_walker_state", lambda x: [walker, POSE, x], "speed", BAD_REALS
    weather = lambda x: [[5.0] * 6 + [x] + [0.0] * 7]  # noqa: E731
    yield "set_weather_parameters", weather, "fog_density", BAD_REALS
    yield "set_vehicle_light_state", lambda x: [car, [x]], "light state", [2**32, -1, 0.5, "1"]
    yield "set_actor_simulate_physics", lambda x: [car, x], "enabled", BAD_FLAGS
    tm = lambda x: [["127.0.0.1", x]]  # noqa: E731
    yield "add_traffic_manager_running", tm, "port", [0, 70000, -1, "8000", 1.5]
    host = lambda x: [[x, 8000]]  # noqa: E731
    yield "add_traffic_manager_running", host, "host", ["example.com", "", 7, "a" * 10_000]


@pytest.mark.parametrize(
    "method, build, field, value",
    [(m, b, f, v) for m, b, f, values in _cases() for v in values],
    ids=lambda p: p if isinstance(p, str) else repr(p)[:20] if not callable(p) else "",
)
def test_a_bad_number_is_refused_naming_its_field(method, build, field, value):
    server = Server()
    before = [a.pose() for a in server.world.actors.values()]
    message = _error_text(server.call(method, *build(value)))
    assert message is not None, f"{method} accepted {value!r}"
    assert method in message and field in message, message
    assert [a.pose() for a in server.world.actors.values()] == before
    server.world.tick()
    _finite_state(server.world)


def test_values_in_range_are_still_accepted():
    s = Server()
    car, walker = s.car.id, s.walker.id
    assert (
        _error_text(s.call("set_actor_transform", car, [[1e6, -1e6, 5.0], [10, 720, -5]])) is None
    )
    assert s.car.pose() == (1e6, -1e6, 5.0, 10.0, 720.0, -5.0)
    assert (
        _error_text(s.call("apply_control_to_vehicle", car, [2.0, -3.0, 0.5, 1, 0, 1, 3.0])) is None
    )
    assert s.car.vehicle.control.throttle == 1.0 and s.car.vehicle.control.gear == 3
    assert _error_text(s.call("set_walker_state", walker, POSE, 2)) is None
    assert _error_text(s.call("add_traffic_manager_running", ["::1", 8000])) is None
    s.world.tick()
    _finite_state(s.world)


@pytest.mark.parametrize(
    "path, value",
    [
        ((11,), NAN),  # mass
        ((11,), 1e39),
        ((1,), INF),  # max_rpm
        ((0, 0, 1), NAN),  # torque_curve[0].y
        ((15, 0, 2), INF),  # wheels[0].max_steer_angle
        ((15, 1, 9, 0), 1e39),  # wheels[1].position.x
        ((13,), [0.0, 0.0]),  # center_of_mass with two fields
        ((6,), "yes"),  # use_gear_autobox
        ((15,), [[0.0] * 10] * 100),  # 100 wheels
    ],
)
def test_physics_control_is_checked_whole_before_it_is_kept(path, value):
    """The physics control is echoed by get_physics_control: nothing malformed is kept."""
    s = Server()
    mass = s.car.body.mass
    control = s.call("get_physics_control", s.car.id)[0][1]
    target = control
    for i in path[:-1]:
        target = target[i]
    target[path[-1]] = value
    message = _error_text(s.call("apply_physics_control", s.car.id, control))
    assert message is not None and "apply_physics_control" in message
    assert s.car.body.mass == mass
    assert s.call("get_physics_control", s.car.id)[0][1] != control
    # A valid one (with integers where floats are expected) is stored normalised.
    good = s.call("get_physics_control", s.car.id)[0][1]
    good[11] = 2000
    assert _error_text(s.call("apply_physics_control", s.car.id, good)) is None
    echoed = s.call("get_physics_control", s.car.id)[0][1]
    assert echoed[11] == 2000.0 and isinstance(echoed[11], float)


@pytest.mark.parametrize(
    "delta, expected",
    [(1e9, "out of range"), (INF, "not finite"), (NAN, "not finite"), (-0.05, "out of range")],
)
def test_fixed_delta_seconds_must_be_a_usable_step(delta, expected):
    s = Server()
    wire = codec.settings_to_wire(s.world.settings)
    wire[0], wire[2] = True, [True, delta]
    message = _error_text(s.call("set_episode_settings", wire))
    assert message is not None and "fixed_delta_seconds" in message and expected in message
    assert s.world.settings.synchronous_mode is False  # nothing of the refused settings applied
    wire[2] = [True, 1.0]
    assert _error_text(s.call("set_episode_settings", wire)) is None
    assert s.world.settings.fixed_delta_seconds == 1.0


@pytest.mark.parametrize(
    "index, value, field",
    [(5, 2**40, "max_substeps"), (6, NAN, "max_culling_distance"), (0, "on", "synchronous_mode")],
)
def test_other_settings_fields_are_checked(index, value, field):
    s = Server()
    wire = codec.settings_to_wire(s.world.settings)
    wire[index] = value
    message = _error_text(s.call("set_episode_settings", wire))
    assert message is not None and field in message


def _batch_cases():
    def cmd(index, *body):
        return [[index, list(body)]]

    car = 2
    bad_pose = [[1e39, 0.0, 0.0], [0.0, 0.0, 0.0]]
    spawn = [[0, "vehicle.audi.a2", []], bad_pose, [False], 0, "", []]
    yield cmd(codec.CMD_SPAWN, *spawn), "location.x"
    yield cmd(codec.CMD_TRANSFORM, car, bad_pose), "location.x"
    yield cmd(codec.CMD_LOCATION, car, [0.0, NAN, 0.0]), "location.y"
    yield cmd(codec.CMD_VEHICLE_CONTROL, car, [NAN, 0, 0, False, False, False, 0]), "throttle"
    yield cmd(codec.CMD_TARGET_VELOCITY, car, [INF, 0.0, 0.0]), "velocity.x"
    yield cmd(codec.CMD_IMPULSE, car, [1e39, 0.0, 0.0]), "impulse.x"
    yield cmd(codec.CMD_WALKER_STATE, 3, POSE, NAN), "speed"
    yield cmd(codec.CMD_LIGHT_STATE, car, [2**33]), "light state"
    yield cmd(codec.CMD_SIMULATE_PHYSICS, car, "no"), "enabled"


@pytest.mark.parametrize("command, field", list(_batch_cases()))
def test_batch_commands_refuse_bad_numbers_one_by_one(command, field):
    s = Server()
    good = [[codec.CMD_VEHICLE_CONTROL, [s.car.id, [0.25, 0, 0, False, False, False, 0]]]]
    results = s.call("apply_batch", [command, good], True)
    assert results[0][0][0] == 0 and field in results[0][0][1][0], results
    assert results[1] == [[1, s.car.id]] and s.car.vehicle.control.throttle == 0.25
    _finite_state(s.world)


def test_apply_batch_do_tick_must_be_a_boolean():
    s = Server()
    result = s.call("apply_batch", [], "yes")
    assert result == [] and s.world.frame == 0


@pytest.mark.parametrize(
    "blueprint, attributes, field",
    [
        # Echoed in every actor description: the client parses each value by its type and
        # fails on what it cannot read (a whole world.get_actors() failed on one "1e39").
        ("sensor.other.obstacle", {"distance": "1e39"}, "distance"),
        ("sensor.other.obstacle", {"distance": "nan"}, "distance"),
        ("sensor.other.obstacle", {"hit_radius": "1e-40"}, "hit_radius"),
        ("sensor.other.obstacle", {"only_dynamics": "maybe"}, "only_dynamics"),
        ("sensor.camera.rgb", {"image_size_x": "3000000000"}, "image_size_x"),
        ("sensor.camera.rgb", {"image_size_x": "12.5"}, "image_size_x"),
        ("vehicle.audi.a2", {"color": "300,0,0"}, "color"),
        ("vehicle.audi.a2", {"color": "red"}, "color"),
        ("walker.pedestrian.0001", {"speed": "inf"}, "speed"),
        # Sizes that would take the server's memory (a 1e9 x 1e39 depth camera took 7.6 GB).
        ("sensor.camera.depth", {"image_size_x": "1e9"}, "image_size_x"),
        ("sensor.camera.rgb", {"image_size_x": "4000", "image_size_y": "4000"}, "pixels"),
        ("sensor.lidar.ray_cast", {"points_per_second": "1000000000"}, "points_per_second"),
        ("sensor.lidar.ray_cast", {"channels": "100000"}, "channels"),
        ("sensor.other.radar", {"points_per_second": "100000000"}, "points_per_second"),
    ],
)
def test_spawn_attributes_are_checked_for_what_the_client_reads_back(blueprint, attributes, field):
    s = Server()
    before = set(s.world.actors)
    description = [0, blueprint, [[k, 2, v] for k, v in attributes.items()]]
    message = _error_text(s.call("spawn_actor", description, [[60.0, 60.0, 1.0], [0, 0, 0]]))
    assert message is not None and field in message, message
    assert set(s.world.actors) == before


def test_spawn_attributes_in_range_are_kept():
    s = Server()
    description = [
        0,
        "sensor.camera.rgb",
        [["image_size_x", 2, "1920"], ["image_size_y", 2, "1080"]],
    ]
    result = s.call("spawn_actor", description, [[60.0, 60.0, 1.0], [0, 0, 0]])
    assert _error_text(result) is None
    camera = s.world.actors[result[0][1][0]]
    assert (camera.attributes["image_size_x"], camera.sensor.height) == ("1920", 1080)
    description = [0, "vehicle.audi.a2", [["color", 5, "255,0,10"], ["sticky_control", 1, "False"]]]
    assert _error_text(s.call("spawn_actor", description, [[70.0, 70.0, 0.5], [0, 0, 0]])) is None


def test_every_blueprint_default_and_recommended_value_is_readable():
    """The real client sends every attribute of a blueprint when it spawns one."""
    for bp in default_library().blueprints:
        for a in bp.attributes:
            for value in (a.value, *a.recommended):
                readable_value(a.type, a.id, value)
