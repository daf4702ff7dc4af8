"""Replaying a recording into the world, tick by tick, as CarlaUE4 0.9.16's replayer does.

Semantics (reference/carla_recorder.md §4): the recording's actors are spawned by blueprint id,
asking for their recorded id (a map translates recorded ids to live ones when it is taken), and
are kinematic (no physics, no collisions). Each tick advances the replay time by the tick's delta
times the time factor; the events (spawn, destroy, attach) of every frame passed are applied,
and positions, controls and lights only for the frame that holds the new time, placed between the
previously applied positions and the current ones (CARLA's one-frame lag; no interpolation at a
time factor of 2 or more). The last frame's duration is -1, so its positions are never applied.
When the replay time reaches the stop time the replayer stops and keeps the actors: every vehicle
gets physics back, zero speed and a neutral control, every walker stops.

Differences from CarlaUE4: actors whose blueprint the embedded library lacks (map props such as
`static.prop.mesh`, unknown vehicles) are skipped and logged; traffic lights and signs are reused
when the world has one at the recorded location, as CARLA does, and show the recorded states; positions of actors that were not
created are skipped (CARLA would move whichever live actor has the recorded id); the visual time
and animation-only packets (wheels, bikers, bones, doors) have nothing to drive here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rllib_integration.embedded import physics
from rllib_integration.embedded.recorder import format as fmt
from rllib_integration.embedded.recorder import reader
from rllib_integration.embedded.recorder.format import PacketId
from rllib_integration.embedded.recorder.reader import EventAdd, FrameStart, RecordingError
from rllib_integration.embedded.world import Actor, SpawnError, World, compose

log = logging.getLogger(__name__)

SPAWN_HEIGHT_M = 1000.0  # CARLA spawns far above and then teleports, to avoid spawn collisions
Pose = tuple[float, float, float, float, float, float]  # x, y, z (m), pitch, yaw, roll (deg)


@dataclass
class ReplayOptions:
    """The replayer settings the setters change; they persist across replays, as in CARLA."""

    time_factor: float = 1.0
    ignore_hero: bool = False
    ignore_spectator: bool = True


@dataclass
class _Frame:
    start: FrameStart
    packets: list[tuple[int, memoryview]] = field(default_factory=list)


def split_frames(data: bytes, start: int) -> list[_Frame]:
    """The recording's packets grouped by frame (up to the first malformed packet)."""
    frames: list[_Frame] = []
    try:
        for packet_id, payload in reader.packets(data, start):
            if packet_id == PacketId.FRAME_START:
                frames.append(_Frame(reader.frame_start(payload)))
            elif frames and packet_id != PacketId.FRAME_END:
                frames[-1].packets.append((packet_id, payload))
    except RecordingError as exc:
        log.warning("replay reads the recording up to an error: %s", exc)
    return frames


def pose_from_file(location: tuple, rotation: tuple) -> Pose:
    """File centimetres and (roll, pitch, yaw) -> metres and (pitch, yaw, roll)."""
    (x, y, z), (roll, pitch, yaw) = location, rotation
    return x / 100.0, y / 100.0, z / 100.0, pitch, yaw, roll


def _lerp_angle(a: float, b: float, t: float) -> float:
    return a + ((b - a + 180.0) % 360.0 - 180.0) * t  # the short way, as FRotator's Lerp


def interpolate(a: Pose, b: Pose, t: float) -> Pose:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        _lerp_angle(a[3], b[3], t),
        _lerp_angle(a[4], b[4], t),
        _lerp_angle(a[5], b[5], t),
    )


class Replayer:
    """One replay of one recording into `world`."""

    def __init__(
        self,
        world: World,
        frames: list[_Frame],
        options: ReplayOptions,
        follow_id: int = 0,
        replay_sensors: bool = False,
        offset: Pose = (-10.0, 0.0, 5.0, -25.0, 0.0, 0.0),
    ) -> None:
        self.world = world
        self.frames = frames
        self.options = options
        self.follow_id = follow_id
        self.replay_sensors = replay_sensors
        self.offset = offset
        self.total_time = frames[-1].start.elapsed if frames else 0.0
        self.enabled = False
        self.current_time = 0.0
        self.time_to_stop = 0.0
        self.mapped: dict[int, int] = {}  # recorded id -> live id
        self.is_hero: dict[int, bool] = {}  # live id -> recorded as a hero
        self._spawned_at: dict[int, Pose] = {}  # live id -> EventAdd transform
        self._frame = FrameStart(0, 0.0, -1.0)  # none read yet
        self._next = 0
        self._previous: dict[int, Pose] = {}
        self._current: list[tuple[int, Pose]] = []
        self._lights: list[tuple[int, bool, int]] = []  # live id, frozen, state

    def window(self, start: float, duration: float) -> tuple[float, float]:
        """CARLA's start and stop times: a negative start counts from the end."""
        if start < 0.0:
            start = max(self.total_time + start, 0.0)
        self.time_to_stop = start + duration if duration > 0.0 else self.total_time
        return start, self.time_to_stop

    def begin(self, start: float) -> None:
        """Apply the recording up to `start` (actors are created now) and start replaying."""
        self._process_to_time(start, first=True)
        self.enabled = True

    def tick(self, delta: float) -> None:
        if self.enabled:
            self._process_to_time(delta * self.options.time_factor, first=False)

    def stop(self, keep_actors: bool) -> None:
        """End the replay; without `keep_actors` the rest of the file's spawns and destructions
        are applied first (actors destroyed later in the recording go)."""
        if not self.enabled:
            return
        self.enabled = False
        if not keep_actors:
            self._process_to_time(self.total_time, first=False)
        self._finish()

    # ------------------------------------------------------------ time

    def _process_to_time(self, step: float, first: bool) -> None:
        new_time = self.current_time + step
        frame = self._frame
        found = frame.elapsed <= new_time < frame.elapsed + frame.duration
        per = (new_time - frame.elapsed) / frame.duration if found else 0.0
        while not found and self._next < len(self.frames):
            current = self.frames[self._next]
            self._next += 1
            frame = self._frame = current.start
            if new_time < frame.elapsed + frame.duration:
                found = True
                per = (new_time - frame.elapsed) / frame.duration
            self._apply_frame(current.packets, found, first)
        if self.enabled and found:
            self._update_positions(per)
        self.current_time = new_time
        if self.current_time >= self.time_to_stop:
            self.stop(keep_actors=True)

    def _apply_frame(self, packets: list[tuple[int, memoryview]], found: bool, first: bool) -> None:
        for packet_id, payload in packets:
            try:
                if packet_id == PacketId.EVENT_ADD:
                    for event in reader.event_adds(payload):
                        self._event_add(event)
                elif packet_id == PacketId.EVENT_DEL:
                    for (actor_id,) in reader.records(payload, fmt.EVENT_DEL, "destructions"):
                        self._event_del(actor_id)
                elif packet_id == PacketId.EVENT_PARENT:
                    for child, parent in reader.records(payload, fmt.EVENT_PARENT, "parenting"):
                        self._event_parent(child, parent)
                elif found:
                    self._apply_state(packet_id, payload, first)
            except RecordingError as exc:
                log.warning("replay skips a malformed packet %d: %s", packet_id, exc)

    def _apply_state(self, packet_id: int, payload: memoryview, first: bool) -> None:
        if packet_id == PacketId.POSITION:
            self._previous = {} if first else dict(self._current)
            self._current = [
                (self.mapped[r[0]], pose_from_file(r[1:4], r[4:7]))
                for r in reader.records(payload, fmt.POSITION, "positions")
                if r[0] in self.mapped
            ]
        elif packet_id == PacketId.STATE:
            self._lights = [
                (self.mapped[rid], bool(frozen), state)
                for rid, frozen, _elapsed, state in reader.records(payload, fmt.STATE, "lights")
                if rid in self.mapped
            ]
        elif packet_id == PacketId.ANIM_VEHICLE:
            for rid, steer, throttle, brake, hand, gear in reader.records(
                payload, fmt.ANIM_VEHICLE, "vehicle animations"
            ):
                actor = self._live(rid)
                if actor is not None and actor.vehicle is not None:
                    actor.vehicle.control = physics.VehicleControl(
                        throttle, steer, brake, bool(hand), gear < 0, False, gear
                    )
        elif packet_id == PacketId.ANIM_WALKER:
            for rid, speed in reader.records(payload, fmt.ANIM_WALKER, "walker animations"):
                actor = self._live(rid)
                if actor is not None and actor.walker is not None:
                    actor.walker.walk_speed = actor.body.speed = speed
        elif packet_id == PacketId.VEHICLE_LIGHT:
            for rid, state in reader.records(payload, fmt.VEHICLE_LIGHT, "vehicle lights"):
                actor = self._live(rid)
                if actor is not None and actor.vehicle is not None:
                    actor.light_state = state

    def show_lights(self) -> None:
        """The traffic light states of the frame being replayed, shown over what the lights'
        own cycles did this tick (the world has no way to set a light's time in its state)."""
        traffic = self.world.signals.traffic
        for live_id, frozen, state in self._lights:
            try:
                traffic.set_state(live_id, state)
                traffic.freeze(live_id, frozen)
            except (ValueError, KeyError):  # not a light (any more): skip, as CARLA logs it
                continue

    def _live(self, recorded_id: int) -> Actor | None:
        """The live actor of a recorded id, unless it is an ignored hero."""
        live_id = self.mapped.get(recorded_id)
        if live_id is None or (self.options.ignore_hero and self.is_hero.get(live_id)):
            return None
        return self.world.actors.get(live_id)

    def _update_positions(self, per: float) -> None:
        world, options = self.world, self.options
        follow = self.mapped.get(self.follow_id) if self.follow_id else None
        spectator_id = world.spectator.id
        for live_id, pose in self._current:
            actor = world.actors.get(live_id)
            if actor is None:
                continue
            ignored = (options.ignore_hero and self.is_hero.get(live_id)) or (
                options.ignore_spectator and live_id == spectator_id
            )
            if not ignored and not actor.parent_id:
                previous = self._previous.get(live_id)
                if previous is None:
                    self._place(actor, pose)
                elif options.time_factor >= 2.0 or per == 0.0:
                    self._place(actor, previous)
                else:
                    self._place(actor, interpolate(previous, pose, per))
            if follow == live_id:
                spectator = world.spectator.body
                x, y, z, pitch, yaw, roll = compose(actor.pose(), self.offset)
                spectator.x, spectator.y, spectator.z = x, y, z
                spectator.pitch, spectator.yaw, spectator.roll = pitch, yaw, roll

    def _place(self, actor: Actor, pose: Pose) -> None:
        """Teleport; walkers get the velocity of the move (vehicles derive theirs)."""
        b = actor.body
        if actor.walker is not None and self.world.delta > 0.0:
            dt = self.world.delta
            b.velocity = ((pose[0] - b.x) / dt, (pose[1] - b.y) / dt, (pose[2] - b.z) / dt)
        b.x, b.y, b.z, b.pitch, b.yaw, b.roll = pose

    # ------------------------------------------------------------ events

    def _event_add(self, event: EventAdd) -> None:
        live = self._create(event)
        if live is None:
            return
        self.mapped[event.id] = live.id
        self.is_hero[live.id] = event.attribute("role_name") == "hero"

    def _create(self, event: EventAdd) -> Actor | None:
        blueprint = event.blueprint
        options = self.options
        if options.ignore_hero and event.attribute("role_name") == "hero":
            return None
        if blueprint.startswith("spectator"):
            return None if options.ignore_spectator else self.world.spectator
        if blueprint.startswith("traffic."):
            return self._existing_signal(event)
        if blueprint.startswith("sensor.") and not self.replay_sensors:
            return None
        pose = pose_from_file(event.location, event.rotation)
        try:
            actor = self.world.spawn(
                blueprint,
                dict(event.attributes),
                (0.0, 0.0, SPAWN_HEIGHT_M, *pose[3:]),
                actor_id=event.id,
            )
        except (SpawnError, ValueError) as exc:
            log.info("replay: actor %d (%s) could not be created: %s", event.id, blueprint, exc)
            return None
        b = actor.body
        b.x, b.y, b.z = pose[:3]
        if actor.vehicle is not None or actor.walker is not None:
            b.simulate_physics = False
            b.collisions = False
        self._spawned_at[actor.id] = pose
        return actor

    def _existing_signal(self, event: EventAdd) -> Actor | None:
        """The live traffic light or sign of the same type at the recorded location (CARLA
        compares whole centimetres; here within 1 cm, as the file holds float32)."""
        x, y, z = event.location
        for actor in self.world.actors.values():
            if actor.blueprint.id == event.blueprint:
                b = actor.body
                if max(abs(b.x * 100 - x), abs(b.y * 100 - y), abs(b.z * 100 - z)) < 1.0:
                    return actor
        return None

    def _event_del(self, recorded_id: int) -> None:
        live_id = self.mapped.pop(recorded_id, None)
        if live_id is not None and live_id != self.world.spectator.id:
            actor = self.world.actors.get(live_id)
            if actor is not None and not actor.blueprint.id.startswith("traffic."):
                self.world.destroy(live_id)

    def _event_parent(self, child: int, parent: int) -> None:
        child_actor = self.world.actors.get(self.mapped.get(child, -1))
        parent_id = self.mapped.get(parent)
        if child_actor is None or parent_id not in self.world.actors:
            return
        relative = self._spawned_at.get(child_actor.id, child_actor.pose())
        self.world.attach(child_actor, parent_id, relative)

    # ------------------------------------------------------------ end

    def _finish(self) -> None:
        """Every vehicle gets physics, zero speed and a neutral control; walkers stop."""
        for actor in self.world.actors.values():
            if self.options.ignore_hero and self.is_hero.get(actor.id):
                continue
            b = actor.body
            if actor.vehicle is not None:
                b.simulate_physics = True
                b.speed, b.velocity = 0.0, (0.0, 0.0, 0.0)
                actor.vehicle.control = physics.VehicleControl(gear=1)
            elif actor.walker is not None:
                actor.walker.walk_speed = b.speed = 0.0
                b.velocity = (0.0, 0.0, 0.0)
