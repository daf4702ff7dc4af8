"""The simulated world: episode, settings, frames, the actor registry and the per-tick update.

One `World` lives in the server process. RPC handlers call its methods; `tick()` advances physics,
runs the server-side sensors and hands the episode state and the sensor payloads to its
`StreamSink`. The world knows no wire format: the protocol layer implements the sink and makes
every byte (protocol/codec.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rllib_integration.embedded import physics
from rllib_integration.embedded.blueprints import (
    SPECTATOR,
    Blueprint,
    BlueprintLibrary,
    readable_value,
)
from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import Contact, EventSensor, ServerSensor, make_sensor
from rllib_integration.embedded.sensors.attributes import get_float
from rllib_integration.embedded.signals.actors import SignalActors

log = logging.getLogger(__name__)

Vec3 = tuple[float, float, float]
EPISODE_STREAM_ID = 1  # the episode state's stream; sensors get the ids after it
WORLD_EDGE_MARGIN = 20.0  # metres beyond the map bounds where the world ends
ASYNC_DEFAULT_DELTA = 0.05
DEFAULT_SPEED_LIMIT = 30.0  # km/h
DEAD_WALKER_LIFESPAN_S = 10.0  # CarlaUE4 removes a walker this long after it died
SPEED_LIMIT_REFRESH_M = 2.0


class SpawnError(Exception):
    """A spawn request the world refuses; the message goes back to the client."""


class StreamSink(Protocol):
    """Where the world's output goes (implemented by protocol/world_streams.py)."""

    def has_subscribers(self, stream_id: int) -> bool: ...

    def publish_sensor(
        self,
        stream_id: int,
        type_id: int,
        frame: int,
        timestamp: float,
        pose: tuple[float, ...],
        payload: bytes,
    ) -> None:
        """One sensor measurement; `pose` is the sensor's (x, y, z, pitch, yaw, roll)."""

    def publish_state(self, world: World) -> None:
        """The episode state after a tick (or a new episode)."""

    def describe(self, actor: Actor | None) -> Any:
        """How event sensors name an actor in their payload (None: the static world); opaque
        to the world."""


@dataclass
class EpisodeSettings:
    """carla.WorldSettings' fields, in its order (protocol/codec.py derives the wire from them)."""

    synchronous_mode: bool = False
    no_rendering_mode: bool = False
    fixed_delta_seconds: float | None = None
    substepping: bool = True
    max_substep_delta_time: float = 0.01
    max_substeps: int = 10
    max_culling_distance: float = 0.0
    deterministic_ragdolls: bool = True
    tile_stream_distance: float = 3000.0
    actor_active_distance: float = 2000.0
    spectator_as_ego: bool = True


# carla.WeatherParameters' fields, in its order, with the values a new episode starts with.
DEFAULT_WEATHER: dict[str, float] = {
    "cloudiness": 5.0,
    "precipitation": 0.0,
    "precipitation_deposits": 0.0,
    "wind_intensity": 0.0,
    "sun_azimuth_angle": 300.0,
    "sun_altitude_angle": 45.0,
    "fog_density": 0.0,
    "fog_distance": 0.0,
    "fog_falloff": 0.2,
    "wetness": 0.0,
    "scattering_intensity": 1.0,
    "mie_scattering_scale": 0.03,
    "rayleigh_scattering_scale": 0.0331,
    "dust_storm": 0.0,
}
WEATHER_FIELDS = tuple(DEFAULT_WEATHER)


@dataclass(eq=False)  # an actor is itself: compared and hashed by identity
class Actor:
    id: int
    blueprint: Blueprint
    attributes: dict[str, str]
    kind: str  # vehicle | walker | sensor | controller | spectator | prop
    body: physics.Body
    parent_id: int = 0
    relative: tuple[float, ...] | None = None  # pose relative to the parent (attached actors)
    stream_id: int = 0
    vehicle: physics.Vehicle | None = None
    walker: physics.Walker | None = None
    sensor: ServerSensor | EventSensor | None = None
    light_state: int = 0
    crowd_frame: int = -1  # the frame whose pose the client's walker AI set (ApplyWalkerState)
    dead_at: float | None = None  # simulation time a walker died (run over, per the client)
    speed_limit: float = DEFAULT_SPEED_LIMIT  # km/h, of the road under a vehicle
    speed_limit_at: tuple[float, float] | None = None  # where it was last looked up
    semantic_tag: int = 0
    # (location, extent, rotation) when not the blueprint's: a sign's
    box: tuple[Vec3, Vec3, Vec3] | None = None
    _next_measure: float = 0.0

    def pose(self) -> tuple[float, float, float, float, float, float]:
        b = self.body
        return (b.x, b.y, b.z, b.pitch, b.yaw, b.roll)


def compose(parent: tuple, relative: tuple) -> tuple[float, float, float, float, float, float]:
    """World pose of a child attached rigidly at `relative` to `parent` (yaw/pitch/roll in deg)."""
    px, py, pz, pp, pyaw, pr = parent
    rx, ry, rz, rp, ryaw, rr = relative
    cy, sy = math.cos(math.radians(pyaw)), math.sin(math.radians(pyaw))
    cp, sp = math.cos(math.radians(pp)), math.sin(math.radians(pp))
    # Rotate by pitch (about y) then yaw (about z); roll ignored for position.
    x1 = rx * cp - rz * sp
    z1 = rx * sp + rz * cp
    wx = px + x1 * cy - ry * sy
    wy = py + x1 * sy + ry * cy
    return (wx, wy, pz + z1, pp + rp, pyaw + ryaw, pr + rr)


class World:
    """Episode state and actors of the embedded server."""

    def __init__(
        self,
        library: BlueprintLibrary,
        world_map: Any,
        streams: StreamSink,
        seed: int = 0,
    ) -> None:
        self.library = library
        self.streams = streams
        self.rng = np.random.default_rng(seed)
        self.frame = 0
        self.elapsed = 0.0
        self.delta = ASYNC_DEFAULT_DELTA
        self.episode_id = 0
        self._next_actor_id = 0
        self._next_stream_id = EPISODE_STREAM_ID + 1
        self._last_tick_wall = time.perf_counter()
        self.on_destroy: list[Callable[[int], object]] = []
        self.on_settings: list[Callable[[], object]] = []  # after every change of `settings`
        # Observers of spawns (actor, requested pose) and of each tick, called with the tick's
        # contacts right after physics (the replayer moves actors there, before parents, sensors
        # and signals use them) and just before the tick's state goes out (the recorder writes
        # what clients see); empty lists cost nothing.
        self.on_spawn: list[Callable[[Actor, tuple], object]] = []
        self.after_physics: list[Callable[[list], object]] = []
        self.before_publish: list[Callable[[list], object]] = []
        self.settings = EpisodeSettings()
        self._new_episode(world_map)

    @property
    def settings(self) -> EpisodeSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: EpisodeSettings) -> None:
        self._settings = settings
        for callback in self.on_settings:
            callback()

    # ------------------------------------------------------------ episodes

    def _new_episode(self, world_map: Any) -> None:
        self.map = world_map
        self.episode_id += 1
        self.actors: dict[int, Actor] = {}
        self.weather = dict(DEFAULT_WEATHER)
        bounds = getattr(world_map, "bounds", None)
        self.bounds = tuple(bounds) if bounds is not None else None
        ground = getattr(world_map, "ground", None)
        self.flat_height = None
        if ground is not None and self.bounds is not None:
            step = float(getattr(ground, "height_resolution", 0.5))
            self.flat_height = physics.flat_height(ground, self.bounds, step)
        sx, sy, sz = 0.0, 0.0, 50.0
        self.spectator = self._add_actor(
            SPECTATOR, {}, "spectator", physics.Body(sx, sy, sz, pitch=-45.0, collisions=False)
        )
        self.spectator.body.simulate_physics = False
        self.map_changed = True  # the episode's first state tells clients to fetch the map again
        self.signals = SignalActors(self, world_map)  # registered right after the spectator

    def load_episode(self, world_map: Any, reset_settings: bool) -> None:
        for actor_id in list(self.actors):
            self.destroy(actor_id)
        if reset_settings:
            self.settings = EpisodeSettings()
        self._new_episode(world_map)
        self.publish_state()

    # ------------------------------------------------------------ actors

    def _add_actor(
        self,
        bp: Blueprint,
        attributes: dict[str, str],
        kind: str,
        body: physics.Body,
        actor_id: int = 0,
    ) -> Actor:
        """Register an actor under `actor_id` if that id is free (CarlaUE4's desired id, which
        the replayer asks for), else under the next id."""
        if actor_id > 0 and actor_id not in self.actors:
            self._next_actor_id = max(self._next_actor_id, actor_id)
        else:
            self._next_actor_id += 1
            actor_id = self._next_actor_id
        actor = Actor(actor_id, bp, attributes, kind, body, semantic_tag=bp.semantic_tag)
        self.actors[actor.id] = actor
        return actor

    def spawn(
        self,
        blueprint_id: str,
        attributes: dict[str, str],
        pose: tuple[float, ...],
        parent_id: int = 0,
        actor_id: int = 0,
    ) -> Actor:
        bp = self.library.get(blueprint_id)
        if bp is None:
            raise SpawnError(f"unknown blueprint '{blueprint_id}'")
        values = bp.defaults()
        types = bp.attribute_types()
        for key, value in attributes.items():
            if key in types:
                try:
                    values[key] = readable_value(types[key], key, str(value))
                except ValueError as exc:
                    raise SpawnError(str(exc)) from None
        if parent_id and parent_id not in self.actors:
            raise SpawnError(f"unable to attach actor: parent {parent_id} not found")
        kind = blueprint_id.split(".", 1)[0]
        if kind == "static":  # static.prop.* are solid; static.trigger.* are volumes
            kind = "prop" if blueprint_id.startswith("static.prop.") else "trigger"
        relative = tuple(pose) if parent_id else None
        x, y, z, pitch, yaw, roll = (
            compose(self.actors[parent_id].pose(), pose) if parent_id else tuple(pose)
        )
        body = physics.Body(
            x,
            y,
            z,
            pitch,
            yaw,
            roll,
            extent=bp.extent,
            box_center=bp.box_center,
            mass=bp.mass or 1500.0,
            collisions=kind in ("vehicle", "walker", "prop") and not parent_id,
        )
        if kind in ("vehicle", "walker") and not parent_id:
            self._check_free(body)
            if self.map is not None and self.map.ground is not None:
                if kind == "walker":
                    body.ground_offset = bp.extent[2]
                ground_z = self.map.ground.height(
                    np.array([body.x]), np.array([body.y]), np.array([body.z])
                )
                body.z = float(ground_z[0]) + body.ground_offset
        if kind in ("sensor", "controller", "trigger", "util") or parent_id:
            body.simulate_physics = False
        actor = self._add_actor(bp, values, kind, body, actor_id)
        actor.parent_id = parent_id
        actor.relative = relative
        if kind == "vehicle":
            params = physics.VehicleParams(
                bp.wheelbase, bp.max_steer_deg, bp.top_speed, bp.max_accel
            )
            actor.vehicle = physics.Vehicle(body, params)
        elif kind == "walker":
            speed = get_float(values, "speed", 1.4)
            actor.walker = physics.Walker(body, max_speed=max(speed, 1.4))
        elif kind == "sensor":
            actor.stream_id = self._next_stream_id
            self._next_stream_id += 1
            try:
                actor.sensor = make_sensor(blueprint_id, values)
            except Exception as exc:
                del self.actors[actor.id]
                raise SpawnError(f"cannot create {blueprint_id}: {exc}") from exc
        for callback in self.on_spawn:
            callback(actor, tuple(pose))
        return actor

    def attach(self, actor: Actor, parent_id: int, relative: tuple[float, ...]) -> None:
        """Attach an existing actor rigidly to another at `relative` (the replayer's parenting)."""
        parent = self.actor(parent_id)
        actor.parent_id, actor.relative = parent.id, tuple(relative)
        actor.body.simulate_physics = actor.body.collisions = False
        b = actor.body
        b.x, b.y, b.z, b.pitch, b.yaw, b.roll = compose(parent.pose(), actor.relative)

    def _check_free(self, body: physics.Body) -> None:
        for other in self.actors.values():
            if other.body.collisions and physics.boxes_overlap(body, other.body):
                if abs(other.body.z - body.z) < 3.0:
                    raise SpawnError("Spawn failed because of collision at spawn position")

    def destroy(self, actor_id: int) -> bool:
        actor = self.actors.get(actor_id)
        if actor is None or actor.kind in ("spectator", "traffic"):
            return False
        for child in [a.id for a in self.actors.values() if a.parent_id == actor_id]:
            self.destroy(child)
        del self.actors[actor_id]
        parent = self.actors.get(actor.parent_id)
        if actor.blueprint.id == "controller.ai.walker" and parent is not None:
            if parent.walker is not None:
                parent.walker.walk_speed = 0.0
        self.signals.forget(actor_id)
        for callback in self.on_destroy:
            callback(actor_id)
        return True

    def actor(self, actor_id: int) -> Actor:
        actor = self.actors.get(int(actor_id))
        if actor is None:
            raise KeyError(f"actor {actor_id} not found")
        return actor

    def _describe_id(self, actor_id: int) -> Any:
        return self.streams.describe(self.actors.get(actor_id))

    def set_transform(self, actor: Actor, pose: tuple[float, ...]) -> None:
        """Move `actor`; `pose` is in range (protocol/limits.py checks what clients send)."""
        if actor.parent_id:
            actor.relative = tuple(pose)
        b = actor.body
        b.x, b.y, b.z, b.pitch, b.yaw, b.roll = pose
        b.speed = 0.0
        b.velocity = (0.0, 0.0, 0.0)

    # ------------------------------------------------------------ ticking

    def tick(self) -> int:
        """Advance one step (fixed delta, or wall clock when none) and publish the result."""
        now = time.perf_counter()
        fixed = self.settings.fixed_delta_seconds
        dt = fixed if fixed else min(max(now - self._last_tick_wall, 1e-3), 0.1)
        self._last_tick_wall = now
        self.frame += 1
        self.elapsed += dt
        self.delta = dt
        contacts = self._step_physics(dt)
        for hook in tuple(self.after_physics):  # a hook may remove itself
            hook(contacts)
        self._follow_parents()
        self._run_sensors(contacts)
        self._update_speed_limits()
        self.signals.step(dt, self.elapsed)
        for hook in tuple(self.before_publish):
            hook(contacts)
        self.publish_state()
        return self.frame

    def _step_physics(self, dt: float) -> list[tuple[Actor, Actor, tuple[float, float, float]]]:
        movers: list[Actor] = []
        for actor in self.actors.values():
            if actor.vehicle is not None:
                physics.step_vehicle(actor.vehicle, dt)
                movers.append(actor)
            elif actor.walker is not None:
                if actor.crowd_frame != self.frame:  # else the client placed it for this frame
                    physics.step_walker(actor.walker, dt)
                movers.append(actor)
        ground = self.map.ground if self.map is not None else None
        physical = [a for a in movers if a.parent_id == 0 and a.body.simulate_physics]
        physics.follow_ground(
            [a.body for a in physical],
            [a.blueprint.wheelbase * 0.5 if a.vehicle else 0.0 for a in physical],
            ground,
            dt,
            self.flat_height,
        )
        self._remove_dead_walkers()
        return self._resolve_collisions(movers)

    def set_walker_state(self, actor: Actor, pose: tuple[float, ...], speed: float) -> None:
        """Where the client's walker AI (CARLA's crowd, on the navigation mesh) puts a walker for
        the next frame: its feet at ``pose``, walking forward at ``speed``; the server does not
        move it by itself then (CarlaUE4's SetWalkerState)."""
        if actor.walker is None:
            raise ValueError(f"actor {actor.id} is not a walker")
        if actor.dead_at is not None:
            raise ValueError(f"walker {actor.id} is dead")
        b = actor.body
        yaw = math.radians(pose[4])
        forward = (math.cos(yaw), math.sin(yaw), 0.0)
        b.x, b.y, b.z = pose[0], pose[1], pose[2] + actor.blueprint.extent[2]  # feet -> centre
        b.pitch, b.yaw, b.roll = 0.0, pose[4], 0.0
        b.speed = speed
        b.velocity = (forward[0] * speed, forward[1] * speed, 0.0)
        actor.walker.direction, actor.walker.walk_speed = forward, speed
        actor.crowd_frame = self.frame + 1

    def kill_walker(self, actor: Actor) -> None:
        """A walker the client's crowd found under a car: it stops, stays solid, and is removed
        after DEAD_WALKER_LIFESPAN_S (CarlaUE4's set_actor_dead)."""
        if actor.walker is None or actor.dead_at is not None:
            return
        actor.dead_at = self.elapsed
        actor.body.collisions = True
        actor.walker.walk_speed = 0.0
        self._stop(actor.body)

    def _remove_dead_walkers(self) -> None:
        expired = [
            a.id
            for a in self.actors.values()
            if a.dead_at is not None and self.elapsed - a.dead_at >= DEAD_WALKER_LIFESPAN_S
        ]
        for actor_id in expired:
            self.destroy(actor_id)

    def _resolve_collisions(self, movers: list[Actor]) -> list:
        """Stop overlapping movers, push them apart, and report (self, other, impulse) events."""
        events = []
        bodies_actors = [a for a in self.actors.values() if a.body.collisions and a.parent_id == 0]
        if len(bodies_actors) >= 2 and movers:
            for c in physics.find_contacts([a.body for a in bodies_actors]):
                a, b = bodies_actors[c.a], bodies_actors[c.b]
                events.extend(self._collide(a, b, c.normal, c.depth))
        if self.bounds is not None:
            xmin, ymin, xmax, ymax = self.bounds
            m = WORLD_EDGE_MARGIN
            for actor in movers:
                bd = actor.body
                if xmin - m <= bd.x <= xmax + m and ymin - m <= bd.y <= ymax + m:
                    continue
                nx = 1.0 if bd.x < xmin - m else -1.0 if bd.x > xmax + m else 0.0
                ny = 1.0 if bd.y < ymin - m else -1.0 if bd.y > ymax + m else 0.0
                impulse = bd.mass * abs(bd.speed)
                bd.x = min(max(bd.x, xmin - m), xmax + m)
                bd.y = min(max(bd.y, ymin - m), ymax + m)
                self._stop(bd)
                events.append((actor, None, (nx * impulse, ny * impulse, 0.0)))
        return events

    def _collide(self, a: Actor, b: Actor, normal: tuple[float, float], depth: float) -> list:
        va, vb = a.body.velocity, b.body.velocity
        closing = (va[0] - vb[0]) * normal[0] + (va[1] - vb[1]) * normal[1]  # < 0: approaching
        m_a, m_b = a.body.mass, b.body.mass
        reduced = m_a * m_b / (m_a + m_b)
        magnitude = reduced * max(-closing, 0.0) + 1.0
        moves_a = a.vehicle is not None or a.walker is not None
        moves_b = b.vehicle is not None or b.walker is not None
        share_a = 1.0 if not moves_b else 0.5 if moves_a else 0.0
        for actor, sign, share in ((a, 1.0, share_a), (b, -1.0, 1.0 - share_a)):
            if share > 0.0:
                actor.body.x += sign * normal[0] * depth * share
                actor.body.y += sign * normal[1] * depth * share
            if closing < 0.0 and (actor.vehicle is not None or actor.walker is not None):
                self._stop(actor.body)
        imp = (normal[0] * magnitude, normal[1] * magnitude, 0.0)
        return [(a, b, imp), (b, a, (-imp[0], -imp[1], 0.0))]

    @staticmethod
    def _stop(body: physics.Body) -> None:
        body.speed = 0.0
        body.velocity = (0.0, 0.0, body.velocity[2])

    def _follow_parents(self) -> None:
        for actor in self.actors.values():
            if actor.parent_id and actor.relative is not None:
                parent = self.actors.get(actor.parent_id)
                if parent is None:
                    continue
                b = actor.body
                b.x, b.y, b.z, b.pitch, b.yaw, b.roll = compose(parent.pose(), actor.relative)
                pb = parent.body
                b.velocity, b.acceleration = pb.velocity, pb.acceleration
                b.angular_velocity = pb.angular_velocity

    # ------------------------------------------------------------ sensors

    def _run_sensors(self, collisions: list) -> None:
        contacts: dict[int, list[Contact]] = {}
        for me, other, impulse in collisions:
            contact = Contact(me.id, other.id if other is not None else 0, impulse)
            contacts.setdefault(me.id, []).append(contact)
        scene: Scene | None = None
        for actor in list(self.actors.values()):
            sensor = actor.sensor
            if sensor is None or not self.streams.has_subscribers(actor.stream_id):
                continue
            if isinstance(sensor, EventSensor):
                touched = contacts.get(actor.parent_id)
                if touched:
                    for event in sensor.report(touched, self._describe_id):
                        self._publish(actor, sensor.type_id, event)
                continue
            if sensor.sensor_tick > 0.0:
                if self.elapsed + 1e-9 < actor._next_measure:
                    continue
                actor._next_measure = self.elapsed + sensor.sensor_tick
            if scene is None:
                scene = self.scene()
            try:
                payload = sensor.measure(scene, self.sensor_pose(actor))
            except Exception:
                log.exception("sensor %s (actor %d) failed", actor.blueprint.id, actor.id)
                continue
            if payload is not None:
                self._publish(actor, sensor.type_id, payload)

    def _publish(self, actor: Actor, type_id: int, payload: bytes) -> None:
        self.streams.publish_sensor(
            actor.stream_id, int(type_id), self.frame, self.elapsed, actor.pose(), payload
        )

    def scene(self) -> Scene:
        physical = [a for a in self.actors.values() if a.kind in ("vehicle", "walker", "prop")]
        n = len(physical)
        centers = np.empty((n, 3))
        for i, a in enumerate(physical):
            cx, cy, cz = compose(a.pose(), (*a.blueprint.box_center, 0.0, 0.0, 0.0))[:3]
            centers[i] = (cx, cy, cz)
        return Scene(
            frame=self.frame,
            timestamp=self.elapsed,
            delta_seconds=self.delta,
            ids=np.array([a.id for a in physical], dtype=np.uint32),
            tags=np.array([a.semantic_tag for a in physical], dtype=np.uint8),
            centers=centers,
            extents=np.array([a.blueprint.extent for a in physical], dtype=np.float64).reshape(
                n, 3
            ),
            rotations=np.array(
                [(a.body.pitch, a.body.yaw, a.body.roll) for a in physical], dtype=np.float64
            ).reshape(n, 3),
            velocities=np.array([a.body.velocity for a in physical], dtype=np.float64).reshape(
                n, 3
            ),
            ground=self.map.ground if self.map is not None else None,
            map_name=getattr(self.map, "name", ""),
            weather=dict(self.weather),
            describe=self._describe_id,
        )

    def sensor_pose(self, actor: Actor) -> SensorPose:
        parent = self.actors.get(actor.parent_id)
        src = parent.body if parent is not None else actor.body
        b = actor.body
        return SensorPose(
            location=np.array((b.x, b.y, b.z)),
            rotation=np.array((b.pitch, b.yaw, b.roll)),
            parent_id=actor.parent_id,
            actor_id=actor.id,
            velocity=np.array(src.velocity),
            acceleration=np.array(src.acceleration),
            angular_velocity=np.array(src.angular_velocity),
        )

    # ------------------------------------------------------------ episode state

    def publish_state(self) -> None:
        self.streams.publish_state(self)
        self.map_changed = False

    def _update_speed_limits(self) -> None:
        """Speed limit under each vehicle, re-queried only after it moved a few metres."""
        ground = self.map.ground if self.map is not None else None
        if ground is None:
            return
        stale = [
            a
            for a in self.actors.values()
            if a.vehicle is not None
            and (
                a.speed_limit_at is None
                or abs(a.body.x - a.speed_limit_at[0]) + abs(a.body.y - a.speed_limit_at[1])
                > SPEED_LIMIT_REFRESH_M
            )
        ]
        if stale:
            xs = np.array([a.body.x for a in stale])
            ys = np.array([a.body.y for a in stale])
            limits = np.asarray(ground.speed_limit(xs, ys), dtype=np.float64).tolist()
            for a, limit in zip(stale, limits, strict=True):
                a.speed_limit = limit if limit > 0 else DEFAULT_SPEED_LIMIT
                a.speed_limit_at = (a.body.x, a.body.y)


__all__ = ["Actor", "EpisodeSettings", "SpawnError", "World"]
