"""The blueprint library the real client receives is CarlaUE4 0.9.16's, as CARLA documents it.

The reference is `embedded/documented_blueprints.py`, a table of facts from CARLA's blueprint
library and sensor references; here it is compared with what `world.get_blueprint_library()`
returns through the `carla` client, and every documented blueprint is spawned.
"""

import math
import socket

import msgpack
import pytest

from rllib_integration.embedded.documented_blueprints import DOCUMENTED_BLUEPRINTS
from tests.conftest import start_embedded_server
from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

DUMP_LIBRARY = """
def value(a):
    kind = str(a.type)
    if kind == "RGBColor":
        c = a.as_color()
        return f"{c.r},{c.g},{c.b}"
    return str({"Bool": a.as_bool, "Int": a.as_int, "Float": a.as_float}.get(kind, a.as_str)())
library_dump = {}
for bp in world.get_blueprint_library():
    library_dump[bp.id] = {
        a.id: [str(a.type), a.is_modifiable, list(a.recommended_values), value(a)] for a in bp
    }
result(library=library_dump)
"""


@pytest.fixture(scope="module")
def server():
    with start_embedded_server() as handle:
        yield handle


@pytest.fixture(scope="module")
def library(server) -> dict:
    r, _ = run_on_server(server, DUMP_LIBRARY, sync=False)
    return r["library"]


def _same(type_: str, a: str, b: str) -> bool:
    if type_ in ("Int", "Float"):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    if type_ == "Bool":
        return a.lower() == b.lower()
    return a == b


def test_every_documented_blueprint_and_attribute_is_served_as_documented(library):
    problems = []
    for doc in DOCUMENTED_BLUEPRINTS:
        served = library.get(doc.id)
        if served is None:
            problems.append(f"{doc.id}: missing")
            continue
        for attr in doc.attributes or ():
            got = served.get(attr.id)
            if got is None:
                problems.append(f"{doc.id}.{attr.id}: missing")
                continue
            type_, modifiable, recommended, _value = got
            if type_ != attr.type or modifiable != attr.modifiable:
                problems.append(f"{doc.id}.{attr.id}: {type_}/{modifiable}, documented {attr}")
            pinned = attr.recommended
            if pinned is not None and not (
                len(pinned) == len(recommended)
                and all(_same(type_, a, b) for a, b in zip(pinned, recommended, strict=True))
            ):
                problems.append(f"{doc.id}.{attr.id}: recommended {recommended}, not {pinned}")
    assert problems == [], "\n".join(problems)


def test_modifiable_attributes_offer_recommended_values_and_default_to_the_first(library):
    # CarlaUE4 refuses a definition whose variation has no recommended value, and its default is
    # the first one; fixed attributes recommend nothing.
    problems = []
    for bp_id, attributes in library.items():
        for attr_id, (type_, modifiable, recommended, value) in attributes.items():
            if not modifiable:
                if recommended:
                    problems.append(f"{bp_id}.{attr_id}: fixed, yet recommends {recommended}")
            elif not recommended or not _same(type_, value, recommended[0]):
                problems.append(f"{bp_id}.{attr_id}: value {value!r}, recommended {recommended}")
    assert problems == [], "\n".join(problems)


def test_restricted_attributes_are_flagged_on_the_wire(server):
    # The 0.9.16 client does not enforce the flag in set_attribute, so it is read off the wire.
    with socket.create_connection((server.host, server.rpc_port), timeout=10) as s:
        s.sendall(msgpack.packb([0, 1, "get_actor_definitions", [[False]]]))
        unpacker = msgpack.Unpacker(raw=False)
        reply = None
        while reply is None:
            unpacker.feed(s.recv(1 << 20))
            reply = next(unpacker, None)
    served = {d[1]: {a[0]: a[5] for a in d[3]} for d in reply[3][0][1]}
    problems = [
        f"{doc.id}.{attr.id}: restricted={served[doc.id].get(attr.id)}"
        for doc in DOCUMENTED_BLUEPRINTS
        for attr in doc.attributes or ()
        if doc.id in served and served[doc.id].get(attr.id, attr.restricted) != attr.restricted
    ]
    assert problems == [], "\n".join(problems)


SPAWN_EVERYTHING = """
import time
ids = [bp.id for bp in library]
frames = {}
failures = {}
host = world.spawn_actor(library.find("vehicle.lincoln.mkz_2017"), spawn_points[0])
far = carla.Transform(carla.Location(spawn_points[0].location.x, spawn_points[0].location.y,
                                     spawn_points[0].location.z + 30.0))
for bp_id in DOCUMENTED:
    try:
        bp = library.find(bp_id)
        if bp_id.startswith("sensor."):
            if bp.has_attribute("image_size_x"):
                bp.set_attribute("image_size_x", "64")
                bp.set_attribute("image_size_y", "48")
            if bp.has_attribute("dropoff_general_rate"):  # as visualize_multiple_sensors.py does
                for name in ("dropoff_general_rate", "dropoff_intensity_limit",
                             "dropoff_zero_intensity"):
                    bp.set_attribute(name, bp.get_attribute(name).recommended_values[0])
            actor = world.spawn_actor(bp, carla.Transform(carla.Location(z=2.0)), attach_to=host)
            got = []
            actor.listen(lambda data, got=got: got.append(
                [type(data).__name__, getattr(data, "width", None), getattr(data, "height", None)]))
            for _ in range(3):
                world.tick()
            time.sleep(0.1)
            actor.stop()
            frames[bp_id] = got[:1]
        elif bp_id.startswith("controller."):
            walker = world.spawn_actor(library.find("walker.pedestrian.0001"), far)
            actor = world.spawn_actor(bp, carla.Transform(), attach_to=walker)
            world.tick()
            actor.destroy()
            actor = walker
        else:
            actor = world.spawn_actor(bp, far)
            world.tick()
        actor.destroy()
    except Exception as exc:
        failures[bp_id] = f"{type(exc).__name__}: {exc}"
host.destroy()
world.tick()
result(frames=frames, failures=failures, left=len(world.get_actors()) - 1)
"""

# Sensors whose data arrives every tick (the others report events, or nothing here).
STREAMING = {
    "sensor.camera.cosmos_visualization": "Image",
    "sensor.camera.depth": "Image",
    "sensor.camera.dvs": "DVSEventArray",
    "sensor.camera.instance_segmentation": "Image",
    "sensor.camera.normals": "Image",
    "sensor.camera.optical_flow": "OpticalFlowImage",
    "sensor.camera.rgb": "Image",
    "sensor.camera.semantic_segmentation": "Image",
    "sensor.lidar.ray_cast": "LidarMeasurement",
    "sensor.lidar.ray_cast_semantic": "SemanticLidarMeasurement",
    "sensor.other.gnss": "GnssMeasurement",
    "sensor.other.imu": "IMUMeasurement",
    "sensor.other.radar": "RadarMeasurement",
}


def test_every_documented_blueprint_spawns_and_its_sensor_reports(server):
    documented = [bp.id for bp in DOCUMENTED_BLUEPRINTS]
    r, _ = run_on_server(server, f"DOCUMENTED = {documented!r}\n" + SPAWN_EVERYTHING, timeout=300)
    assert r["failures"] == {}
    assert r["left"] == 0  # every actor destroyed again (the spectator stays)
    for bp_id, kind in STREAMING.items():
        frames = r["frames"][bp_id]
        assert frames and frames[0][0] == kind, (bp_id, frames)
        if kind in ("Image", "OpticalFlowImage"):
            assert frames[0][1:] == [64, 48], (bp_id, frames)
    assert_no_unknown_rpc(server)
