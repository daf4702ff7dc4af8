"""Wire encodings and the RPC dispatcher, without a client (pure Python)."""

import logging
import struct

import carla
import msgpack
import pytest

from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.map_source import load_map
from rllib_integration.embedded.physics import VehicleControl
from rllib_integration.embedded.protocol import codec, limits
from rllib_integration.embedded.protocol.rpc_server import Dispatcher, Handler, ProtocolError
from rllib_integration.embedded.sensors import camera
from rllib_integration.embedded.world import DEFAULT_WEATHER, WEATHER_FIELDS, EpisodeSettings, World


def test_binary_layouts_match_carla_0916():
    assert codec.SENSOR_HEADER.size == 48
    assert codec.EPISODE_HEADER.size == 36
    assert camera.IMAGE_HEADER.size == 12
    assert codec.VEHICLE_RECORD.size == codec.OTHER_RECORD.size == 119


def test_token_layout():
    token = codec.token(7, 2001)
    assert len(token) == 24
    stream_id, port, protocol, address_type = struct.unpack_from("<IHBB", token)
    assert (stream_id, port, protocol, address_type) == (7, 2001, 1, 0)


def _call(dispatcher: Dispatcher, method, *args):
    raw = dispatcher.handle([0, 5, method, [[False], *args]])
    kind, msgid, error, result = msgpack.unpackb(raw, raw=False)
    assert (kind, msgid) == (1, 5)
    return error, result


def test_dispatcher_wraps_responses_and_names_unknown_methods():
    def fail(x):
        raise ValueError("bad x")

    d = Dispatcher(
        {
            "answer": Handler(lambda: 42, "value"),
            "noop": Handler(lambda: None, "void"),
            "fails": Handler(fail, "value"),
            "fails_void": Handler(fail, "void"),
        }
    )
    assert _call(d, "answer") == (None, [[1, 42]])
    assert _call(d, "noop") == (None, [[False]])
    assert _call(d, "fails", 1) == (None, [[0, ["fails: bad x"]]])
    assert _call(d, "fails_void", 1) == (None, [[True, ["fails_void: bad x"]]])
    # wrong number of arguments is an error reply, not an exception
    error, result = _call(d, "answer", 1, 2)
    assert error is None and result[0][0] == 0
    error, result = _call(d, "no_such_rpc")
    assert "no_such_rpc" in error and result is None
    assert d.unknown_calls == {"no_such_rpc": 1}


def test_unknown_names_are_kept_bounded_and_logged_short(caplog):
    """10 calls with 10 MiB names used to keep every name and log it whole (100 MiB of log)."""
    d = Dispatcher({})
    caplog.set_level(logging.INFO, logger="rllib_integration.embedded.protocol.rpc_server")
    huge = [chr(ord("a") + i) * (10 * 2**20) for i in range(10)]
    for name in huge:
        error, _ = _call(d, name)
        assert len(error) < 200 and "10485760 characters" in error
    for i in range(1000):
        _call(d, f"no_such_rpc_{i}")
    assert len(d.unknown_calls) <= limits.MAX_UNKNOWN_NAMES + 1
    assert sum(d.unknown_calls.values()) == 1010
    assert all(len(name) <= limits.LOGGED_NAME_CHARS for name in d.unknown_calls)
    logged = [r.getMessage() for r in caplog.records]
    assert sum(len(line) for line in logged) < 20_000
    assert len(logged) <= limits.MAX_UNKNOWN_NAMES + 1
    assert any("'aaaa" in line and "10485760 characters" in line for line in logged)


def test_repeated_failures_are_logged_once_per_interval_with_a_count(caplog):
    def fail(x):
        raise ValueError(f"bad x {x}")

    d = Dispatcher({"fails": Handler(fail, "value")})
    caplog.set_level(logging.INFO, logger="rllib_integration.embedded.protocol.rpc_server")
    for _ in range(500):
        assert _call(d, "fails", 1) == (None, [[0, ["fails: bad x 1"]]])
    assert [r.getMessage() for r in caplog.records] == ["RPC fails failed: fails: bad x 1"]
    d.lines.interval = 0.0  # the next line reports what was held back
    _call(d, "fails", 1)
    assert "499 like it" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("message", [42, "x", [9, 1, "version", []], [0, 1]])
def test_dispatcher_rejects_non_requests(message):
    with pytest.raises(ProtocolError):
        Dispatcher({}).handle(message)


def test_blueprint_library_has_carla_ids_and_attributes():
    library = default_library()
    for vehicle in ("vehicle.lincoln.mkz_2017", "vehicle.tesla.model3", "vehicle.audi.a2"):
        bp = library.get(vehicle)
        attrs = {a.id: a for a in bp.attributes}
        assert {"role_name", "color", "number_of_wheels", "base_type", "generation"} <= set(attrs)
        assert len(attrs["color"].recommended) >= 3
        assert 1.5 < bp.extent[0] < 3.0 and 0.7 < bp.extent[1] < 1.3
    rgb = {a.id: a.value for a in library.get("sensor.camera.rgb").attributes}
    assert (rgb["image_size_x"], rgb["image_size_y"], rgb["fov"]) == ("800", "600", "90.0")
    lidar = {a.id: a.value for a in library.get("sensor.lidar.ray_cast").attributes}
    assert lidar["channels"] == "32" and lidar["range"] == "10.0"
    assert library.get("walker.pedestrian.0001") is not None
    assert library.get("controller.ai.walker") is not None
    wire = codec.actor_definitions(library)
    assert all(len(d) == 4 and isinstance(d[2], str) for d in wire)


# ---------------------------------------------------------------- pinned to the carla client


def _properties(carla_type) -> list[str]:
    """The carla type's fields, in definition order."""
    return [name for name, value in vars(carla_type).items() if isinstance(value, property)]


def _changed(value):
    if isinstance(value, bool):
        return not value
    return 0.25 if value is None else value + 3


@pytest.mark.parametrize(
    "carla_type, names, defaults",
    [
        (carla.VehicleControl, *zip(*vars(VehicleControl()).items(), strict=True)),
        (carla.WorldSettings, *zip(*vars(EpisodeSettings()).items(), strict=True)),
        (carla.WeatherParameters, WEATHER_FIELDS, tuple(DEFAULT_WEATHER.values())),
    ],
    ids=["VehicleControl", "EpisodeSettings", "WeatherParameters"],
)
def test_field_lists_are_the_carla_types_in_constructor_order(carla_type, names, defaults):
    """The wire order of these values is the order of the carla type's fields."""
    assert set(names) == set(_properties(carla_type))
    base = [0.0 if value is None else value for value in defaults]
    for i, name in enumerate(names):
        args = list(base)
        args[i] = _changed(defaults[i])
        assert getattr(carla_type(*args), name) == pytest.approx(args[i]), name


def test_physics_control_shape_has_the_carla_fields_in_order():
    def names(shape):
        return [name for name, _ in shape]

    shape = dict(codec.PHYSICS_CONTROL_SHAPE)
    assert names(codec.PHYSICS_CONTROL_SHAPE) == list(_properties(carla.VehiclePhysicsControl))
    assert names(shape["wheels"].item) == list(_properties(carla.WheelPhysicsControl))
    assert names(shape["forward_gears"].item) == list(_properties(carla.GearPhysicsControl))


# ---------------------------------------------------------------- values


def test_settings_round_trip_and_fixed_delta_is_an_optional():
    settings = EpisodeSettings(
        synchronous_mode=True, fixed_delta_seconds=0.05, max_substeps=7, spectator_as_ego=False
    )
    wire = codec.settings_to_wire(settings)
    assert len(wire) == 11 and wire[2] == [True, 0.05] and wire[5] == 7
    assert codec.settings_from_wire(wire) == settings
    assert codec.settings_to_wire(EpisodeSettings())[2] == [False]
    # a non-positive delta means "variable time step"; numbers arrive as any msgpack type
    wire[2], wire[0], wire[5] = [True, 0.0], 1, 7.0
    parsed = codec.settings_from_wire(wire)
    assert parsed.fixed_delta_seconds is None and parsed.synchronous_mode is True
    assert isinstance(parsed.max_substeps, int)
    with pytest.raises(ValueError, match="EpisodeSettings must be an array of 11 fields"):
        codec.settings_from_wire(wire[:10])


def test_vehicle_control_is_clamped_and_typed():
    control = codec.vehicle_control_from_wire([2.0, -3.0, 0.5, 1, 0, 1, 3.0])
    assert control == VehicleControl(1.0, -1.0, 0.5, True, False, True, 3)
    assert isinstance(control.gear, int) and control.hand_brake is True
    with pytest.raises(ValueError, match="VehicleControl must be an array of 7 fields"):
        codec.vehicle_control_from_wire([0.5, 0.0])


def test_weather_wire_is_fourteen_floats_in_order():
    weather = {name: float(i) for i, name in enumerate(WEATHER_FIELDS)}
    wire = codec.weather_to_wire(weather)
    assert wire == [float(i) for i in range(14)]
    assert codec.weather_from_wire(wire) == weather
    with pytest.raises(ValueError, match="WeatherParameters needs 14 fields"):
        codec.weather_from_wire(wire[:13])


class _NoStreams:
    def has_subscribers(self, stream_id):
        return False


def test_state_message_layout_matches_the_reference():
    """Offsets from reference/carla_wire_protocol.md §2.4 (ActorDynamicState, 119 B)."""
    world = World(default_library(), None, _NoStreams())
    car = world.spawn("vehicle.tesla.model3", {}, (10.0, -2.0, 0.5, 0.0, 90.0, 0.0))
    car.vehicle.control = VehicleControl(0.5, -0.25, 0.75, True, False, True, 2)
    world.frame, world.elapsed, world.delta = 42, 2.1, 0.05
    message = codec.state_message(world)
    (size,) = struct.unpack_from("<I", message)
    assert size == len(message) - 4 == 48 + 36 + 2 * 119  # the spectator and the car
    assert struct.unpack_from("<QQd", message, 4) == (17, 42, 2.1)
    assert struct.unpack_from("<Q", message, 4 + 48)[0] == world.episode_id
    record = message[4 + 48 + 36 + 119 :]
    assert struct.unpack_from("<IB", record) == (car.id, 1)
    assert struct.unpack_from("<3f", record, 5) == (10.0, -2.0, 0.5)
    assert struct.unpack_from("<3f", record, 65) == (0.5, -0.25, 0.75)
    assert struct.unpack_from("<3Bi", record, 77) == (1, 0, 1, 2)
    # speed limit; no light: Green (CARLA's default, not Off), no light id
    assert struct.unpack_from("<fBBI", record, 84) == (30.0, 2, 0, 0)
    assert record[95:] == bytes(24)
    spectator = message[4 + 48 + 36 : 4 + 48 + 36 + 119]
    assert spectator[65:] == bytes(54)  # not a vehicle: the union stays zero


class _Discard(_NoStreams):
    def publish_state(self, world):
        pass


def test_traffic_light_and_sign_records_match_the_reference():
    """traffic_light_data / traffic_sign_data (reference/carla_traffic_signals.md §8)."""
    world = World(default_library(), load_map("Grid01"), _Discard())
    world.settings.fixed_delta_seconds = 0.05
    for _ in range(3):
        world.tick()
    message = codec.state_message(world)
    records = message[4 + 48 + 36 :]
    assert len(records) == 119 * (1 + 40)  # spectator + 40 lights, each once
    by_id = {
        struct.unpack_from("<I", records, k)[0]: records[k : k + 119]
        for k in range(0, len(records), 119)
    }
    lights = world.signals
    first = lights.actor_ids[0]
    record = by_id[first]
    assert struct.unpack_from("<IB", record) == (first, 1)
    assert struct.unpack_from("<6f", record, 5) == pytest.approx(lights.poses[0], abs=1e-4)
    assert record[29:65] == bytes(36)  # standing still
    assert record[65:97].rstrip(b"\0").decode() == lights.opendrive_ids[0]
    green, yellow, red, elapsed, pole, frozen, state = struct.unpack_from("<4fIBB", record, 97)
    assert (green, yellow, red, pole, frozen) == (10.0, 3.0, 2.0, 0, 0)
    assert state in (0, 2) and elapsed == pytest.approx(0.15 if state == 2 else 0.0)
    # a sign's union holds its id only
    signs = World(default_library(), load_map("Roundabout01"), _NoStreams())
    message = codec.state_message(signs)
    record = message[4 + 48 + 36 : 4 + 48 + 36 + 119]
    assert record[65:97].rstrip(b"\0").decode() == signs.signals.opendrive_ids[0]
    assert record[97:] == bytes(22)
