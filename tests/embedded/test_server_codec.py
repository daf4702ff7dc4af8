"""Wire encodings and the RPC dispatcher, without a client (pure Python)."""

import struct

import msgpack
import pytest

from rllib_integration.embedded.blueprints import default_library
from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.rpc_server import Dispatcher, Handler, ProtocolError


def test_binary_layouts_match_carla_0916():
    assert codec.SENSOR_HEADER.size == 48
    assert codec.EPISODE_HEADER.size == 36
    assert codec.IMAGE_HEADER.size == 12
    assert codec.ACTOR_DTYPE.itemsize == 119


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
    assert d.unknown_calls == ["no_such_rpc"]


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
    wire = library.to_wire()
    assert all(len(d) == 4 and isinstance(d[2], str) for d in wire)
