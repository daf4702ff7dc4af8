"""The map's traffic lights and signs as world actors: registered when an episode starts (right
after the spectator, as CARLA registers them at world load) and stepped after physics.

They are not blueprints (clients cannot spawn them) and have no attributes; their bounding box
is the trigger volume (reference/carla_traffic_signals.md §6). The protocol layer encodes their
records from ``actor_ids``, ``poses``, ``opendrive_ids`` and ``light_columns()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rllib_integration.embedded import physics
from rllib_integration.embedded.blueprints import Blueprint

from .layout import SignalLayout, signal_layout
from .overlap import Shape, vehicle_shape
from .runtime import TrafficSignals


class SignalActors:
    """The signals of the world's current map, as actors of ``world``."""

    def __init__(self, world: Any, world_map: Any) -> None:
        layout: SignalLayout | None = getattr(world_map, "signals", None)  # a ServerMap's
        if layout is None:
            xodr = getattr(world_map, "xodr", None)
            layout = signal_layout(world_map.name, xodr) if xodr else SignalLayout([], [])
        self.traffic = TrafficSignals(layout)
        self._world = world
        blueprints: dict[str, Blueprint] = {}
        self.actor_ids: list[int] = []
        for sign in layout.signs:
            bp = blueprints.setdefault(
                sign.type_id, Blueprint(sign.type_id, (), (), semantic_tag=sign.semantic_tag)
            )
            body = physics.Body(*sign.pose, collisions=False)
            body.simulate_physics = False
            actor = world._add_actor(bp, {}, "traffic", body)
            actor.box = sign.trigger_volume
            self.actor_ids.append(actor.id)
        self.traffic.bind(self.actor_ids)
        self.poses = [sign.pose for sign in layout.signs]
        self.opendrive_ids = [sign.opendrive_id for sign in layout.signs]
        # a light's record shows its controller's (phase's) times and its group's freeze
        self._phases = [(g, c) for g in self.traffic.groups for c in g.controllers]
        phase_of = {k: n for n, (_, c) in enumerate(self._phases) for k in c.lights}
        self.light_rows = np.array(layout.lights, np.intp)
        self._phase_of_light = np.array([phase_of[k] for k in layout.lights], np.intp)
        self._shapes = _Shapes(world.library)

    def step(self, dt: float, now: float) -> None:
        """Cycles and vehicles in boxes, after the vehicles moved this tick; a speed-limit sign
        passed overrides the road's limit."""
        if not self.traffic.signs:
            return
        shapes = self._shapes
        vehicles = [
            (a.id, (a.body.x, a.body.y, a.body.z, a.body.yaw), shapes[a.blueprint.id])
            for a in self._world.actors.values()
            if a.vehicle is not None and not a.parent_id
        ]
        self.traffic.step(dt, now, vehicles)
        for actor_id, limit in self.traffic.speed_limits.items():
            self._world.actors[actor_id].speed_limit = limit

    def light_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per light (``light_rows`` order): (green, yellow, red) times, elapsed time, frozen and
        displayed state."""
        phases, phase = self._phases, self._phase_of_light
        times = np.array([c.times for _, c in phases], np.float32)[phase]
        elapsed = np.array([c.elapsed for _, c in phases], np.float32)[phase]
        frozen = np.array([g.frozen for g, _ in phases], np.uint8)[phase]
        states = np.array(self.traffic.states, np.uint8)[self.light_rows]
        return times, elapsed, frozen, states

    def vehicle_reports(self) -> dict[int, tuple[int, int, int]]:
        """(traffic_light_state, has_traffic_light, traffic_light_id) of every vehicle that is
        not at the default ``NO_LIGHT``."""
        return self.traffic.reports()

    def forget(self, actor_id: int) -> None:
        self.traffic.forget(actor_id)


class _Shapes(dict):
    """Box shape of each vehicle blueprint, made on first use."""

    def __init__(self, library: Any) -> None:
        super().__init__()
        self._library = library

    def __missing__(self, blueprint_id: str) -> Shape:
        bp = self._library.get(blueprint_id)
        shape = self[blueprint_id] = vehicle_shape(bp.box_center, bp.extent)
        return shape
