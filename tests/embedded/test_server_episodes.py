"""Client-side lane invasion on our maps, and switching worlds with load_world."""

from tests.embedded.helpers import assert_no_unknown_rpc, run_on_server

# A hero (physics off) at a straight-ish driving waypoint whose left neighbour is a driving lane,
# with a lane-invasion sensor; `on_event` receives its events.
HERO_BESIDE_A_LANE = """
candidates = [w for w in carla_map.generate_waypoints(5.0)
              if not w.is_junction and w.get_left_lane() is not None
              and w.get_left_lane().lane_type == carla.LaneType.Driving]
wp = candidates[len(candidates) // 2]
tf = wp.transform
tf.location.z += 0.3
hero = world.spawn_actor(library.find("vehicle.lincoln.mkz_2017"), tf)
sensor = world.spawn_actor(library.find("sensor.other.lane_invasion"), carla.Transform(), attach_to=hero)
sensor.listen(on_event)
hero.set_simulate_physics(False)
world.tick()
right = tf.get_right_vector()
"""


def test_lane_invasion_reports_the_marking_crossed(embedded_server):
    body = (
        """
events = []
on_event = lambda e: events.extend(str(m.type) for m in e.crossed_lane_markings)
"""
        + HERO_BESIDE_A_LANE
        + """
expected = str(wp.left_lane_marking.type)
# Slide the car sideways across its left marking, a little each tick.
for i in range(1, 40):
    loc = carla.Location(tf.location.x - right.x * 0.15 * i, tf.location.y - right.y * 0.15 * i,
                         tf.location.z)
    hero.set_transform(carla.Transform(loc, tf.rotation))
    world.tick()
import time; time.sleep(0.2)
result(events=sorted(set(events)), expected=expected)
sensor.destroy(); hero.destroy()
"""
    )
    r, _ = run_on_server(embedded_server, body)
    assert r["expected"] in ("Broken", "Solid", "SolidSolid", "BrokenSolid", "SolidBroken")
    assert r["expected"] in r["events"], r
    assert_no_unknown_rpc(embedded_server)


def test_lane_invasion_is_one_event_per_tick_a_box_side_crosses_not_per_tick_on_it(
    embedded_server,
):
    # CARLA's client-side sensor: every tick it checks whether any of the 4 corners of the
    # parent's box crossed a marking since the last tick, and sends one event listing those
    # crossings. A lane change sideways is then 2 events (the near side's corners, later the far
    # side's); sitting astride the marking is none. The episode's lane_invasions counts events.
    body = (
        """
events = []
on_event = lambda e: events.append((e.frame, len(e.crossed_lane_markings)))
"""
        + HERO_BESIDE_A_LANE
        + """
def at(offset):  # metres to the left of the lane centre
    loc = carla.Location(tf.location.x - right.x * offset, tf.location.y - right.y * offset,
                         tf.location.z)
    hero.set_transform(carla.Transform(loc, tf.rotation))
    return world.tick()
half = wp.lane_width / 2.0
phases = {}
for name, start, end in (("straight", 0.0, 0.0), ("to_astride", 0.0, half),
                         ("astride", half, half), ("to_left_lane", half, wp.lane_width),
                         ("in_left_lane", wp.lane_width, wp.lane_width)):
    first = None
    for i in range(1, 31):
        frame = at(start + (end - start) * i / 30.0)
        first = first or frame
    phases[name] = (first, frame)
import time; time.sleep(0.3)
result(events=events, phases=phases, half_width=hero.bounding_box.extent.y, lane=wp.lane_width)
sensor.destroy(); hero.destroy()
"""
    )
    r, _ = run_on_server(embedded_server, body)
    assert r["half_width"] < r["lane"] / 2.0, r  # the car fits in the lane: a clean start

    def events_in(phase: str) -> list:
        first, last = r["phases"][phase]
        return [e for e in r["events"] if first <= e[0] <= last]

    assert events_in("straight") == [] and events_in("astride") == [], r
    assert events_in("in_left_lane") == [], r
    # One event when the left side crosses (both left corners, the same tick), one when the
    # right side does: 2 for the lane change, however many ticks it spent on the marking.
    for phase in ("to_astride", "to_left_lane"):
        assert [n for _, n in events_in(phase)] == [2], (phase, r)
    assert len(r["events"]) == 2, r


def test_load_world_repeatedly_gives_new_episodes(embedded_server):
    body = """
maps = client.get_available_maps()
names = [m.rsplit("/", 1)[-1] for m in maps]
episodes = [world.id]
seen = []
bp = library.find("vehicle.audi.a2")
for name in (names * 3)[:4]:
    old_vehicle = world.spawn_actor(bp, world.get_map().get_spawn_points()[0])
    world = client.load_world(name)
    episodes.append(world.id)
    seen.append(world.get_map().name)
    alive = [a.id for a in world.get_actors() if a.id == old_vehicle.id]
    assert not alive, "actors of the old episode survive load_world"
    v = world.spawn_actor(bp, world.get_map().get_spawn_points()[0])
    world.tick() if world.get_settings().synchronous_mode else world.wait_for_tick()
    assert v.get_location().distance(world.get_map().get_spawn_points()[0].location) < 2.0
    v.destroy()
result(episodes=episodes, seen=seen, names=names, sync=world.get_settings().synchronous_mode)
"""
    r, _ = run_on_server(embedded_server, body, timeout=120)
    assert len(set(r["episodes"])) == len(r["episodes"])
    assert [s.rsplit("/", 1)[-1] for s in r["seen"]] == (r["names"] * 3)[:4]
    assert r["sync"] is False  # load_world resets settings by default
    assert_no_unknown_rpc(embedded_server)


def test_synchronous_load_world_ticks_the_new_episode_not_the_old_one(embedded_server):
    # In synchronous mode the 0.9.16 client sends a tick cue per attempt while it waits for the
    # new episode id (timeout / 50 ms attempts): each tick of the old world spends one, and a
    # loaded machine once spent all 100 of a 5 s timeout ("failed to connect to newly created
    # map"). The server switches at the loading client's first tick cue instead.
    body = """
settings = world.get_settings()
settings.synchronous_mode, settings.fixed_delta_seconds = True, 0.05
world.apply_settings(settings)
names = [m.rsplit("/", 1)[-1] for m in client.get_available_maps()]
old_frames = []
for name in (names * 4)[:6]:
    world.tick()
    before = world.get_snapshot().frame
    world = client.load_world(name, reset_settings=False)
    old_frames.append(world.get_snapshot().frame - before)
world.apply_settings(carla.WorldSettings())
result(old_frames=old_frames)
"""
    r, _ = run_on_server(embedded_server, body, timeout=120)
    # At most the one tick that brought the new episode (it may also come with the switch).
    assert max(r["old_frames"]) <= 1, r


def test_load_world_with_an_unknown_map_fails_cleanly(embedded_server):
    body = """
try:
    client.load_world("NoSuchTown")
    message = ""
except RuntimeError as exc:
    message = str(exc)
world = client.get_world()
result(message=message, map=world.get_map().name)
"""
    r, _ = run_on_server(embedded_server, body, sync=False)
    assert "NoSuchTown" in r["message"]
    assert r["map"].endswith("Loop01")


def test_generate_opendrive_world_loads_the_given_road_network(embedded_server):
    body = """
xodr = world.get_map().to_opendrive()
old_id = world.id
world = client.generate_opendrive_world(xodr)
new_map = world.get_map()
try:
    client.generate_opendrive_world("<OpenDRIVE><road")
    message = ""
except RuntimeError as exc:
    message = str(exc)
result(name=new_map.name, same_roads=new_map.to_opendrive() == xodr, points=len(new_map.get_spawn_points()),
       new_episode=world.id != old_id, message=message, still=client.get_world().get_map().name)
"""
    r, _ = run_on_server(embedded_server, body, sync=False)
    assert r["name"].endswith("OpenDriveMap") and r["same_roads"] and r["points"] > 0
    assert r["new_episode"]
    assert "not well-formed" in r["message"] and r["still"].endswith("OpenDriveMap")
    assert_no_unknown_rpc(embedded_server)
