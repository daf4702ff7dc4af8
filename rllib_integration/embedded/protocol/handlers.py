"""The RPC table: CARLA 0.9.16 method names -> World operations, with wire (de)coding.

Each handler receives the call's arguments after the Metadata struct and returns a plain
value; `rpc_server.Dispatcher` wraps it as Response<T> ("value"), Response<void> ("void") or
sends it bare ("raw", only apply_batch). Exceptions become Response errors naming the call.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable
from typing import Any

from rllib_integration.embedded import physics
from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.rpc_server import Handler
from rllib_integration.embedded.world import EpisodeSettings, SpawnError, World

log = logging.getLogger(__name__)

SERVER_VERSION = "0.9.16"

# Command variant indices (wire protocol doc §1.2).
(
    CMD_SPAWN,
    CMD_DESTROY,
    CMD_VEHICLE_CONTROL,
    CMD_ACKERMANN,
    CMD_WALKER_CONTROL,
    CMD_PHYSICS_CONTROL,
    CMD_TRANSFORM,
    CMD_WALKER_STATE,
    CMD_TARGET_VELOCITY,
    CMD_TARGET_ANGULAR_VELOCITY,
    CMD_IMPULSE,
    CMD_FORCE,
    CMD_ANGULAR_IMPULSE,
    CMD_TORQUE,
    CMD_SIMULATE_PHYSICS,
    CMD_ENABLE_GRAVITY,
    CMD_AUTOPILOT,
    CMD_DEBUG_TELEMETRY,
    CMD_LIGHT_STATE,
    CMD_LOCATION,
    CMD_CONSOLE,
    CMD_TRAFFIC_LIGHT_STATE,
) = range(22)


def _description(description: list) -> tuple[str, dict[str, str]]:
    """ActorDescription [uid, id, [[attr, type, value]...]] -> (blueprint id, attributes)."""
    if not isinstance(description, list) or len(description) < 3:
        raise ValueError("ActorDescription must be [uid, id, attributes]")
    _, blueprint_id, attributes = description[:3]
    if not isinstance(blueprint_id, str):
        raise ValueError("blueprint id must be a string")
    values = {}
    for attribute in attributes:
        key, _, value = attribute[:3]
        values[str(key)] = str(value)
    return blueprint_id, values


def _default_physics_control(actor: Any) -> list:
    """VehiclePhysicsControl (0.9.16 field order) with plausible passenger-car values."""
    bp = actor.blueprint
    wheel_positions = [
        (bp.wheelbase / 2, -bp.extent[1] * 0.8),
        (bp.wheelbase / 2, bp.extent[1] * 0.8),
        (-bp.wheelbase / 2, -bp.extent[1] * 0.8),
        (-bp.wheelbase / 2, bp.extent[1] * 0.8),
    ]
    wheels = [
        [3.5, 0.25, bp.max_steer_deg if i < 2 else 0.0, 37.0, 1500.0, 3000.0 if i >= 2 else 0.0,
         3.0, 20.0, 3000.0, [x * 100, y * 100, 30.0]]
        for i, (x, y) in enumerate(wheel_positions)
    ]  # fmt: skip
    return [
        [[0.0, 400.0], [1890.0, 500.0], [5730.0, 400.0]],  # torque_curve
        5800.0,  # max_rpm
        1.0,  # moi
        0.15,  # damping_rate_full_throttle
        2.0,  # damping_rate_zero_throttle_clutch_engaged
        0.35,  # damping_rate_zero_throttle_clutch_disengaged
        True,  # use_gear_autobox
        0.5,  # gear_switch_time
        10.0,  # clutch_strength
        4.0,  # final_ratio
        [[4.0, 0.2, 0.65], [2.0, 0.5, 0.65], [1.5, 0.5, 0.65], [1.1, 0.5, 0.65]],  # forward_gears
        float(bp.mass or 1500.0),  # mass
        0.3,  # drag_coefficient
        [0.0, 0.0, 0.0],  # center_of_mass
        [[0.0, 1.0], [20.0, 0.9], [60.0, 0.8], [120.0, 0.7]],  # steering_curve
        wheels,
        False,  # use_sweep_wheel_collision
    ]


class RpcApi:
    """State that lives beside the world (TM registry, map loading) and the handler table."""

    def __init__(
        self,
        world: World,
        load_map: Callable[[str], Any],
        available_maps: Callable[[], list[str]],
        tick: Callable[[], int],
    ) -> None:
        self.world = world
        self.load_map = load_map
        self.available_maps = available_maps
        self.tick = tick
        self.traffic_managers: dict[int, tuple[str, int]] = {}
        self.physics_controls: dict[int, list] = {}
        self.generated_map: Any = None  # from client.generate_opendrive_world
        world.on_destroy.append(lambda actor_id: self.physics_controls.pop(actor_id, None))

    # ------------------------------------------------------------ table

    def handlers(self) -> dict[str, Handler]:
        value, void = "value", "void"
        w = self.world
        table: dict[str, tuple[Callable[..., object], str]] = {
            # connection, episode, settings
            "version": (lambda: SERVER_VERSION, value),
            "get_available_maps": (self.get_available_maps, value),
            "get_episode_info": (lambda: [w.episode_id, [w.episode_token()]], value),
            "get_sensor_token": (self.get_sensor_token, value),
            "get_episode_settings": (lambda: w.settings.to_wire(), value),
            "set_episode_settings": (self.set_episode_settings, value),
            "tick_cue": (self.tick_cue, value),
            "get_map_info": (self.get_map_info, value),
            "get_map_data": (lambda: w.map.xodr, value),
            "get_required_files": (lambda folder="": [], value),
            "request_file": (lambda name: b"", value),
            "get_navigation_mesh": (lambda: b"", value),
            "load_new_episode": (self.load_new_episode, void),
            "copy_opendrive_to_file": (self.copy_opendrive_to_file, void),
            "load_map_layer": (lambda layers: None, void),
            "unload_map_layer": (lambda layers: None, void),
            "set_files_base_folder": (lambda folder: None, void),
            "get_imui_gravity": (lambda: 9.81, value),
            "set_imui_gravity": (lambda gravity: None, void),
            # weather and lights
            "get_weather_parameters": (lambda: [w.weather[k] for k in codec.WEATHER_FIELDS], value),
            "set_weather_parameters": (self.set_weather_parameters, void),
            "query_lights_state": (lambda client: [], value),
            "update_lights_state": (lambda *args: None, void),
            "update_day_night_cycle": (lambda *args: None, void),
            "get_vehicle_light_states": (self.get_vehicle_light_states, value),
            "set_vehicle_light_state": (self.set_vehicle_light_state, void),
            "get_vehicle_light_state": (lambda actor_id: [w.actor(actor_id).light_state], value),
            # blueprints and actors
            "get_actor_definitions": (lambda: w.library.to_wire(), value),
            "spawn_actor": (self.spawn_actor, value),
            "spawn_actor_with_parent": (self.spawn_actor_with_parent, value),
            "destroy_actor": (lambda actor_id: w.destroy(int(actor_id)), value),
            "get_actors_by_id": (self.get_actors_by_id, value),
            "get_spectator": (lambda: w.actor_wire(w.spectator), value),
            "get_actor_bounding_box": (self.get_actor_bounding_box, value),
            "get_level_bbs": (lambda tag=255: [], value),
            "get_environment_objects": (lambda tag=255: [], value),
            "enable_environment_objects": (lambda ids, enable: None, void),
            "get_names_of_all_objects": (lambda: [], value),
            "get_actor_component_names": (lambda actor_id: [], value),
            "get_actor_bone_names": (lambda actor_id: [], value),
            "get_actor_socket_names": (lambda actor_id: [], value),
            "get_actor_component_world_transform": (
                lambda actor_id, name: codec.transform(w.actor(actor_id).pose()),
                value,
            ),
            "get_actor_component_relative_transform": (
                lambda actor_id, name: codec.transform((0.0,) * 6),
                value,
            ),
            "get_actor_bone_world_transforms": (lambda actor_id: [], value),
            "get_actor_bone_relative_transforms": (lambda actor_id: [], value),
            "get_actor_socket_world_transforms": (lambda actor_id: [], value),
            "get_actor_socket_relative_transforms": (lambda actor_id: [], value),
            "get_vehicle_bone_world_transforms": (lambda actor_id: [], value),
            "get_wheel_pitch_angle": (lambda actor_id, wheel: 0.0, value),
            "apply_color_texture_to_object": (lambda *args: None, void),
            "apply_float_color_texture_to_object": (lambda *args: None, void),
            "apply_textures_to_object": (lambda *args: None, void),
            "enable_pedestrian_navigation": (lambda enable: None, void),
            "cast_ray": (lambda start, end: [], value),
            "project_point": (lambda location, direction, distance: [False], value),
            # actor state
            "set_actor_transform": (self.set_actor_transform, void),
            "set_actor_location": (self.set_actor_location, void),
            "set_actor_target_velocity": (self.set_actor_target_velocity, void),
            "set_actor_target_angular_velocity": (
                lambda actor_id, v: w.actor(actor_id) and None,
                void,
            ),
            "enable_actor_constant_velocity": (self.enable_constant_velocity, void),
            "disable_actor_constant_velocity": (self.disable_constant_velocity, void),
            "add_actor_impulse": (self.add_actor_impulse, void),
            "add_actor_impulse_at_location": (lambda a, i, loc: self.add_actor_impulse(a, i), void),
            "add_actor_force": (lambda a, f: w.actor(a) and None, void),
            "add_actor_force_at_location": (lambda a, f, loc: w.actor(a) and None, void),
            "add_actor_angular_impulse": (lambda a, i: w.actor(a) and None, void),
            "add_actor_torque": (lambda a, t: w.actor(a) and None, void),
            "set_actor_simulate_physics": (self.set_simulate_physics, void),
            "set_actor_enable_gravity": (self.set_enable_gravity, void),
            "set_actor_collisions": (self.set_collisions, void),
            "set_actor_dead": (lambda actor_id: w.actor(actor_id) and None, void),
            "set_actor_autopilot": (lambda actor_id, enabled: None, void),
            "show_vehicle_debug_telemetry": (lambda actor_id, enabled: None, void),
            # vehicles
            "apply_control_to_vehicle": (self.apply_vehicle_control, void),
            "apply_ackermann_control_to_vehicle": (self.apply_ackermann_control, void),
            "get_ackermann_controller_settings": (
                lambda actor_id: [0.8, 0.0, 0.0, 0.01, 0.15, 0.0, 0.0],
                value,
            ),
            "apply_ackermann_controller_settings": (lambda actor_id, settings: None, void),
            "get_physics_control": (self.get_physics_control, value),
            "apply_physics_control": (self.apply_physics_control, void),
            "open_vehicle_door": (lambda actor_id, door: None, void),
            "close_vehicle_door": (lambda actor_id, door: None, void),
            "set_wheel_steer_direction": (lambda actor_id, wheel, angle: None, void),
            "get_wheel_steer_angle": (self.get_wheel_steer_angle, value),
            "get_telemetry_data": (lambda actor_id: None, value),
            "enable_carsim": (lambda actor_id, path: None, void),
            "use_carsim_road": (lambda actor_id, enabled: None, void),
            "enable_chrono_physics": (lambda *args: None, void),
            "restore_physx_physics": (lambda actor_id: None, void),
            # walkers
            "apply_control_to_walker": (self.apply_walker_control, void),
            "set_walker_state": (self.set_walker_state, void),
            "get_bones_transform": (lambda actor_id: [], value),
            "set_bones_transform": (lambda actor_id, bones: None, void),
            "blend_pose": (lambda actor_id, blend: None, void),
            "get_pose_from_animation": (lambda actor_id: None, void),
            "set_pedestrians_cross_factor": (lambda factor: None, void),
            "set_pedestrians_seed": (lambda seed: None, void),
            # traffic lights and signs (the built-in maps have none)
            "set_traffic_light_state": (lambda actor_id, state: w.actor(actor_id) and None, void),
            "set_traffic_light_green_time": (lambda actor_id, t: w.actor(actor_id) and None, void),
            "set_traffic_light_yellow_time": (lambda actor_id, t: w.actor(actor_id) and None, void),
            "set_traffic_light_red_time": (lambda actor_id, t: w.actor(actor_id) and None, void),
            "freeze_traffic_light": (lambda actor_id, freeze: w.actor(actor_id) and None, void),
            "reset_traffic_light_group": (lambda actor_id: w.actor(actor_id) and None, void),
            "reset_all_traffic_lights": (lambda: None, void),
            "freeze_all_traffic_lights": (lambda freeze: None, void),
            "get_group_traffic_lights": (lambda actor_id: [], value),
            "get_light_boxes": (lambda actor_id: [], value),
            "get_traffic_light_elapsed_time": (lambda actor_id: 0.0, value),
            # batches
            "apply_batch": (self.apply_batch, "raw"),
            # traffic manager registry
            "is_traffic_manager_running": (self.is_traffic_manager_running, value),
            "get_traffic_manager_running": (self.get_traffic_manager_running, value),
            "add_traffic_manager_running": (self.add_traffic_manager_running, value),
            "destroy_traffic_manager": (self.destroy_traffic_manager, value),
            # debug drawing, recorder, ROS: accepted and ignored
            "draw_debug_shape": (lambda shape: None, void),
            "start_recorder": (lambda name, additional=False: "", value),
            "stop_recorder": (lambda: None, void),
            "show_recorder_file_info": (lambda name, show_all=False: "", value),
            "show_recorder_collisions": (lambda name, t1, t2: "", value),
            "show_recorder_actors_blocked": (lambda name, t, d: "", value),
            "replay_file": (lambda *args: "", value),
            "stop_replayer": (lambda keep: None, void),
            "set_replayer_time_factor": (lambda factor: None, void),
            "set_replayer_ignore_hero": (lambda ignore: None, void),
            "set_replayer_ignore_spectator": (lambda ignore: None, void),
            "enable_sensor_for_ros": (lambda token: None, void),
            "disable_sensor_for_ros": (lambda token: None, void),
            "is_sensor_enabled_for_ros": (lambda token: False, value),
            "send": (lambda actor_id, message: None, void),
        }
        return {name: Handler(fn, kind) for name, (fn, kind) in table.items()}

    # ------------------------------------------------------------ episode

    def get_available_maps(self) -> list[str]:
        return [f"/Game/Carla/Maps/{name}" for name in self.available_maps()]

    def get_sensor_token(self, stream_id: int) -> list:
        return [codec.token(int(stream_id), self.world.stream_port)]

    def set_episode_settings(self, settings: list) -> int:
        w = self.world
        w.settings = EpisodeSettings.from_wire(settings)
        return w.frame

    def tick_cue(self) -> int:
        return self.tick()

    def get_map_info(self) -> list:
        m = self.world.map
        return [m.path, [codec.transform(p) for p in m.spawn_points]]

    def load_new_episode(
        self, name: str, reset_settings: bool = True, layers: int = 0xFFFF
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("map name must be a non-empty string")
        generated = self.generated_map
        if generated is not None and name.rsplit("/", 1)[-1] == generated.name:
            new_map = generated
        else:
            new_map = self.load_map(name)
        self.world.load_episode(new_map, bool(reset_settings))

    def copy_opendrive_to_file(self, xodr: str, parameters: Any = None) -> None:
        """First half of client.generate_opendrive_world: validate and keep the OpenDRIVE; the
        client then calls load_new_episode with the generated map's name."""
        if not isinstance(xodr, str):
            raise ValueError("OpenDRIVE must be a string")
        self.generated_map = self.load_map("xodr:" + xodr)

    def set_weather_parameters(self, weather: list) -> None:
        if len(weather) < len(codec.WEATHER_FIELDS):
            raise ValueError("WeatherParameters needs 14 fields")
        self.world.weather = {
            k: float(v) for k, v in zip(codec.WEATHER_FIELDS, weather, strict=False)
        }

    def get_vehicle_light_states(self) -> list:
        return [[a.id, a.light_state] for a in self.world.actors.values() if a.vehicle is not None]

    def set_vehicle_light_state(self, actor_id: int, state: int | list) -> None:
        # rpc::VehicleLightState is an array holding one u32 bitmask.
        value = state[0] if isinstance(state, list) and len(state) == 1 else state
        self.world.actor(actor_id).light_state = int(value)

    # ------------------------------------------------------------ actors

    def spawn_actor(self, description: list, transform: list) -> list:
        blueprint_id, attributes = _description(description)
        actor = self.world.spawn(blueprint_id, attributes, codec.parse_transform(transform))
        return self.world.actor_wire(actor)

    def spawn_actor_with_parent(
        self,
        description: list,
        transform: list,
        parent: int,
        attachment: int = 0,
        socket_name: str = "",
    ) -> list:
        blueprint_id, attributes = _description(description)
        actor = self.world.spawn(
            blueprint_id, attributes, codec.parse_transform(transform), int(parent)
        )
        return self.world.actor_wire(actor)

    def get_actor_bounding_box(self, actor_id: int) -> list:
        actor = self.world.actors.get(int(actor_id))
        if actor is None:
            # The client-side Traffic Manager asks for boxes of vehicles destroyed a moment ago
            # and aborts the client process on an error, so a vanished actor gets an empty box.
            return codec.bounding_box((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), int(actor_id))
        return actor.bounding_box()

    def get_actors_by_id(self, ids: list) -> list:
        w = self.world
        return [w.actor_wire(w.actors[int(i)]) for i in ids if int(i) in w.actors]

    def set_actor_transform(self, actor_id: int, transform: list) -> None:
        self.world.set_transform(self.world.actor(actor_id), codec.parse_transform(transform))

    def set_actor_location(self, actor_id: int, location: list) -> None:
        actor = self.world.actor(actor_id)
        pose = (*codec.parse_vec3(location), *actor.pose()[3:])
        self.world.set_transform(actor, pose)

    def set_actor_target_velocity(self, actor_id: int, velocity: list) -> None:
        actor = self.world.actor(actor_id)
        v = codec.parse_vec3(velocity)
        actor.body.target_velocity = v
        if actor.walker is not None:
            actor.walker.direction = v
            actor.walker.walk_speed = math.hypot(v[0], v[1])

    def enable_constant_velocity(self, actor_id: int, velocity: list) -> None:
        actor = self.world.actor(actor_id)
        # Constant velocity is given in the actor's local frame.
        vx, vy, vz = codec.parse_vec3(velocity)
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
        ix, iy, _ = codec.parse_vec3(impulse)
        b = actor.body
        yaw = math.radians(b.yaw)
        b.speed += (ix * math.cos(yaw) + iy * math.sin(yaw)) / max(b.mass, 1.0)

    def set_simulate_physics(self, actor_id: int, enabled: bool) -> None:
        actor = self.world.actor(actor_id)
        if actor.parent_id == 0 and actor.kind in ("vehicle", "walker", "prop"):
            actor.body.simulate_physics = bool(enabled)
            actor.body.last_pose = None  # kinematic velocities start from the next pose

    def set_enable_gravity(self, actor_id: int, enabled: bool) -> None:
        self.world.actor(actor_id).body.enable_gravity = bool(enabled)

    def set_collisions(self, actor_id: int, enabled: bool) -> None:
        actor = self.world.actor(actor_id)
        # WalkerAIController.start() turns collisions off for client-side navigation; walkers
        # stay solid here so that vehicles (and their collision sensors) still hit them.
        if actor.parent_id == 0 and actor.kind in ("vehicle", "prop"):
            actor.body.collisions = bool(enabled)

    # ------------------------------------------------------------ controls

    def apply_vehicle_control(self, actor_id: int, control: list) -> None:
        vehicle = self.world.actor(actor_id).vehicle
        if vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        vehicle.control = physics.VehicleControl.from_wire(control)

    def apply_ackermann_control(self, actor_id: int, control: list) -> None:
        """[steer (rad), steer_speed, speed, acceleration, jerk] -> throttle/brake/steer."""
        vehicle = self.world.actor(actor_id).vehicle
        if vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        steer, _, speed, _, _ = (float(x) for x in control[:5])
        error = speed - vehicle.body.speed
        throttle = min(max(error * 0.5, 0.0), 1.0)
        brake = min(max(-error * 0.5, 0.0), 1.0)
        steer_norm = min(max(steer / math.radians(vehicle.params.max_steer_deg), -1.0), 1.0)
        vehicle.control = physics.VehicleControl(throttle, steer_norm, brake, reverse=speed < 0)

    def get_physics_control(self, actor_id: int) -> list:
        actor = self.world.actor(actor_id)
        if actor.vehicle is None:
            raise ValueError(f"actor {actor_id} is not a vehicle")
        return self.physics_controls.get(actor.id) or _default_physics_control(actor)

    def apply_physics_control(self, actor_id: int, control: list) -> None:
        actor = self.world.actor(actor_id)
        if actor.vehicle is None or not isinstance(control, list) or len(control) < 17:
            raise ValueError(f"actor {actor_id}: not a vehicle or bad VehiclePhysicsControl")
        self.physics_controls[actor.id] = control
        mass = float(control[11])
        if mass > 0:
            actor.body.mass = mass
        wheels = control[15]
        if wheels:
            actor.vehicle.params.max_steer_deg = max(float(wh[2]) for wh in wheels) or 70.0

    def get_wheel_steer_angle(self, actor_id: int, wheel: int) -> float:
        vehicle = self.world.actor(actor_id).vehicle
        return math.degrees(vehicle.steer_angle) if vehicle and int(wheel) < 2 else 0.0

    def apply_walker_control(self, actor_id: int, control: list) -> None:
        walker = self.world.actor(actor_id).walker
        if walker is None:
            raise ValueError(f"actor {actor_id} is not a walker")
        direction, speed = control[0], control[1]
        walker.direction = codec.parse_vec3(direction)
        walker.walk_speed = float(speed)

    def set_walker_state(self, actor_id: int, transform: list, speed: float) -> None:
        actor = self.world.actor(actor_id)
        pose = codec.parse_transform(transform)
        b = actor.body
        b.x, b.y, b.z = pose[:3]
        b.yaw = pose[4]
        if actor.walker is not None:
            actor.walker.walk_speed = float(speed)
            yaw = math.radians(pose[4])
            actor.walker.direction = (math.cos(yaw), math.sin(yaw), 0.0)

    # ------------------------------------------------------------ batches

    def apply_batch(self, commands: list, do_tick: bool = False) -> list:
        results = [self._command(command, 0) for command in commands]
        if do_tick:
            self.tick()
        return results

    def _command(self, command: list, future_id: int) -> list:
        """Run one Command [[index, body]]; return Response<actor id>."""
        try:
            index, body = command[0]
            actor_id = self._run_command(int(index), body, future_id)
            return [[1, int(actor_id)]]
        except (SpawnError, KeyError, ValueError, TypeError, IndexError) as exc:
            return [[0, [str(exc).strip("'\"") or type(exc).__name__]]]

    def _run_command(self, index: int, body: list, future_id: int) -> int:
        def target(raw: int) -> int:
            return future_id if int(raw) == 0 and future_id else int(raw)

        if index == CMD_SPAWN:
            description, transform, parent, _, _, do_after = body[:6]
            parent_id = int(parent[1]) if parent and parent[0] else 0
            blueprint_id, attributes = _description(description)
            actor = self.world.spawn(
                blueprint_id, attributes, codec.parse_transform(transform), parent_id
            )
            for sub in do_after or []:
                self._command(sub, actor.id)
            return actor.id
        actor_id = target(body[0])
        if index == CMD_DESTROY:
            if not self.world.destroy(actor_id):
                raise KeyError(f"actor {actor_id} not found")
        elif index == CMD_VEHICLE_CONTROL:
            self.apply_vehicle_control(actor_id, body[1])
        elif index == CMD_ACKERMANN:
            self.apply_ackermann_control(actor_id, body[1])
        elif index == CMD_WALKER_CONTROL:
            self.apply_walker_control(actor_id, body[1])
        elif index == CMD_PHYSICS_CONTROL:
            self.apply_physics_control(actor_id, body[1])
        elif index == CMD_TRANSFORM:
            self.set_actor_transform(actor_id, body[1])
        elif index == CMD_WALKER_STATE:
            self.set_walker_state(actor_id, body[1], body[2])
        elif index == CMD_TARGET_VELOCITY:
            self.set_actor_target_velocity(actor_id, body[1])
        elif index == CMD_IMPULSE:
            self.add_actor_impulse(actor_id, body[1])
        elif index == CMD_SIMULATE_PHYSICS:
            self.set_simulate_physics(actor_id, body[1])
        elif index == CMD_ENABLE_GRAVITY:
            self.set_enable_gravity(actor_id, body[1])
        elif index == CMD_LIGHT_STATE:
            self.set_vehicle_light_state(actor_id, body[1])
        elif index == CMD_LOCATION:
            self.set_actor_location(actor_id, body[1])
        elif index in (
            CMD_TARGET_ANGULAR_VELOCITY,
            CMD_FORCE,
            CMD_ANGULAR_IMPULSE,
            CMD_TORQUE,
            CMD_AUTOPILOT,
            CMD_DEBUG_TELEMETRY,
            CMD_TRAFFIC_LIGHT_STATE,
        ):
            self.world.actor(actor_id)  # validates the id; the effect is client-side or none
        elif index == CMD_CONSOLE:
            return 0
        else:
            raise ValueError(f"unknown command index {index}")
        return actor_id

    # ------------------------------------------------------------ traffic manager registry

    def is_traffic_manager_running(self, port: int) -> bool:
        entry = self.traffic_managers.get(int(port))
        if entry is None:
            return False
        if not _port_open(*entry):
            del self.traffic_managers[int(port)]
            return False
        return True

    def get_traffic_manager_running(self, port: int) -> list:
        return list(self.traffic_managers.get(int(port), ("", 0)))

    def add_traffic_manager_running(self, address: list) -> bool:
        host, port = str(address[0]), int(address[1])
        if port in self.traffic_managers and _port_open(*self.traffic_managers[port]):
            return False
        self.traffic_managers[port] = (host, port)
        return True

    def destroy_traffic_manager(self, port: int) -> bool:
        return self.traffic_managers.pop(int(port), None) is not None


def _port_open(host: str, port: int) -> bool:
    """Whether a registered TM still listens (a dead client's TM must not be handed out)."""
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.2):
            return True
    except OSError:
        return False
