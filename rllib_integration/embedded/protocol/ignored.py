"""RPCs the embedded server accepts and ignores.

Their effect is client-side, visual, or belongs to a part of CARLA this server does not model
(debug drawing, ROS, skeletal meshes, doors, map layers). Each answers with the empty or neutral
value CARLA would give, so that user code written for CarlaUE4 runs on. The real handlers are in handlers.py; a name belongs to
one table or the other (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable

from rllib_integration.embedded.protocol import codec
from rllib_integration.embedded.protocol.rpc_server import Handler

VALUE, VOID = "value", "void"  # Response<T>, Response<void>

_IGNORED: dict[str, tuple[Callable[..., object], str]] = {
    # map layers, settings of the engine
    "load_map_layer": (lambda layers: None, VOID),
    "unload_map_layer": (lambda layers: None, VOID),
    "set_files_base_folder": (lambda folder: None, VOID),
    "get_imui_gravity": (lambda: 9.81, VALUE),
    "set_imui_gravity": (lambda gravity: None, VOID),
    # street lights
    "query_lights_state": (lambda client: [], VALUE),
    "update_lights_state": (lambda *args: None, VOID),
    "update_day_night_cycle": (lambda *args: None, VOID),
    # level geometry, components, bones, sockets, textures, ray casts
    "enable_environment_objects": (lambda ids, enable: None, VOID),
    "get_names_of_all_objects": (lambda: [], VALUE),
    "get_actor_component_names": (lambda actor_id: [], VALUE),
    "get_actor_bone_names": (lambda actor_id: [], VALUE),
    "get_actor_socket_names": (lambda actor_id: [], VALUE),
    "get_actor_component_relative_transform": (
        lambda actor_id, name: codec.transform((0.0,) * 6),
        VALUE,
    ),
    "get_actor_bone_world_transforms": (lambda actor_id: [], VALUE),
    "get_actor_bone_relative_transforms": (lambda actor_id: [], VALUE),
    "get_actor_socket_world_transforms": (lambda actor_id: [], VALUE),
    "get_actor_socket_relative_transforms": (lambda actor_id: [], VALUE),
    "get_vehicle_bone_world_transforms": (lambda actor_id: [], VALUE),
    "get_wheel_pitch_angle": (lambda actor_id, wheel: 0.0, VALUE),
    "apply_color_texture_to_object": (lambda *args: None, VOID),
    "apply_float_color_texture_to_object": (lambda *args: None, VOID),
    "apply_textures_to_object": (lambda *args: None, VOID),
    "enable_pedestrian_navigation": (lambda enable: None, VOID),
    "cast_ray": (lambda start, end: [], VALUE),
    "project_point": (lambda location, direction, distance: [False], VALUE),
    # actors: the autopilot is the client-side Traffic Manager
    "set_actor_autopilot": (lambda actor_id, enabled: None, VOID),
    "show_vehicle_debug_telemetry": (lambda actor_id, enabled: None, VOID),
    # vehicles
    "get_ackermann_controller_settings": (
        lambda actor_id: [0.8, 0.0, 0.0, 0.01, 0.15, 0.0, 0.0],
        VALUE,
    ),
    "apply_ackermann_controller_settings": (lambda actor_id, settings: None, VOID),
    "open_vehicle_door": (lambda actor_id, door: None, VOID),
    "close_vehicle_door": (lambda actor_id, door: None, VOID),
    "set_wheel_steer_direction": (lambda actor_id, wheel, angle: None, VOID),
    "get_telemetry_data": (lambda actor_id: None, VALUE),
    "enable_carsim": (lambda actor_id, path: None, VOID),
    "use_carsim_road": (lambda actor_id, enabled: None, VOID),
    "enable_chrono_physics": (lambda *args: None, VOID),
    "restore_physx_physics": (lambda actor_id: None, VOID),
    # walkers
    "get_bones_transform": (lambda actor_id: [], VALUE),
    "set_bones_transform": (lambda actor_id, bones: None, VOID),
    "blend_pose": (lambda actor_id, blend: None, VOID),
    "get_pose_from_animation": (lambda actor_id: None, VOID),
    "set_pedestrians_cross_factor": (lambda factor: None, VOID),
    "set_pedestrians_seed": (lambda seed: None, VOID),
    # traffic lights: not called by the 0.9.16 client (the elapsed time is in the snapshot)
    "get_traffic_light_elapsed_time": (lambda actor_id: 0.0, VALUE),
    # debug drawing, ROS
    "draw_debug_shape": (lambda shape: None, VOID),
    "enable_sensor_for_ros": (lambda token: None, VOID),
    "disable_sensor_for_ros": (lambda token: None, VOID),
    "is_sensor_enabled_for_ros": (lambda token: False, VALUE),
    "send": (lambda actor_id, message: None, VOID),
}
IGNORED: dict[str, Handler] = {name: Handler(fn, kind) for name, (fn, kind) in _IGNORED.items()}

# Response<void> calls whose first argument is an actor id, which must exist (an error names it
# otherwise, as CarlaUE4's does); the other arguments are ignored. Values: their signatures.
IGNORED_FOR_ACTOR: dict[str, Callable[..., None]] = {
    "set_actor_target_angular_velocity": lambda actor, velocity: None,
    "add_actor_force": lambda actor, force: None,
    "add_actor_force_at_location": lambda actor, force, location: None,
    "add_actor_angular_impulse": lambda actor, impulse: None,
    "add_actor_torque": lambda actor, torque: None,
}


def ignored_handlers(find_actor: Callable[[int], object]) -> dict[str, Handler]:
    """Both tables as handlers; `find_actor(id)` raises for an unknown actor."""

    def for_actor(signature: Callable[..., None]) -> Callable[..., None]:
        return lambda actor_id, *args: signature(find_actor(actor_id), *args)

    return IGNORED | {
        name: Handler(for_actor(signature), VOID) for name, signature in IGNORED_FOR_ACTOR.items()
    }
