"""The recorder RPCs (reference/carla_recorder.md §1.1) on the server's `Recorder`.

Arities are CARLA 0.9.16's; trailing arguments of newer clients (start_recorder's `stop_replayer`,
replay_file's weather and map override) are accepted and ignored, and older clients' shorter
replay_file calls get 0.9.16's defaults. Collision categories arrive as character codes.
`set_files_base_folder` is not here: the client sets its cache folder without asking the server.
"""

from __future__ import annotations

from collections.abc import Callable

from rllib_integration.embedded.protocol import codec, limits
from rllib_integration.embedded.protocol.rpc_server import Handler
from rllib_integration.embedded.recorder.service import DEFAULT_FOLLOW_OFFSET, Recorder

VALUE, VOID = "value", "void"


def _category(code: object, field: str) -> str:
    """A collision filter letter from its character code (the 0.9.16 client sends ints)."""
    if isinstance(code, str) and len(code) == 1:
        return code
    return chr(limits.integer(code, field, 0, 0x10FFFF))


def _time_factor(value: object) -> float:
    factor = limits.real(value, "time_factor")
    if factor <= 0.0:
        raise limits.WireValueError(f"time_factor = {factor:g} must be positive")
    return factor


def recorder_handlers(recorder: Recorder) -> dict[str, Handler]:
    r = recorder

    def start_recorder(name, additional_data=False, *newer) -> str:
        return r.start(limits.text(name, "name"), limits.flag(additional_data, "additional_data"))

    def show_recorder_file_info(name, show_all=False, *newer) -> str:
        return r.file_info(limits.text(name, "name"), limits.flag(show_all, "show_all"))

    def show_recorder_collisions(name, type1, type2, *newer) -> str:
        name = limits.text(name, "name")
        return r.collisions(name, _category(type1, "type1"), _category(type2, "type2"))

    def show_recorder_actors_blocked(name, min_time, min_distance, *newer) -> str:
        return r.actors_blocked(
            limits.text(name, "name"),
            limits.real(min_time, "min_time"),
            limits.real(min_distance, "min_distance"),
        )

    def replay_file(
        name, start, duration, follow_id, replay_sensors=False, offset=None, *newer
    ) -> str:
        return r.replay(
            limits.text(name, "name"),
            limits.real(start, "start"),
            limits.real(duration, "duration"),
            limits.integer(follow_id, "follow_id", 0, limits.U32_MAX),
            limits.flag(replay_sensors, "replay_sensors"),
            DEFAULT_FOLLOW_OFFSET if offset is None else codec.parse_transform(offset),
        )

    table: dict[str, tuple[Callable[..., object], str]] = {
        "start_recorder": (start_recorder, VALUE),
        "stop_recorder": (lambda *newer: r.stop(), VOID),
        "show_recorder_file_info": (show_recorder_file_info, VALUE),
        "show_recorder_collisions": (show_recorder_collisions, VALUE),
        "show_recorder_actors_blocked": (show_recorder_actors_blocked, VALUE),
        "replay_file": (replay_file, VALUE),
        "stop_replayer": (
            lambda keep, *newer: r.stop_replayer(limits.flag(keep, "keep_actors")),
            VOID,
        ),
        "set_replayer_time_factor": (
            lambda factor, *newer: r.set_time_factor(_time_factor(factor)),
            VOID,
        ),
        "set_replayer_ignore_hero": (
            lambda ignore, *newer: r.set_ignore_hero(limits.flag(ignore, "ignore_hero")),
            VOID,
        ),
        "set_replayer_ignore_spectator": (
            lambda ignore, *newer: r.set_ignore_spectator(limits.flag(ignore, "ignore_spectator")),
            VOID,
        ),
    }
    return {name: Handler(fn, kind) for name, (fn, kind) in table.items()}
