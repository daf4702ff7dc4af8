"""CarlaCore: one simulator, its world, its heroes with their sensors, NPC traffic, and the step.

It owns the server it launched (`supervisor/simulator.py`), connects the real `carla` client once
the server accepts connections, runs the world synchronously at a fixed step, and turns a dead or
hung server into `SimulatorFailure` so that the env can truncate the episode and `recover()`.

The parts it owns (sensors, traffic) and the experiment see the simulator only through
`self.view`, a read-only `SimulatorView` (each hero has its own, whose `hero` is that hero); only
the core advances the world. One step (`step_heroes(controls)`): the episode's `ControlPath`
applies every live hero's control and ticks once, the pseudo-sensors render that frame, and each
hero's collector hands out its own sensors' readings of it. A single-agent env has one hero
(`reset_episode`, `step`, `hero`); a multi-agent env has several (`reset_heroes`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import carla

from rllib_integration.core.control_path import ControlPath, choose_control_path
from rllib_integration.core.heroes import Hero, HeroRequest
from rllib_integration.defaults import CarlaSettings, carla_settings, parse_spawn_point
from rllib_integration.fatal import FatalError
from rllib_integration.routes.route import Route
from rllib_integration.sensors.base import PseudoSensor
from rllib_integration.sensors.collector import SensorCollector, SensorTimeoutError
from rllib_integration.sensors.registry import create_sensor
from rllib_integration.sensors.tick_confirmation import TickConfirmation
from rllib_integration.sim_view import SimulatorView
from rllib_integration.supervisor.simulator import ServerError, SimulatorServer
from rllib_integration.traffic.background import BackgroundTraffic

logger = logging.getLogger(__name__)

T = TypeVar("T")


class SimulatorFailure(RuntimeError):
    """The server died, hung or stopped answering; the world must be rebuilt (`recover()`)."""


class SetupError(FatalError, RuntimeError):
    """The world cannot be set up as configured (unknown town or blueprint, no free spawn point)."""


# The name of the one hero of a single-agent episode (`reset_episode`).
SINGLE_HERO = "hero"
# Spawn points closer than this to one another count as the same place (m).
SAME_SPOT = 2.0


class CarlaCore:
    """Simulator-side state of one env. Attributes: client, world, map, heroes, config, frame."""

    def __init__(
        self,
        config: CarlaSettings | Mapping,
        spread_index: int = 0,
        embedded_args: Sequence[str] = (),
    ):
        self.config = config if isinstance(config, CarlaSettings) else carla_settings(config)
        # embedded_args: what a launched embedded server needs besides the settings (towns.py).
        self.server = SimulatorServer(self.config, spread_index, embedded_args)
        self.client: carla.Client | None = None
        self.world: carla.World | None = None
        self.map: carla.Map | None = None
        # The episode's heroes by name, in spawn order; a removed hero stays, with no actor.
        self.heroes: dict[str, Hero] = {}
        self.view = SimulatorView(self)
        self.traffic = BackgroundTraffic(self.view, self.server, self.config)
        self._control_path: ControlPath | None = None
        self._tick_confirmation: TickConfirmation | None = None  # for client-side sensors
        self.frame = 0
        self.restarts = 0
        self.spawn_point_count = 0  # spawn points of the first hero at the last reset
        self._rng = random.Random()
        self._closed = False
        self._library: tuple[carla.World, carla.BlueprintLibrary] | None = None
        self.server.start()
        try:
            self._connect()
        except BaseException:
            self.server.stop()
            raise

    @property
    def timestep(self) -> float:
        return self.config.timestep

    @property
    def hero(self) -> carla.Actor | None:
        """The first hero's vehicle (the one hero of a single-agent env); None if there is none."""
        first = next(iter(self.heroes.values()), None)
        return first.actor if first is not None else None

    @property
    def collector(self) -> SensorCollector:
        """The first hero's sensor collector (the one hero of a single-agent env)."""
        first = next(iter(self.heroes.values()), None)
        if first is None:
            raise RuntimeError("CarlaCore: no hero (reset an episode first)")
        return first.collector

    @property
    def blueprint_library(self) -> carla.BlueprintLibrary:
        """The world's blueprint library, fetched once per world: every hero and sensor of a
        reset finds its blueprint there (`find` returns a copy, which they set up)."""
        world = self.view.world
        if self._library is None or self._library[0] is not world:
            self._library = (world, world.get_blueprint_library())
        return self._library[1]

    def live_heroes(self) -> list[Hero]:
        return [hero for hero in self.heroes.values() if hero.alive]

    # ---------------------------------------------------------------- connection

    def _connect(self) -> None:
        """A fresh client per attempt: one whose first connection failed never recovers."""
        error: Exception | None = None
        for attempt in range(1, self.config.retries_on_error + 1):
            try:
                client = carla.Client(self.server.host, self.server.rpc_port)
                client.set_timeout(self.config.timeout)
                world = client.get_world()
                self.client, self.world = client, world
                self._apply_sync_settings()
                self.map = world.get_map()
                self.frame = world.get_snapshot().frame
                return
            except RuntimeError as exc:
                error = exc
                logger.warning("waiting for the server (attempt %d): %s", attempt, exc)
                if not self.server.is_alive():
                    break
                time.sleep(1.0)
        raise ServerError(
            f"cannot connect to the simulator at {self.server.host}:{self.server.rpc_port} after "
            f"{self.config.retries_on_error} attempts: {error}; raise env_config.carla.timeout or "
            f"retries_on_error if the server is slow to start (log: {self.server.log_path})"
        )

    def _apply_sync_settings(self) -> None:
        settings = self.view.world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = self.config.timestep
        settings.no_rendering_mode = not self.config.enable_rendering
        self.view.world.apply_settings(settings)

    # ---------------------------------------------------------------- episode setup

    def reset_episode(
        self,
        experiment_config: Mapping,
        town: str | None = None,
        seed: int | None = None,
        spawn_point: int | None = None,
        hero_transform: carla.Transform | None = None,
        route: Route | None = None,
    ) -> dict[str, tuple[int, Any]]:
        """Set up the world for a new single-hero episode; the first frame's sensor data.

        Loads `town` only if it differs from the current map, sets the weather, (re)spawns the
        NPCs when needed, and spawns a fresh hero with its sensors: at `hero_transform` if given
        (e.g. a route's start; SetupError if it is taken), else at `spawn_point` (an index,
        modulo their number, into hero.spawn_points or else the map's) if given and free, else
        at a random free one. A `route` goes to the hero's pseudo-sensors (`set_route`).
        """
        request = HeroRequest(
            SINGLE_HERO, experiment_config["hero"], spawn_point, hero_transform, route=route
        )
        return self.reset_heroes(experiment_config, [request], town, seed)[SINGLE_HERO]

    def load_town(self, town: str) -> carla.Map:
        """Make `town` the current map now, before an episode's setup (e.g. to plan a route on
        it); the last episode's heroes go first. Its map."""
        try:
            if self.map_name != town:
                self._destroy_heroes()
                self._load_town(town)
        except RuntimeError as exc:
            if isinstance(exc, SetupError | SimulatorFailure):
                raise
            self._raise_if_server_lost(exc)
            raise
        return self.map

    def retrying(self, setup: Callable[[], T], failed: bool = False) -> T:
        """Run an episode's setup (`reset_episode` / `reset_heroes`), restarting the server
        first if it `failed` (a SimulatorFailure truncated the last episode) and again after
        every SimulatorFailure of the setup itself, up to `retries_on_error` attempts."""
        attempts = self.config.retries_on_error
        for attempt in range(1, attempts + 1):
            if failed:
                self.recover()
            try:
                return setup()
            except SimulatorFailure as exc:
                logger.warning("simulator failure during reset (attempt %d): %s", attempt, exc)
                failed = True
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable: retries_on_error >= 1")

    def reset_heroes(
        self,
        world_config: Mapping,
        requests: list[HeroRequest],
        town: str | None = None,
        seed: int | None = None,
    ) -> dict[str, dict[str, tuple[int, Any]]]:
        """Set up the world for a new episode with one hero per request, each at its own spawn
        point (never one another's); every hero's sensor data of the first frame, by name.

        The world's settings (weather, background_activity) come from `world_config`, an
        experiment section; each hero's blueprint, spawn points and sensors from its request.
        """
        if seed is not None:
            self._rng.seed(seed)
        background = world_config["background_activity"]
        try:
            self._destroy_heroes()
            if town is not None:
                self._load_town(town)
            self._set_weather(world_config["weather"])
            if self.traffic.spawned and background["respawn_per_episode"]:
                self.traffic.destroy()
            started_npcs = False
            if not self.traffic.spawned:
                started_npcs = self.traffic.spawn(background, self._rng)
            # The one decision of the episode's step route: through the traffic helper while
            # it runs (its Traffic Manager must step with every tick), else direct.
            self._control_path = choose_control_path(
                self.traffic.host, self.view.client, self.world, self.config.timeout
            )
            if started_npcs:
                self.advance()
                self.traffic.start_walkers()
            self._spawn_heroes(requests)
        except RuntimeError as exc:
            if isinstance(exc, SetupError | SimulatorFailure):
                raise
            self._raise_if_server_lost(exc)
            raise
        return self.step_heroes({})

    @property
    def tm_port(self) -> int:
        """Port of the Traffic Manager that drives the NPC vehicles (in the traffic process)."""
        return self.server.tm_port

    def _load_town(self, town: str) -> bool:
        """Load `town` unless it is already the current map; True if a new map was loaded."""
        if self.map_name == town:
            return False
        available = [path.rsplit("/", 1)[-1] for path in self.view.client.get_available_maps()]
        if town not in available:
            raise SetupError(
                f"town '{town}' (env_config.experiment.town) is not available on this server; "
                f"available: {', '.join(sorted(available))}"
            )
        self.traffic.destroy()
        self.traffic.close_host()  # its client and TM belong to the old map's episode
        layers = carla.MapLayer.All if self.config.enable_map_assets else carla.MapLayer.NONE
        self.world = self.view.client.load_world(town, reset_settings=False, map_layers=layers)
        self._apply_sync_settings()
        # The new town's map: the 0.9.16 client starts the new episode with its cached map marked
        # stale, so this asks the server. It could give the old town's only if another thread
        # of this client read the map first (a Traffic Manager here; the core's lives in the
        # traffic process, closed above).
        self.map = self.world.get_map()
        return True

    @property
    def map_name(self) -> str:
        """The current town's name, e.g. 'Loop01' (the map path without 'Carla/Maps/')."""
        return self.map.name.rsplit("/", 1)[-1] if self.map is not None else ""

    def _set_weather(self, weather: str | Mapping) -> None:
        if isinstance(weather, str):
            self.view.world.set_weather(getattr(carla.WeatherParameters, weather))
            return
        parameters = self.view.world.get_weather()
        for key, value in weather.items():
            setattr(parameters, key, float(value))
        self.view.world.set_weather(parameters)

    def _hero_spawn_points(self, hero_config: Mapping, label: str) -> list[carla.Transform]:
        points = []
        for i, text in enumerate(hero_config["spawn_points"]):
            numbers = parse_spawn_point(text, f"{label}.spawn_points.{i}")
            location = carla.Location(*numbers[:3])
            if len(numbers) == 6:
                roll, pitch, yaw = numbers[3:]
                points.append(carla.Transform(location, carla.Rotation(pitch, yaw, roll)))
                continue
            # "x,y,z": snap to the nearest lane and take its heading.
            waypoint = self.view.map.get_waypoint(location, project_to_road=True)
            if waypoint is None:
                raise SetupError(f"{label}.spawn_points.{i}: no road near {text!r}")
            snapped = waypoint.transform.location
            points.append(
                carla.Transform(
                    carla.Location(snapped.x, snapped.y, max(location.z, snapped.z + 0.5)),
                    waypoint.transform.rotation,
                )
            )
        return points or list(self.view.map.get_spawn_points())

    def _spawn_heroes(self, requests: list[HeroRequest]) -> None:
        """Spawn every hero at a free spawn point no other hero took, then their sensors."""
        taken: list[carla.Location] = []
        try:
            for index, request in enumerate(requests):
                hero = Hero(request, self)
                self.heroes[request.name] = hero
                hero.actor, choices = self._spawn_vehicle(request, taken)
                taken.append(hero.actor.get_transform().location)
                if index == 0:
                    self.spawn_point_count = choices
        except SetupError:
            self._destroy_heroes()  # leave nothing half-built behind
            raise
        # The heroes must exist in the client's episode state before sensors attach to them.
        self.advance()
        for hero in self.heroes.values():
            self._attach_sensors(hero)
        collectors = [hero.collector for hero in self.heroes.values()]
        self._tick_confirmation = TickConfirmation(self.world, collectors)
        if any(hero.request.config["sensors"] for hero in self.heroes.values()):
            self._warm_up_sensors()

    def _spawn_vehicle(
        self, request: HeroRequest, taken: list[carla.Location]
    ) -> tuple[carla.Actor, int]:
        """The hero's vehicle at its wanted or a random free spawn point away from `taken`;
        and how many spawn points it had to choose from."""
        label, hero_config = request.label, request.config
        library = self.blueprint_library
        blueprint_id = hero_config["blueprint"]
        try:
            blueprint = library.find(blueprint_id)
        except IndexError:
            raise SetupError(
                f"{label}.blueprint: unknown vehicle blueprint '{blueprint_id}'"
            ) from None
        if blueprint.has_attribute("role_name"):
            blueprint.set_attribute("role_name", "hero")
        points = self._hero_spawn_points(hero_config, label)
        choices = len(points)
        if request.transform is not None:
            return self._spawn_at(blueprint, request), choices
        spawn_point = request.spawn_point
        wanted = None if spawn_point is None else points.pop(spawn_point % len(points))
        self._rng.shuffle(points)
        if wanted is not None:
            points.insert(0, wanted)
        candidates = [p for p in points if all(p.location.distance(t) > SAME_SPOT for t in taken)]
        for transform in candidates:
            actor = self._try_spawn(blueprint, transform)
            if actor is not None:
                return actor, choices
        who = "the hero" if request.name == SINGLE_HERO else f"the hero of agent '{request.name}'"
        raise SetupError(
            f"could not spawn {who} '{blueprint_id}' at any of {len(points)} spawn points "
            f"(all occupied or off the map); give more {label}.spawn_points or fewer NPCs"
            + (" or agents" if request.name != SINGLE_HERO else "")
        )

    def _spawn_at(self, blueprint: carla.ActorBlueprint, request: HeroRequest) -> carla.Actor:
        """The hero's vehicle exactly at the request's transform (e.g. a route's start)."""
        assert request.transform is not None
        actor = self._try_spawn(blueprint, request.transform)
        if actor is None:
            where = request.transform.location
            raise SetupError(
                f"could not spawn the hero '{request.config['blueprint']}' at ({where.x:.1f}, "
                f"{where.y:.1f}, {where.z:.1f}): the place is taken or off the map"
            )
        return actor

    def _try_spawn(self, blueprint: carla.ActorBlueprint, transform: carla.Transform) -> Any:
        """The actor at `transform`, or None if the place is taken. The client fails every spawn
        on a lost server too, each only after its timeout, which would pass for a map whose
        every spawn point is taken (minutes of silence, then a SetupError): so a failed spawn
        asks whether the server still answers, and a lost one is a SimulatorFailure."""
        actor = self.view.world.try_spawn_actor(blueprint, transform)
        if actor is None:
            self._fail_if_server_lost("a spawn failed")
        return actor

    def _attach_sensors(self, hero: Hero) -> None:
        for name, attributes in hero.request.config["sensors"].items():
            try:
                sensor = create_sensor(name, dict(attributes), hero.view, hero.collector)
            except (ValueError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError):
                    self._raise_if_server_lost(exc)
                self._destroy_heroes()  # leave nothing half-built behind
                raise SetupError(f"{hero.request.label}.sensors.{name}: {exc}") from exc
            if isinstance(sensor, PseudoSensor):
                if hero.request.route is not None:
                    sensor.set_route(hero.request.route)
                hero.pseudo_sensors.append(sensor)

    def _warm_up_sensors(self) -> None:
        """Tick until every sensor delivers: a stream subscription opens asynchronously after
        listen(), so the data of the first frames can be lost and must not be waited for."""
        deadline = time.monotonic() + self.config.sensor_timeout
        heroes = self.live_heroes()
        while True:
            frame = self.advance()
            self._render_pseudo_sensors(frame)
            # Short waits while some stream may not be subscribed yet; once every sensor has
            # delivered something, this frame's data is only late: wait for it in full.
            live = all(hero.collector.all_delivered() for hero in heroes)
            try:
                for hero in heroes:
                    remaining = deadline - time.monotonic()
                    hero.collector.get_data(frame, max(0.0, remaining if live else 0.05))
                return
            except SensorTimeoutError as exc:
                if time.monotonic() >= deadline:
                    raise SimulatorFailure(f"sensors never delivered: {exc}") from exc

    # ---------------------------------------------------------------- stepping

    def step(self, control: carla.VehicleControl | None) -> dict[str, tuple[int, Any]]:
        """Apply `control` to the hero, advance one frame and return that frame's sensor data."""
        controls = {SINGLE_HERO: control} if control is not None else {}
        return self.step_heroes(controls)[SINGLE_HERO]

    def step_heroes(
        self, controls: Mapping[str, carla.VehicleControl | None]
    ) -> dict[str, dict[str, tuple[int, Any]]]:
        """Apply each named hero's control (none to a hero the Traffic Manager drives), advance
        one frame, and return every live hero's sensor data of that frame, by hero name."""
        applied = []
        for name, control in controls.items():
            hero = self.heroes[name]
            if control is not None and not hero.on_autopilot:
                applied.append((hero.actor, control))
        try:
            frame = self._apply_and_tick(applied)
            self._render_pseudo_sensors(frame)
            if self.config.show_display:
                self._follow_hero_with_spectator()
            deadline = time.monotonic() + self.config.sensor_timeout
            return {
                hero.name: hero.collector.get_data(frame, max(0.0, deadline - time.monotonic()))
                for hero in self.live_heroes()
            }
        except SensorTimeoutError as exc:
            raise SimulatorFailure(f"{exc}; server {self.server}") from exc
        except RuntimeError as exc:
            if isinstance(exc, SimulatorFailure):
                raise
            self._raise_if_server_lost(exc)
            raise

    def advance(self) -> int:
        """Advance the world one frame without a control for the heroes; returns the new frame."""
        return self._apply_and_tick([])

    def _apply_and_tick(self, controls: list[tuple[Any, carla.VehicleControl]]) -> int:
        """One synchronous tick along this episode's control path, with the configured timeout."""
        if not self.server.is_alive():
            raise SimulatorFailure(f"the simulator is not running ({self.server})")
        if self._control_path is None:
            raise RuntimeError("CarlaCore: no episode set up (reset_episode first)")
        try:
            self.frame = self._control_path.apply_and_tick(
                [(actor, control) for actor, control in controls if actor is not None]
            )
        except RuntimeError as exc:
            raise SimulatorFailure(
                f"world.tick() failed after {self.config.timeout} s ({exc}); server {self.server}"
            ) from exc
        return self.frame

    def remove_hero(self, name: str) -> None:
        """End one hero's episode: destroy its sensors and vehicle (the others drive on)."""
        try:
            self._destroy(self.heroes[name])
        except RuntimeError as exc:
            if isinstance(exc, SimulatorFailure):
                raise
            self._raise_if_server_lost(exc)
            raise

    def _render_pseudo_sensors(self, frame: int) -> None:
        heroes = [hero for hero in self.live_heroes() if hero.pseudo_sensors]
        if not heroes:
            return
        snapshot = self.view.world.get_snapshot()
        # Sensors of one class render together (`PseudoSensor.tick_all`): the heroes' views
        # share one read of the snapshot.
        by_class: dict[type[PseudoSensor], list[tuple[Hero, PseudoSensor]]] = {}
        for hero in heroes:
            for sensor in hero.pseudo_sensors:
                by_class.setdefault(type(sensor), []).append((hero, sensor))
        for cls, members in by_class.items():
            readings = cls.tick_all([sensor for _, sensor in members], frame, snapshot)
            for (hero, sensor), reading in zip(members, readings, strict=True):
                hero.collector.put(sensor.name, frame, reading)

    def _follow_hero_with_spectator(self) -> None:
        """With a window, keep the view 5 m behind and 3 m above the (first live) hero, as the
        original did."""
        heroes = self.live_heroes()
        if not heroes:
            return
        transform = heroes[0].view.hero.get_transform()
        back = transform.location - transform.get_forward_vector() * 5.0
        back.z += 3.0
        self.view.world.get_spectator().set_transform(carla.Transform(back, transform.rotation))

    def _raise_if_server_lost(self, exc: Exception) -> None:
        """SimulatorFailure from `exc` if the server is lost; otherwise the server answered,
        and `exc` was a real error (the client raises RuntimeError for both)."""
        if not self.server_answers():
            raise SimulatorFailure(f"{exc}; server {self.server}") from exc

    def _fail_if_server_lost(self, what: str) -> None:
        """SimulatorFailure if the server is lost, after a client call that reports failure
        without raising (a spawn or destroy that returned nothing)."""
        if not self.server_answers():
            raise SimulatorFailure(f"{what} and the server does not answer; server {self.server}")

    def server_answers(self) -> bool:
        """True if the server runs and answers a version query within the timeout: False for a
        dead one at once, for a hung one after `timeout` s."""
        if not self.server.is_alive() or self.client is None:
            return False
        try:
            self.client.get_server_version()
        except RuntimeError:
            return False
        return True

    # ---------------------------------------------------------------- recovery and cleanup

    def recover(self) -> None:
        """Restart the server after a SimulatorFailure and reconnect; the next reset rebuilds the world.

        Nothing is destroyed through the old connection: every call to a hung or dead server
        would only wait for its timeout.
        """
        if self.server.kind == "attach" and self.world is not None and self.server.is_alive():
            # Someone else's server outlives us: remove what we spawned if it still answers.
            with contextlib.suppress(RuntimeError):
                self.traffic.destroy()
                self._destroy_heroes()
        self.traffic.kill_host()  # it went down with the server, or hangs with it
        self._forget_actors()
        self.server.restart()
        self.restarts += 1
        self._connect()

    def _forget_actors(self) -> None:
        """Drop every actor and the connection without a call to the (dead or hung) server."""
        self._stop_tick_confirmation()
        for hero in self.heroes.values():
            hero.abandon()
        self.heroes = {}
        self.traffic.kill_host()
        self.traffic.forget()
        self._control_path = None
        self.client = self.world = self.map = None
        self._library = None

    def autopilot_hero(
        self, path: list[tuple[float, float, float]], name: str = SINGLE_HERO
    ) -> None:
        """Let CARLA's Traffic Manager drive the hero `name` through `path` (locations, in
        order) for the rest of the episode; `step` then gives that hero no control of its own."""
        hero = self.heroes[name]
        self.traffic.drive(hero.view.hero.id, path)
        hero.on_autopilot = True
        self._control_path = choose_control_path(
            self.traffic.host, self.view.client, self.world, self.config.timeout
        )

    def _destroy(self, hero: Hero) -> None:
        if hero.on_autopilot and hero.actor is not None:
            hero.on_autopilot = False
            self.traffic.release(hero.actor.id)  # the TM must not drive a destroyed vehicle
        # The client reports a destroy on a lost server only by returning False after its
        # timeout, once per actor: ask after the first one instead of waiting out every actor.
        hero.destroy(failed=lambda: self._fail_if_server_lost("a destroy failed"))

    def _destroy_heroes(self) -> None:
        """Destroy every hero; one the server was lost under stays listed (recover() abandons
        what is left of it)."""
        self._stop_tick_confirmation()
        for name in list(self.heroes):
            self._destroy(self.heroes[name])
            del self.heroes[name]

    def _stop_tick_confirmation(self) -> None:
        if self._tick_confirmation is not None:
            self._tick_confirmation.remove()
            self._tick_confirmation = None

    def spawned_actor_ids(self) -> list[int]:
        """Ids of every actor this core spawned and still holds (heroes, sensors, NPCs).

        For tests and diagnostics: the library itself does not need it.
        """
        ids = [i for hero in self.heroes.values() for i in hero.actor_ids()]
        return ids + self.traffic.actor_ids

    def close(self) -> None:
        """Destroy what this core spawned, leave the world asynchronous, stop its own server."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.world is not None and self.server.is_alive():
                self.traffic.destroy()
                self._destroy_heroes()
                self.traffic.close_host()
                settings = self.world.get_settings()
                settings.synchronous_mode = False
                settings.fixed_delta_seconds = None
                self.world.apply_settings(settings)
        except RuntimeError as exc:
            logger.warning("cleanup on a failing server: %s", exc)
        finally:
            self._forget_actors()
            self.server.stop()

    def __del__(self) -> None:
        # Last resort so an env dropped without close() does not leave its server running.
        with contextlib.suppress(Exception):
            if not self._closed:
                self.server.stop()
