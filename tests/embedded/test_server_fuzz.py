"""A few hundred seeded malformed frames and RPCs (tests/embedded/fuzz.py); the server then
still serves a real client. benchmarks/fuzz_server.py runs the same probes by the thousand."""

import time

from tests.conftest import start_embedded_server
from tests.embedded.fuzz import run_fuzz
from tests.embedded.helpers import run_on_server

PROBES = 300
SEED = 19

STILL_SERVING = """
for actor in world.get_actors().filter("vehicle.*"):
    actor.destroy()
world.tick()
hero = None
for point in spawn_points:
    hero = world.try_spawn_actor(library.find("vehicle.audi.a2"), point)
    if hero is not None:
        break
camera_bp = library.find("sensor.camera.rgb")
camera_bp.set_attribute("image_size_x", "64")
camera_bp.set_attribute("image_size_y", "48")
camera = world.spawn_actor(camera_bp, carla.Transform(carla.Location(z=2.0)), attach_to=hero)
images = []
camera.listen(images.append)
hero.apply_control(carla.VehicleControl(throttle=1.0))
start = hero.get_location()
for _ in range(20):
    world.tick()
time.sleep(0.5)
result(moved=hero.get_location().distance(start), images=len(images),
       frame=world.get_snapshot().frame, version=client.get_server_version())
camera.destroy()
hero.destroy()
"""


def test_seeded_fuzz_leaves_the_server_serving_a_real_client():
    with start_embedded_server() as server:
        started = time.monotonic()
        result = run_fuzz(
            server.host, server.rpc_port, server.stream_port, server.alive, PROBES, SEED
        )
        took = time.monotonic() - started
        print(result.line(), f"in {took:.1f} s;", dict(result.kinds), f"{result.replies} replies")
        assert (result.probes, result.crashes, result.wedged) == (PROBES, 0, 0), result.line()
        assert result.replies > PROBES / 3  # the requests were answered, not dropped
        r, _ = run_on_server(server, "import time\n" + STILL_SERVING, timeout=120)
        assert r["version"] == "0.9.16" and r["moved"] > 0.5 and r["images"] >= 15
        log = server.log()
        assert "Traceback" not in log, log[-5000:]
        assert server.alive()
