"""`sensor.birdview`: a bird's-eye view of the hero's surroundings, rendered in the client.

YAML (every key optional except ``type``)::

    birdview:
      type: sensor.birdview
      size: 192               # output is size x size pixels
      radius: 19.2            # half the view's width in metres ... or pixels_per_meter: 5
      offset: 9.6             # metres from the hero forward to the image centre (radius/2)
      mode: rgb               # rgb: the original's picture (H, W, 3) uint8
                              # masks: (H, W, len(layers)) uint8 of 0/1, channels in `layers` order
      layers: [road, lane_markings, route, vehicles, walkers, hero,
               traffic_lights_red, traffic_lights_yellow, traffic_lights_green]
      route_width: 2.0        # metres
      walker_scale: 2.0       # walkers drawn this much larger, as the original did
      record: bev_{pid}_{episode}.gif  # optional: each episode's frames (.gif; .mp4 needs
                                       # imageio-ffmpeg); {episode} counts per process
      record_fps: 20
      cache_dir: /some/dir    # optional: where the static map cache lives

Layers: road, sidewalk, shoulder (with parking), lane_markings, route, vehicles (two-wheelers
included), two_wheelers, walkers, hero, traffic_lights_red/yellow/green. In rgb mode all are
drawn by default and `layers` chooses what is drawn; in masks mode the default is the list above.
The route layer shows the route of a route episode (``set_route(route)``, called by the env). Traffic lights are
discs at the light in rgb (as the original) and the lanes they govern (their trigger volumes) in
masks. ``BirdViewSensor.observation_space(attributes)`` gives the matching gymnasium space.

It works on any CARLA server: the static layers come from the map's OpenDRIVE (rasterised once
per town and resolution, cached on disk, see ``birdview/cache.py``), the actors from the world
snapshot of the same tick. The hero's heading points up and the picture is the top view seen
from above (CARLA's +y to the right of +x). A frame costs about 0.2 ms to render at 192x192 with
20 vehicles, 0.4-0.6 ms with the snapshot read (``benchmarks/bird_view.py``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rllib_integration.routes.progress import RouteProgress
from rllib_integration.routes.route import Route
from rllib_integration.sensors.base import PseudoSensor
from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.maps import static_map_for_carla_map
from rllib_integration.sensors.birdview.recorder import FrameRecorder
from rllib_integration.sensors.birdview.renderer import (
    HERO,
    OFF,
    TWO_WHEELER,
    VEHICLE,
    WALKER,
    BirdViewRenderer,
    Boxes,
    TrafficLights,
)
from rllib_integration.sensors.birdview.settings import BirdViewSettings

if TYPE_CHECKING:
    import carla
    import gymnasium

    from rllib_integration.sim_view import SimulatorView

_LIGHT = 4  # kind of a traffic light in the actor table (not one the renderer draws)
_TWO_WHEELER_BASE_TYPES = {"motorcycle", "bicycle"}
_EPISODES = itertools.count()  # numbers the `{episode}` placeholder of `record`
_LIGHT_STATE_VALUES = {"Red": 0, "Yellow": 1, "Green": 2, "Off": 3}


@dataclass
class _ActorInfo:
    kind: int | None  # VEHICLE / TWO_WHEELER / WALKER / _LIGHT, None = not drawn
    offset: tuple[float, float] = (0.0, 0.0)  # bounding-box centre in the actor's frame
    extent: tuple[float, float] = (0.0, 0.0)


class _ActorCatalog:
    """What the bird's-eye views of one world know of its actors: the kind and box of every
    actor seen (looked up once, in one batched query), and the traffic lights (they stand
    still). The views of all heroes of a world share one (`BirdViewSensor.tick_all`)."""

    def __init__(self, world: Any):
        self.world = world
        self.infos: dict[int, _ActorInfo] = {}
        self.lights: list[tuple[Any, np.ndarray, np.ndarray]] = []  # (actor, position, area)
        self._arrays_key: tuple[int, ...] | None = None
        self._arrays = _static_arrays([])

    def read(self, snapshot: Any, hero_ids: set[int]) -> tuple[list[int], list[float], dict]:
        """One pass over a tick's snapshot: the drawn actors' ids and their poses (x, y, yaw,
        flat), and the transforms of the actors in `hero_ids`."""
        heroes: dict[int, Any] = {}
        ids: list[int] = []
        poses: list[float] = []
        unknown = []
        infos = self.infos
        for actor_snapshot in snapshot:
            actor_id = actor_snapshot.id
            info = infos.get(actor_id)
            if actor_id in hero_ids:
                heroes[actor_id] = transform = actor_snapshot.get_transform()
                if info is not None and info.kind is not None and info.kind != _LIGHT:
                    ids.append(actor_id)
                    poses += (transform.location.x, transform.location.y, transform.rotation.yaw)
                    continue
            if info is None:
                unknown.append(actor_snapshot)
            elif info.kind is not None and info.kind != _LIGHT:
                transform = actor_snapshot.get_transform()
                location = transform.location
                ids.append(actor_id)
                poses += (location.x, location.y, transform.rotation.yaw)
        if unknown:
            self._learn(unknown, ids, poses)
        return ids, poses, heroes

    def _learn(self, snapshots: list, ids: list, poses: list) -> None:
        """Look up actors seen for the first time (one batched query), then add the drawn ones."""
        actors = {a.id: a for a in self.world.get_actors([s.id for s in snapshots])}
        for actor_snapshot in snapshots:
            actor = actors.get(actor_snapshot.id)
            if actor is None:
                continue  # not known to the client yet: ask again next tick
            info = self.infos[actor_snapshot.id] = _info_of(actor)
            if info.kind == _LIGHT:
                self.lights.append(_light_entry(actor))
            elif info.kind is not None:
                transform = actor_snapshot.get_transform()
                ids.append(actor_snapshot.id)
                poses += (transform.location.x, transform.location.y, transform.rotation.yaw)

    def arrays_of(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, extents, kinds) of these actors; reused while the same actors are seen."""
        key = tuple(ids)
        if key != self._arrays_key:
            self._arrays = _static_arrays([self.infos[i] for i in ids])
            self._arrays_key = key
        return self._arrays


class BirdViewSensor(PseudoSensor):
    """Renders one frame per world tick, in the tick's thread: no threads, no display. The
    views of several heroes of one tick are rendered together (`tick_all`): one read of the
    snapshot and one vectorised pass over the actors for all of them."""

    def __init__(self, name: str, attributes: dict, view: SimulatorView):
        super().__init__(name, attributes, view)
        self.settings = BirdViewSettings.from_attributes(attributes, f"sensor '{name}'")
        if not view.has_hero:
            raise ValueError(f"sensor '{name}': sensor.birdview needs a hero")
        result = static_map_for_carla_map(
            view.map, self.settings.pixels_per_meter, attributes.get("cache_dir")
        )
        self.cache = result  # where the static map came from (memory/disk/built) and how long
        self.renderer = BirdViewRenderer(result.static, self.settings)
        self._world = view.world
        self._hero_id = view.hero.id
        self._hero_arrays = _static_arrays([_box_of(view.hero)])
        self._catalog = _ActorCatalog(view.world)
        self._progress: RouteProgress | None = None  # where the hero is on its route
        self._recorder = None
        if attributes.get("record"):
            path = str(attributes["record"]).replace("{episode}", str(next(_EPISODES)))
            path = path.replace("{pid}", str(os.getpid()))  # env runners are processes
            try:
                self._recorder = FrameRecorder(path, float(attributes.get("record_fps", 20.0)))
            except ValueError as error:  # bad suffix, fps, or MP4 without imageio-ffmpeg
                raise ValueError(f"sensor '{name}': record: {error}") from None

    @classmethod
    def check_attributes(cls, attributes: dict) -> None:
        BirdViewSettings.from_attributes(attributes)

    @staticmethod
    def observation_space(attributes: dict) -> gymnasium.spaces.Box:
        """The space of this sensor's readings, for an experiment's get_observation_space()."""
        import gymnasium

        settings = BirdViewSettings.from_attributes(attributes)
        high = 255 if settings.mode == "rgb" else 1
        return gymnasium.spaces.Box(0, high, settings.shape, np.uint8)

    @property
    def layers(self) -> tuple[str, ...]:
        """Channel names in masks mode (and what is drawn in rgb mode)."""
        return self.settings.layers

    @property
    def recording(self) -> FrameRecorder | None:
        """The recorder of this episode's frames (``record`` option), if any."""
        return self._recorder

    def set_route(self, route: Route | np.ndarray | None) -> None:
        """Draw this route on the `route` layer; None clears it. A route episode's env gives the
        hero's `routes.Route`: then only the route ahead of the hero is drawn, from the last
        route point it passed (a route that crosses a junction twice shows the way to take
        now). Plain (M, 2 or 3) world points in driving order are drawn whole."""
        if isinstance(route, Route):
            self.renderer.set_route(route.positions)
            self._progress = RouteProgress(route)
        else:
            self.renderer.set_route(route)
            self._progress = None

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> np.ndarray:
        return _render_views([self], frame, snapshot)[0]

    @classmethod
    def tick_all(
        cls, sensors: Sequence[PseudoSensor], frame: int, snapshot: carla.WorldSnapshot
    ) -> list[Any]:
        if cls.tick is not BirdViewSensor.tick:  # a subclass draws its own way
            return super().tick_all(sensors, frame, snapshot)
        views = [sensor for sensor in sensors if isinstance(sensor, BirdViewSensor)]
        if len(views) != len(sensors) or len({id(view._world) for view in views}) > 1:
            return super().tick_all(sensors, frame, snapshot)
        return _render_views(views, frame, snapshot)

    def _draw_route_ahead(self, progress: RouteProgress, anchor: tuple[float, float]) -> None:
        """The route from the last point the hero passed to as far as the view reaches."""
        progress.advance(anchor[0], anchor[1], True)
        along = progress.route.cumulative
        reach = self.settings.radius * math.sqrt(2) + self.settings.centre_offset
        last = int(np.searchsorted(along, along[progress.index] + reach))
        self.renderer.set_route_span(progress.index, last)

    def destroy(self) -> None:
        if self._recorder is not None:
            self._recorder.close()  # the file is complete now; `recording` still reports it

    # -- actors ------------------------------------------------------------------------------

    def _traffic_lights(self, anchor: tuple[float, float]) -> TrafficLights | None:
        lights = self._catalog.lights
        if not lights:
            return None
        reach = self.settings.radius * math.sqrt(2) + self.settings.centre_offset + 30.0
        near = [
            entry
            for entry in lights
            if abs(entry[1][0] - anchor[0]) < reach and abs(entry[1][1] - anchor[1]) < reach
        ]
        if not near:
            return None
        states = np.array([_state_value(actor) for actor, _, _ in near], np.int64)
        areas = np.array([area for _, _, area in near])
        return TrafficLights(
            positions=np.array([position for _, position, _ in near]),
            states=states,
            areas=Boxes(areas[:, 0:2], areas[:, 2], areas[:, 3:5]),
        )


def _render_views(sensors: Sequence[BirdViewSensor], frame: int, snapshot: Any) -> list[np.ndarray]:
    """The frames of these views of one world at one tick, in their order: the snapshot read
    once, each view drawing every actor but its own hero as an actor and its hero as the hero,
    the polygons of views with the same geometry computed in one pass."""
    catalog = sensors[0]._catalog
    for sensor in sensors:
        sensor._catalog = catalog  # one world: what one view learns, all know
    ids, poses, hero_transforms = catalog.read(snapshot, {s._hero_id for s in sensors})
    actors = _boxes(np.array(poses).reshape(-1, 3), *catalog.arrays_of(ids))
    anchors = []
    for sensor in sensors:
        transform = hero_transforms.get(sensor._hero_id)
        if transform is None:
            raise RuntimeError(
                f"sensor '{sensor.name}': the hero is not in the world at frame {frame}"
            )
        anchor = (transform.location.x, transform.location.y)
        if sensor._progress is not None:
            sensor._draw_route_ahead(sensor._progress, anchor)
        anchors.append((anchor, transform.rotation.yaw))
    images: list[np.ndarray | None] = [None] * len(sensors)
    groups: dict[tuple, list[int]] = {}
    for index, sensor in enumerate(sensors):
        s = sensor.settings
        groups.setdefault((s.size, s.pixels_per_meter, s.walker_scale), []).append(index)
    for members in groups.values():
        hero_arrays = [sensors[i]._hero_arrays for i in members]
        offsets, extents, kinds = (np.concatenate(part) for part in zip(*hero_arrays, strict=True))
        hero_poses = np.array([[*anchors[i][0], anchors[i][1]] for i in members])
        heroes = _boxes(hero_poses, offsets, extents, kinds)
        boxes = Boxes(
            np.concatenate([actors.centers, heroes.centers]),
            np.concatenate([actors.yaws, heroes.yaws]),
            np.concatenate([actors.extents, heroes.extents]),
            np.concatenate([actors.kinds, heroes.kinds]),
        )
        # View k draws every actor but its own hero, and of the heroes' boxes only its own.
        shown = np.zeros((len(members), len(ids) + len(members)), bool)
        shown[:, : len(ids)] = True
        row = {actor_id: r for r, actor_id in enumerate(ids)}
        for k, i in enumerate(members):
            own = row.get(sensors[i]._hero_id)
            if own is not None:
                shown[k, own] = False
            shown[k, len(ids) + k] = True
        transforms = [sensors[i].renderer.view_transform(*anchors[i]) for i in members]
        polygons = sensors[members[0]].renderer.view_polygons(transforms, boxes, shown)
        for k, i in enumerate(members):
            sensor = sensors[i]
            lights = sensor._traffic_lights(anchors[i][0])
            image = sensor.renderer.draw(transforms[k], polygons[k], lights)
            if sensor._recorder is not None:
                rgb = image
                if sensor.settings.mode != "rgb":
                    rgb = palette.masks_to_rgb(image, sensor.layers)
                sensor._recorder.append(rgb)
            images[i] = image
    return images  # type: ignore[return-value]


def _info_of(actor) -> _ActorInfo:
    type_id = actor.type_id
    if type_id.startswith("vehicle."):
        attributes = actor.attributes
        two_wheeled = (
            attributes.get("number_of_wheels") == "2"
            or attributes.get("base_type") in _TWO_WHEELER_BASE_TYPES
        )
        kind = TWO_WHEELER if two_wheeled else VEHICLE
    elif type_id.startswith("walker.pedestrian"):
        kind = WALKER
    elif type_id.startswith("traffic.traffic_light"):
        return _ActorInfo(_LIGHT)
    else:
        return _ActorInfo(None)
    box = actor.bounding_box
    return _ActorInfo(kind, (box.location.x, box.location.y), (box.extent.x, box.extent.y))


def _box_of(actor) -> _ActorInfo:
    box = actor.bounding_box
    return _ActorInfo(HERO, (box.location.x, box.location.y), (box.extent.x, box.extent.y))


def _static_arrays(infos: list[_ActorInfo]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offsets = np.array([info.offset for info in infos], np.float64).reshape(-1, 2)
    extents = np.array([info.extent for info in infos], np.float64).reshape(-1, 2)
    return offsets, extents, np.array([info.kind for info in infos], np.uint8)


def _boxes(poses: np.ndarray, offsets: np.ndarray, extents: np.ndarray, kinds) -> Boxes:
    """(N, 3) actor x, y, yaw + box centre offsets in each actor's frame -> world boxes."""
    if not len(poses):
        return Boxes.empty()
    yaws = poses[:, 2]
    radians = np.radians(yaws)
    cos, sin = np.cos(radians), np.sin(radians)
    centers = poses[:, :2].copy()
    centers[:, 0] += offsets[:, 0] * cos - offsets[:, 1] * sin
    centers[:, 1] += offsets[:, 0] * sin + offsets[:, 1] * cos
    return Boxes(centers, yaws, extents, kinds)


def _light_entry(actor) -> tuple[Any, np.ndarray, np.ndarray]:
    """(actor, position, [cx, cy, yaw, ex, ey] of the area it governs), read once: lights stand still."""
    transform = actor.get_transform()
    position = np.array([transform.location.x, transform.location.y])
    volume = getattr(actor, "trigger_volume", None)
    if volume is None:
        return actor, position, np.array([position[0], position[1], 0.0, 0.0, 0.0])
    center = transform.transform(volume.location)
    yaw = transform.rotation.yaw + volume.rotation.yaw
    return actor, position, np.array([center.x, center.y, yaw, volume.extent.x, volume.extent.y])


def _state_value(light) -> int:
    try:
        return _LIGHT_STATE_VALUES.get(light.state.name, OFF)
    except (AttributeError, RuntimeError):
        return OFF
