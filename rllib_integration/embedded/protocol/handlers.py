"""The RPC table: CARLA 0.9.16 method names -> World operations.

Each handler receives the call's arguments after the Metadata struct and returns a plain
value; `rpc_server.Dispatcher` wraps it as Response<T> ("value"), Response<void> ("void") or
sends it bare ("raw", only apply_batch). Exceptions become Response errors naming the call.
Wire values are read and made by `codec`; the calls accepted and ignored are in `ignored`.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable
from typing import Any

from rllib_integration.embedded import physics, scene_objects
from rllib_integration.embedded.navigation import NavigationMesh
from rllib_integration.embedded.protocol import codec, limits
from rllib_integration.embedded.protocol.codec import (
    CMD_ACKERMANN,
    CMD_ANGULAR_IMPULSE,
    CMD_AUTOPILOT,
    CMD_CONSOLE,
    CMD_DEBUG_TELEMETRY,
    CMD_DESTROY,
    CMD_ENABLE_GRAVITY,
    CMD_FORCE,
    CMD_IMPULSE,
    CMD_LIGHT_STATE,
    CMD_LOCATION,
    CMD_PHYSICS_CONTROL,
    CMD_SIMULATE_PHYSICS,
    CMD_SPAWN,
    CMD_TARGET_ANGULAR_VELOCITY,
    CMD_TARGET_VELOCITY,
    CMD_TORQUE,
    CMD_TRAFFIC_LIGHT_STATE,
    CMD_TRANSFORM,
    CMD_VEHICLE_CONTROL,
    CMD_WALKER_CONTROL,
    CMD_WALKER_STATE,
)
from rllib_integration.embedded.protocol.ignored import ignored_handlers
from rllib_integration.embedded.protocol.recorder_rpc import recorder_handlers
from rllib_integration.embedded.protocol.rpc_server import Handler, Offload
from rllib_integration.embedded.protocol.world_streams import WorldStreams
from rllib_integration.embedded.recorder.service import Recorder, RecorderConfig
from rllib_integration.embedded.signals.runtime import TrafficSignals
from rllib_integration.embedded.world import SpawnError, World

log = logging.getLogger(__name__)

SERVER_VERSION = "0.9.16"
# A navigation mesh is built when its map loads (seconds for CARLA's towns, once per machine:
# then it is cached); a client asking for it before that waits.
NAVIGATION_BUILD_TIMEOUT_S = 120.0
_NO_MESH = NavigationMesh("", b"")

# One batch command: fn(command body, id of the actor this batch's SpawnActor made, or 0) -> the
# command's actor id.
Command = Callable[[list, int], int]


class RpcApi:
    """State that lives beside the world (TM registry, map loading) and the handler tables."""

    def __init__(
        self,
        world: World,
        streams: WorldStreams,
        load_map: Callable[[str], Any],
        available_maps: Callable[[], list[str]],
        tick: Callable[[], int],
        switch_episode: Callable[[Any, bool], None] | None = None,
        recorder_config: RecorderConfig | None = None,
    ) -> None:
        self.world = world
        self.streams = streams
        # load_new_episode loads the map; the switch itself may come later (protocol/episode_switch).
        self.switch_episode = switch_episode or world.load_episode
        self.load_map = load_map
        self.available_maps = available_maps
        self.tick = tick
        self.traffic_managers: dict[int, tuple[str, int]] = {}
        self.physics_controls: dict[int, list] = {}
        self.generated_map: Any = None  # from client.generate_opendrive_world
        self.commands = self._commands()
        world.on_destroy.append(lambda actor_id: self.physics_controls.pop(actor_id, None))
        self.recorder = Recorder(world, recorder_config, available_maps, self._load_for_replay)

    # ------------------------------------------------------------ tables

    def handlers(self) -> dict[str, Handler]:
        """Every RPC the server answers: the real ones below, then those it ignores."""
        return ignored_handlers(self.world.actor) | self.real_handlers()

    def real_handlers(self) -> dict[str, Handler]:
        value, void = "value", "void"
        w = self.world

        def lights() -> TrafficSignals:  # the current episode's
            return w.signals.traffic

        table: dict[str, tuple[Callable[..., object], str]] = {
            # connection, episode, settings
            "version": (lambda: SERVER_VERSION, value),
            "get_available_maps": (self.get_available_maps, value),
            "get_episode_info": (self.get_episode_info, value),
            "get_sensor_token": (self.get_sensor_token, value),
            "get_episode_settings": (lambda: codec.settings_to_wire(w.settings), value),
            "set_episode_settings": (self.set_episode_settings, value),
            "tick_cue": (self.tick_cue, value),
            "get_map_info": (lambda: codec.map_info(w.map), value),
            "get_map_data": (lambda: w.map.xodr, value),
            "get_required_files": (self.get_required_files, value),
            "request_file": (self.request_file, value),
            "get_navigation_mesh": (
                lambda: self._with_navigation(lambda mesh: (mesh or _NO_MESH).data),
                value,
            ),
            "load_new_episode": (self.load_new_episode, void),
            "copy_opendrive_to_file": (self.copy_opendrive_to_file, void),
            # weather and vehicle lights
            "get_weather_parameters": (lambda: codec.weather_to_wire(w.weather), value),
            "set_weather_parameters": (self.set_weather_parameters, void),
            "get_vehicle_light_states": (self.get_vehicle_light_states, value),
            "set_vehicle_light_state": (self.set_vehicle_light_state, void),
            "get_vehicle_light_state": (lambda actor_id: [w.actor(actor_id).light_state], value),
            # blueprints and actors
            "get_actor_definitions": (lambda: codec.actor_definitions(w.library), value),
            "spawn_actor": (self.spawn_actor, value),
            "spawn_actor_with_parent": (self.spawn_actor_with_parent, value),
            "destroy_actor": (lambda actor_id: w.destroy(int(actor_id)), value),
            "get_actors_by_id": (self.get_actors_by_id, value),
            "get_spectator": (lambda: self.streams.describe(w.spectator), value),
            "get_actor_bounding_box": (self.get_actor_bounding_box, value),
            "get_all_level_BBs": (self.get_level_boxes, value),
            "get_environment_objects": (self.get_environment_objects, value),
            "get_actor_component_world_transform": (
                lambda actor_id, name: codec.transform(w.actor(actor_id).pose()),
                value,
            ),
            # actor state
            "set_actor_transform": (self.set_actor_transform, void),
            "set_actor_location": (self.set_actor_location, void),
            "set_actor_target_velocity": (self.set_actor_target_velocity, void),
            "enable_actor_constant_velocity": (self.enable_constant_velocity, void),
            "disable_actor_constant_velocity": (self.disable_constant_velocity, void),
            "add_actor_impulse": (self.add_actor_impulse, void),
            "add_actor_impulse_at_location": (lambda a, i, loc: self.add_actor_impulse(a, i), void),
            "set_actor_simulate_physics": (self.set_simulate_physics, void),
            "set_actor_enable_gravity": (self.set_enable_gravity, void),
            "set_actor_collisions": (self.set_collisions, void),
            # vehicles
            "apply_control_to_vehicle": (self.apply_vehicle_control, void),
            "apply_ackermann_control_to_vehicle": (self.apply_ackermann_control, void),
            "get_physics_control": (self.get_physics_control, value),
            "apply_physics_control": (self.apply_physics_control, void),
            "get_wheel_steer_angle": (self.get_wheel_steer_angle, value),
            # walkers
            "apply_control_to_walker": (self.apply_walker_control, void),
            "set_walker_state": (self.set_walker_state, void),
            "set_actor_dead": (lambda actor_id: w.kill_walker(w.actor(actor_id)), void),
            # batches
            "apply_batch": (self.apply_batch, "raw"),
            # traffic lights (a light's getters are read from the episode state)
            "set_traffic_light_state": (lambda a, state: lights().set_state(a, state), void),
            "set_traffic_light_green_time": (lambda a, t: lights().set_time(a, 0, t), void),
            "set_traffic_light_yellow_time": (lambda a, t: lights().set_time(a, 1, t), void),
            "set_traffic_light_red_time": (lambda a, t: lights().set_time(a, 2, t), void),
            "freeze_traffic_light": (lambda a, freeze: lights().freeze(a, freeze), void),
            "freeze_all_traffic_lights": (lambda freeze: lights().freeze_all(freeze), void),
            "reset_traffic_light_group": (lambda a: lights().reset_group(a), void),
            "reset_all_traffic_lights": (lambda: lights().reset_all(), void),
            "get_group_traffic_lights": (lambda a: lights().group_light_ids(a), value),
            "get_light_boxes": (lambda a: [codec.box(*lights().light_box(a), a)], value),
            # traffic manager registry
            "is_traffic_manager_running": (self.is_traffic_manager_running, value),
            "get_traffic_manager_running": (self.get_traffic_manager_running, value),
            "add_traffic_manager_running": (self.add_traffic_manager_running, value),
            "destroy_traffic_manager": (self.destroy_traffic_manager, value),
        }
        handlers = {name: Handler(fn, kind) for name, (fn, kind) in table.items()}
        return handlers | recorder_handlers(self.recorder)

    def _commands(self) -> dict[int, Command]:
        """Batch command index -> what it does (carla.command.*)."""
        w = self.world

        def on_actor(apply: Callable[[int, list], object]) -> Command:
            """A command whose body starts with its actor id; 0 means this batch's new actor
            (carla.command.FutureActor)."""

            def run(body: list, future_id: int) -> int:
                actor_id = int(body[0]) or future_id
                apply(actor_id, body)
                return actor_id

            return run

        def validate(actor_id: int, body: list) -> None:
            w.actor(actor_id)  # the effect is client-side or none

        return {
            CMD_SPAWN: self._spawn_command,
            CMD_DESTROY: on_actor(self._destroy_command),
            CMD_VEHICLE_CONTROL: on_actor(lambda a, b: self.apply_vehicle_control(a, b[1])),
            CMD_ACKERMANN: on_actor(lambda a, b: self.apply_ackermann_control(a, b[1])),
            CMD_WALKER_CONTROL: on_actor(lambda a, b: self.apply_walker_control(a, b[1])),
            CMD_PHYSICS_CONTROL: on_actor(lambda a, b: self.apply_physics_control(a, b[1])),
            CMD_TRANSFORM: on_actor(lambda a, b: self.set_actor_transform(a, b[1])),
            CMD_WALKER_STATE: on_actor(lambda a, b: self.set_walker_state(a, b[1], b[2])),
            CMD_TARGET_VELOCITY: on_actor(lambda a, b: self.set_actor_target_velocity(a, b[1])),
            CMD_TARGET_ANGULAR_VELOCITY: on_actor(validate),
            CMD_IMPULSE: on_actor(lambda a, b: self.add_actor_impulse(a, b[1])),
            CMD_FORCE: on_actor(validate),
            CMD_ANGULAR_IMPULSE: on_actor(validate),
            CMD_TORQUE: on_actor(validate),
            CMD_SIMULATE_PHYSICS: on_actor(lambda a, b: self.set_simulate_physics(a, b[1])),
            CMD_ENABLE_GRAVITY: on_actor(lambda a, b: self.set_enable_gravity(a, b[1])),
            CMD_AUTOPILOT: on_actor(validate),
            CMD_DEBUG_TELEMETRY: on_actor(validate),
            CMD_LIGHT_STATE: on_actor(lambda a, b: self.set_vehicle_light_state(a, b[1])),
            CMD_LOCATION: on_actor(lambda a, b: self.set_actor_location(a, b[1])),
            CMD_CONSOLE: lambda body, future_id: 0,  # console commands drive CarlaUE4's editor
            CMD_TRAFFIC_LIGHT_STATE: on_actor(lambda a, b: w.signals.traffic.set_state(a, b[1])),
        }

    # ------------------------------------------------------------ episode

    def get_available_maps(self) -> list[str]:
        return [f"/Game/Carla/Maps/{name}" for name in self.available_maps()]

    def get_episode_info(self) -> list:
        return [self.world.episode_id, [self.streams.episode_token()]]

    def get_sensor_token(self, stream_id: int) -> list:
        # The client subscribes right after: keep the sensor's data for it (StreamHub.expect).
        stream_id = limits.integer(stream_id, "stream id", 0, limits.U32_MAX)
        if self.streams.hub.valid_stream(stream_id):  # what is kept is bounded by the actors
            self.streams.hub.expect(stream_id)
        return [self.streams.token(stream_id)]

    def set_episode_settings(self, settings: list) -> int:
        w = self.world
        w.settings = codec.settings_from_wire(settings)
        return w.frame

    def tick_cue(self) -> int:
        return self.tick()

    def load_new_episode(
        self, name: str, reset_settings: bool = True, layers: int = 0xFFFF
    ) -> Offload | None:
        """Load the map in a worker thread (validation runs a subprocess, the ground model takes
        seconds on a big map), then switch episodes on the event loop."""
        name = limits.text(name, "map name")
        if not name:
            raise ValueError("map name must be a non-empty string")
        reset = limits.flag(reset_settings, "reset_settings")
        generated = self.generated_map
        if generated is not None and name.rsplit("/", 1)[-1] == generated.name:
            self._switch(generated, reset)
            return None
        return Offload(lambda: self.load_map(name), lambda loaded: self._switch(loaded, reset))

    def _switch(self, new_map: Any, reset_settings: bool) -> None:
        self.recorder.episode_ends()
        self.switch_episode(new_map, reset_settings)

    def _load_for_replay(self, name: str) -> Any:
        """replay_file of a recording made on another map: load it with default settings (as
        CarlaUE4, which also leaves synchronous mode then); the replay starts on the new map."""
        new_map = self.load_map(name)
        self.switch_episode(new_map, True)
        return new_map

    def copy_opendrive_to_file(self, xodr: str, parameters: Any = None) -> Offload:
        """First half of client.generate_opendrive_world: validate and keep the OpenDRIVE (in a
        worker thread); the client then calls load_new_episode with the generated map's name."""
        if not isinstance(xodr, str):
            raise ValueError("OpenDRIVE must be a string")
        return Offload(lambda: self.load_map("xodr:" + xodr), self._keep_generated)

    def _keep_generated(self, loaded: Any) -> None:
        self.generated_map = loaded

    def set_weather_parameters(self, weather: list) -> None:
        self.world.weather = codec.weather_from_wire(weather)

    def get_vehicle_light_states(self) -> list:
        return [[a.id, a.light_state] for a in self.world.actors.values() if a.vehicle is not None]

    def set_vehicle_light_state(self, actor_id: int, state: int | list) -> None:
        self.world.actor(actor_id).light_state = codec.parse_light_state(state)

    # ------------------------------------------------------------ actors

    def spawn_actor(self, description: list, transform: list) -> list:
        blueprint_id, attributes = codec.parse_actor_description(description)
        actor = self.world.spawn(blueprint_id, attributes, codec.parse_transform(transform))
        return self.streams.describe(actor)

    def spawn_actor_with_parent(
        self,
        description: list,
        transform: list,
        parent: int,
        attachment: int = 0,
        socket_name: str = "",
    ) -> list:
        blueprint_id, attributes = codec.parse_actor_description(description)
        actor = self.world.spawn(
            blueprint_id, attributes, codec.parse_transform(transform), codec.actor_id(parent)
        )
        return self.streams.describe(actor)

    def get_actor_bounding_box(self, actor_id: int) -> list:
        actor_id = codec.actor_id(actor_id)
        actor = self.world.actors.get(actor_id)
        if actor is None:
            # The client-side Traffic Manager asks for boxes of vehicles destroyed a moment ago
            # and aborts the client process on an error, so a vanished actor gets an empty box.
            return codec.bounding_box((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), actor_id)
        return codec.actor_bounding_box(actor)

    def get_level_boxes(self, tag: int = scene_objects.ANY) -> list:
        return [codec.level_box(b) for b in scene_objects.level_boxes(self.world, int(tag))]

    def get_environment_objects(self, tag: int = scene_objects.ANY) -> list:
        objects = scene_objects.environment_objects(self.world, int(tag))
        return [codec.environment_object(o) for o in objects]

    def get_actors_by_id(self, ids: list) -> list:
        actors = self.world.actors
        ids = limits.array(ids, "ids", max_items=limits.MAX_BATCH)
        return [self.streams.describe(actors[int(i)]) for i in ids if int(i) in actors]

    def set_actor_transform(self, actor_id: int, transform: list) -> None:
        self.world.set_transform(self.world.actor(actor_id), codec.parse_transform(transform))

    def set_actor_location(self, actor_id: int, location: list) -> None:
        actor = self.world.actor(actor_id)
        pose = (*codec.parse_vec3(location, "location"), *actor.pose()[3:])
        self.world.set_transform(actor, pose)

    def set_actor_target_velocity(self, actor_id: int, velocity: list) -> None:
        actor = self.world.actor(actor_id)
        v = codec.parse_vec3(velocity, "velocity")
        actor.body.target_velocity = v
        if actor.walker is not None:
            actor.walker.direction = v
            actor.walker.walk_speed = math.hypot(v[0], v[1])

    def enable_constant_velocity(self, actor_id: int, velocity: list) -> None:
        actor = self.world.actor(actor_id)
        # Constant velocity is given in the actor's local frame.
        vx, vy, vz = codec.parse_vec3(velocity, "velocity")
        yaw = math.radians(actor.body.yaw)
        world_v = (
            vx * math.cos(yaw) - vy * math.sin(yaw),
            vx * math.sin(yaw) + vy * math.cos(yaw),
            vz,
        )
        actor.body.constant_velocity = world_v

    def disable_constant_velocity(self, actor_id: int) -> None:
        self.world.actor(actor_id).body.constant_velocity = None

    def add_actor_impulse(self, actor_id: int, impulse: list) -> None:
        actor = self.world.actor(actor_id)
        ix, iy, _ = codec.parse_vec3(impulse, "impulse")
        b = actor.body
        yaw = math.radians(b.yaw)
        b.speed += (ix * math.cos(yaw) + iy * math.sin(yaw)) / max(b.mass, 1.0)

    def set_simulate_physics(self, actor_id: int, enabled: bool) -> None:
        actor = self.world.actor(actor_id)
        if actor.parent_id == 0 and actor.kind in ("vehicle", "walker", "prop"):
            actor.body.simulate_physics = limits.flag(enabled, "enabled")
            actor.body.last_pose = None  # kinematic velocities start from the next pose

    def set_enable_gravity(self, actor_id: int, enabled: bool) -> None:
        self.world.actor(actor_id).body.enable_gravity = limits.flag(enabled, "enabled")

    def set_collisions(self, actor_id: int, enabled: bool) -> None:
        actor = self.world.actor(actor_id)
        # WalkerAIController.start() turns collisions off for client-side navigation (CarlaUE4's
        # cars then drive through AI walkers, and turn them back on when the crowd finds one
        # dead under a car); walkers stay solid here so that a car's collision sensor reports
        # the walker it runs into.
        if actor.parent_id == 0 and actor.kind in ("vehicle", "prop"):
            actor.body.collisions = limits.flag(enabled, "enabled")

    # ------------------------------------------------------------ controls

    def apply_vehicle_control(self, actor_id: int, control: list) -> None:
        vehicle = self.world.actor(actor_id).vehicle
        if vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        vehicle.control = codec.vehicle_control_from_wire(control)

    def apply_ackermann_control(self, actor_id: int, control: list) -> None:
        """Steering angle and target speed -> throttle/brake/steer."""
        vehicle = self.world.actor(actor_id).vehicle
        if vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        steer, speed = codec.parse_ackermann_control(control)
        error = speed - vehicle.body.speed
        throttle = min(max(error * 0.5, 0.0), 1.0)
        brake = min(max(-error * 0.5, 0.0), 1.0)
        steer_norm = min(max(steer / math.radians(vehicle.params.max_steer_deg), -1.0), 1.0)
        vehicle.control = physics.VehicleControl(throttle, steer_norm, brake, reverse=speed < 0)

    def get_physics_control(self, actor_id: int) -> list:
        actor = self.world.actor(actor_id)
        if actor.vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        return self.physics_controls.get(actor.id) or codec.default_physics_control(actor.blueprint)

    def apply_physics_control(self, actor_id: int, control: list) -> None:
        actor = self.world.actor(actor_id)
        if actor.vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        checked, mass, max_steer = codec.parse_physics_control(control)
        self.physics_controls[actor.id] = checked
        if mass > 0:
            actor.body.mass = mass
        if max_steer is not None:
            actor.vehicle.params.max_steer_deg = max_steer or 70.0

    def get_wheel_steer_angle(self, actor_id: int, wheel: int) -> float:
        vehicle = self.world.actor(actor_id).vehicle
        return math.degrees(vehicle.steer_angle) if vehicle and int(wheel) < 2 else 0.0

    def apply_walker_control(self, actor_id: int, control: list) -> None:
        walker = self.world.actor(actor_id).walker
        if walker is None:
            raise ValueError(f"actor {actor_id} is not a walker")
        walker.direction, walker.walk_speed = codec.parse_walker_control(control)

    def set_walker_state(self, actor_id: int, transform: list, speed: float) -> None:
        actor = self.world.actor(actor_id)
        self.world.set_walker_state(
            actor, codec.parse_transform(transform), limits.real(speed, "speed")
        )

    # ------------------------------------------------------------ navigation

    def get_required_files(self, folder: str = "") -> list[str] | Offload:
        """The client downloads the "Nav" folder's files on an episode's first tick: the map's
        navigation mesh, which its walker AI (a Detour crowd) runs on."""
        if str(folder).strip("/") != "Nav":
            return []
        return self._with_navigation(lambda mesh: [mesh.file_name] if mesh is not None else [])

    def request_file(self, name: str) -> bytes | Offload:
        return self._with_navigation(
            lambda mesh: mesh.data if mesh is not None and name == mesh.file_name else b""
        )

    def _with_navigation(self, use: Callable[[NavigationMesh | None], Any]) -> Any:
        """`use(the current map's mesh)`; while its build (started when the map loaded) is
        still running, waits for it in a worker thread."""
        future = getattr(self.world.map, "navigation", None)
        if future is None:
            return use(None)
        if future.done():
            return use(future.result())
        return Offload(lambda: future.result(timeout=NAVIGATION_BUILD_TIMEOUT_S), use)

    # ------------------------------------------------------------ batches

    def apply_batch(self, commands: list, do_tick: bool = False) -> list:
        tick = limits.flag(do_tick, "do_tick")
        commands = limits.array(commands, "commands", max_items=limits.MAX_BATCH)
        results = [self._command(command, 0) for command in commands]
        if tick:
            self.tick()
        return results

    def _command(self, command: list, future_id: int) -> list:
        """Run one Command [[index, body]]; return Response<actor id>."""
        try:
            index, body = codec.parse_command(command)
            run = self.commands.get(index)
            if run is None:
                raise ValueError(f"unknown command index {index}")
            return codec.ok(int(run(body, future_id)))
        except (SpawnError, KeyError, ValueError, TypeError, IndexError, RecursionError) as exc:
            return codec.error(str(exc).strip("'\"") or type(exc).__name__)

    def _spawn_command(self, body: list, future_id: int) -> int:
        blueprint_id, attributes, pose, parent_id, do_after = codec.parse_spawn_command(body)
        actor = self.world.spawn(blueprint_id, attributes, pose, parent_id)
        for command in do_after:
            self._command(command, actor.id)
        return actor.id

    def _destroy_command(self, actor_id: int, body: list) -> None:
        if not self.world.destroy(actor_id):
            raise KeyError(f"actor {actor_id} not found")

    # ------------------------------------------------------------ traffic manager registry

    def is_traffic_manager_running(self, port: int) -> bool | Offload:
        port = int(port)
        entry = self.traffic_managers.get(port)
        if entry is None:
            return False

        def forget_if_gone(alive: object) -> bool:
            if not alive and self.traffic_managers.get(port) == entry:
                del self.traffic_managers[port]
            return bool(alive)

        return Offload(lambda: _port_open(*entry), forget_if_gone)

    def get_traffic_manager_running(self, port: int) -> list:
        return list(self.traffic_managers.get(int(port), ("", 0)))

    def add_traffic_manager_running(self, address: list) -> bool | Offload:
        host, port = limits.array(address, "address", 2)
        host, port = (
            limits.ip_address(host, "host"),
            limits.integer(port, "port", 1, limits.U16_MAX),
        )
        registered = self.traffic_managers.get(port)
        if registered is None:
            self.traffic_managers[port] = (host, port)
            return True

        def register_unless_alive(alive: object) -> bool:
            if alive and port in self.traffic_managers:
                return False  # another client's TM listens there
            self.traffic_managers[port] = (host, port)
            return True

        return Offload(lambda: _port_open(*registered), register_unless_alive)

    def destroy_traffic_manager(self, port: int) -> bool:
        return self.traffic_managers.pop(int(port), None) is not None


def _port_open(host: str, port: int) -> bool:
    """Whether a registered TM still listens (a dead client's TM must not be handed out).
    Blocks up to its timeout: run it as an Offload."""
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.2):
            return True
    except OSError:
        return False
