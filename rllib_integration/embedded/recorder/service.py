"""The server's recorder and replayer: what the recorder RPCs do, in CarlaUE4 0.9.16's terms.

Recording and replaying are exclusive, as in 0.9.16: starting one stops the other. While neither
runs the recorder has no hook in the world, so an ordinary tick pays nothing for it. A replay is
called once per tick right after physics (`World.after_physics`), so that parents, sensors and
signals see the replayed poses; a recording once per tick just before the state goes out
(`World.before_publish`), so that it holds what clients saw, and it also hears every spawn
(`World.on_spawn`) and destruction (`World.on_destroy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rllib_integration.embedded.recorder import paths, queries, reader
from rllib_integration.embedded.recorder.paths import RecorderPaths, RefusedPath
from rllib_integration.embedded.recorder.replayer import Pose, Replayer, ReplayOptions, split_frames
from rllib_integration.embedded.recorder.writer import RecordingWriter
from rllib_integration.embedded.world import Actor, World

log = logging.getLogger(__name__)

DEFAULT_FOLLOW_OFFSET: Pose = (-10.0, 0.0, 5.0, -25.0, 0.0, 0.0)  # the 0.9.16 binding default


@dataclass
class RecorderConfig:
    paths: RecorderPaths = field(default_factory=RecorderPaths)
    max_bytes: int = 2 << 30  # a recording stops here (CarlaUE4 fails around 2 GiB)
    doors: bool = False  # write 0.9.16's empty VehicleDoor packet in every frame (strict layout)


@dataclass
class _PendingReplay:
    """A replay waiting for the map it loaded (CarlaUE4's "autoplay after map is loaded")."""

    world_map: Any
    frames: list
    start: float
    duration: float
    follow_id: int
    replay_sensors: bool
    offset: Pose


class Recorder:
    def __init__(
        self,
        world: World,
        config: RecorderConfig | None = None,
        known_maps: Callable[[], list[str]] = list,
        load_map: Callable[[str], Any] | None = None,
    ) -> None:
        """`load_map(name)` starts loading a map for a replay recorded on another map and
        returns it (the episode switches to it later); `known_maps()` are the names it may be
        asked for."""
        self.world = world
        self.config = config or RecorderConfig()
        self.known_maps = known_maps
        self.load_map = load_map
        self.options = ReplayOptions()
        self.writer: RecordingWriter | None = None
        self.replayer: Replayer | None = None
        self.pending: _PendingReplay | None = None
        self._uids = {bp.id: uid for uid, bp in enumerate(world.library.blueprints, start=1)}

    # ------------------------------------------------------------ recording

    def start(self, name: str, additional_data: bool = False) -> str:
        """start_recorder: the resolved path, or "" when the file cannot be written."""
        self.stop_replayer(keep_actors=False)
        self.stop()
        try:
            path = self.config.paths.resolve(name, create_dirs=True)
            fd = paths.open_for_writing(path)
        except (RefusedPath, OSError) as exc:
            log.warning("start_recorder(%r) refused: %s", name, exc)
            return ""
        world = self.world
        self.writer = RecordingWriter(
            fd,
            str(path),
            getattr(world.map, "name", ""),
            self._uids,
            additional_data=additional_data,
            doors=self.config.doors,
            max_bytes=self.config.max_bytes,
        )
        for actor in world.actors.values():  # CARLA adds them at their current global pose
            self.writer.add(actor, actor.pose())
        self.writer.light_times(world)
        world.on_spawn.append(self._spawned)
        world.on_destroy.append(self._destroyed)
        self._hook()
        log.info("recording to %s", path)
        return str(path)

    def stop(self) -> None:
        """stop_recorder (also when the map changes and at shutdown)."""
        if self.writer is None:
            return
        self.writer.close()
        log.info("recording %s stopped after %d frames", self.writer.path, self.writer.frame_id)
        self.writer = None
        self.world.on_spawn.remove(self._spawned)
        self.world.on_destroy.remove(self._destroyed)
        self._hook()

    def _spawned(self, actor: Actor, pose: tuple) -> None:
        if self.writer is not None:
            self.writer.add(actor, pose)
            if actor.parent_id:
                self.writer.parent(actor.id, actor.parent_id)

    def _destroyed(self, actor_id: int) -> None:
        if self.writer is not None:
            self.writer.delete(actor_id)

    # ------------------------------------------------------------ queries

    def _read(self, name: str) -> tuple[bytes | None, str]:
        """The file's bytes (None if it cannot be read) and the path replies show."""
        try:
            path = self.config.paths.resolve(name)
            return paths.read_file(path), str(path)
        except RefusedPath as exc:
            log.info("recorder file %r not read: %s", name, exc)
            return None, exc.shown

    def file_info(self, name: str, show_all: bool) -> str:
        data, shown = self._read(name)
        return _not_found(shown) if data is None else queries.file_info(data, show_all)

    def collisions(self, name: str, category1: str, category2: str) -> str:
        data, shown = self._read(name)
        if data is None:
            return _not_found(shown)
        return queries.collisions(data, category1, category2)

    def actors_blocked(self, name: str, min_time: float, min_distance: float) -> str:
        data, shown = self._read(name)
        if data is None:
            return _not_found(shown)
        return queries.actors_blocked(data, min_time, min_distance)

    # ------------------------------------------------------------ replaying

    def replay(
        self,
        name: str,
        start: float,
        duration: float,
        follow_id: int = 0,
        replay_sensors: bool = False,
        offset: Pose = DEFAULT_FOLLOW_OFFSET,
    ) -> str:
        """replay_file: actors are created before the reply; the replay advances with ticks."""
        self.stop()
        self.stop_replayer(keep_actors=False)
        self.pending = None
        data, shown = self._read(name)
        lines = [f"Replaying File: {shown}\n"]
        if data is None:
            lines.append(_not_found(shown))
            return "".join(lines)
        header, packets_start = reader.read_header(data)
        frames = split_frames(data, packets_start)
        world_map = None
        if header.map_name != getattr(self.world.map, "name", ""):
            world_map = self._load(header.map_name)
            if world_map is None:
                lines.append(f"Could not load mapfile {header.map_name}\n")
                return "".join(lines)
            lines.append(f"Loading map {header.map_name}\n")
            lines.append("Replayer will start after map is loaded...\n")
        replayer = Replayer(self.world, frames, self.options, follow_id, replay_sensors, offset)
        begin, stop = replayer.window(start, duration)
        lines.append(f"Total time recorded: {queries.g(replayer.total_time)}\n")
        lines.append(
            f"Replaying from {queries.g(begin)} s - {queries.g(stop)} s "
            f"({queries.g(replayer.total_time)} s) at {self.options.time_factor:.1f}x\n"
        )
        if self.options.ignore_hero:
            lines.append("Ignoring Hero vehicle\n")
        if self.options.ignore_spectator:
            lines.append("Ignoring Spectator camera\n")
        if world_map is not None:
            self.pending = _PendingReplay(
                world_map, frames, start, duration, follow_id, replay_sensors, offset
            )
        else:
            replayer.begin(begin)
            self.replayer = replayer
        self._hook()
        return "".join(lines)

    def _load(self, map_name: str) -> Any:
        """Load the recording's map, only if it is one the server offers by that name."""
        if self.load_map is None or map_name not in self.known_maps():
            log.warning("replay: map %r is not one of this server's maps", map_name)
            return None
        try:
            return self.load_map(map_name)
        except Exception as exc:
            log.warning("replay: cannot load map %r: %s", map_name, exc)
            return None

    def stop_replayer(self, keep_actors: bool) -> None:
        if self.replayer is not None:
            self.replayer.stop(keep_actors)
            self.replayer = None
        self._hook()

    def set_time_factor(self, factor: float) -> None:
        self.options.time_factor = float(factor)

    def set_ignore_hero(self, ignore: bool) -> None:
        self.options.ignore_hero = bool(ignore)

    def set_ignore_spectator(self, ignore: bool) -> None:
        self.options.ignore_spectator = bool(ignore)

    # ------------------------------------------------------------ ticks and episodes

    def _replay_tick(self, contacts: list) -> None:
        """After physics: the replay advances (and starts once its map is loaded)."""
        try:
            if self.pending is not None and self.world.map is self.pending.world_map:
                self._start_pending()
            if self.replayer is not None:
                self.replayer.tick(self.world.delta)
                if not self.replayer.enabled:
                    self.replayer = None
        except Exception:
            log.exception("replay failed and stopped")
            self.replayer = self.pending = None
        self._hook()

    def _record_tick(self, contacts: list) -> None:
        """Before the tick's state goes out: the frame of what clients see, and the replay's
        traffic light states (over what the lights' own cycles did this tick)."""
        try:
            if self.writer is not None and not self.writer.write_frame(self.world, contacts):
                self.stop()
            if self.replayer is not None:
                self.replayer.show_lights()
        except Exception:
            log.exception("recording or replay failed and stopped")
            self.stop()
            self.replayer = self.pending = None
        self._hook()

    def _start_pending(self) -> None:
        p, self.pending = self.pending, None
        assert p is not None
        replayer = Replayer(
            self.world, p.frames, self.options, p.follow_id, p.replay_sensors, p.offset
        )
        begin, _ = replayer.window(p.start, p.duration)
        replayer.begin(begin)
        self.replayer = replayer

    def episode_ends(self) -> None:
        """A map is being loaded: recording and replaying end with the episode."""
        self.stop()
        self.replayer = self.pending = None
        self._hook()

    def close(self) -> None:
        self.episode_ends()

    def _hook(self) -> None:
        """Be in the world's tick hooks exactly while recording or replaying."""
        replaying = self.replayer is not None or self.pending is not None
        _keep(self.world.after_physics, self._replay_tick, replaying)
        recording = self.writer is not None
        _keep(self.world.before_publish, self._record_tick, recording or self.replayer is not None)


def _keep(hooks: list, hook: Callable, wanted: bool) -> None:
    if wanted and hook not in hooks:
        hooks.append(hook)
    elif not wanted and hook in hooks:
        hooks.remove(hook)


def _not_found(shown: str) -> str:
    return f"File {shown} not found on server\n"
