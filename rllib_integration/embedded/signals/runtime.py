"""The live traffic signals of one episode: light states, group cycles, and what each vehicle
learns from the boxes it drives through (reference/carla_traffic_signals.md §3, §5.1).

- Entering a light's effect box makes the light the vehicle's light: the vehicle reports it
  (``is_at_traffic_light``, ``get_traffic_light``) and its state from then on; leaving any light
  box clears both and reports Green (CARLA keeps no count of boxes).
- Entering a stop sign's box turns the vehicle's state Red (no light); after 2 s it turns Green
  once the sign's check boxes (the crossing lanes) hold no other vehicle, else it retries every
  1 s. A yield sign does the same at once and retries every 0.5 s. Leaving does not reset.
- Entering a speed-limit sign's box sets the vehicle's speed limit to the sign's value.
- Everywhere else a vehicle reports Green, no light, as CARLA's vehicles do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cycle import GREEN, RED, Controller, Group
from .kinds import SignKind
from .layout import SignalLayout, Vec3
from .overlap import BoxSet, Pose, Shape

STOP_WAIT_S, STOP_RETRY_S = 2.0, 1.0
YIELD_RETRY_S = 0.5
NO_LIGHT = (GREEN, 0, 0)  # what a vehicle reports outside every box, as CARLA's do
LAMP_HEAD = ((0.0, 0.0, 3.0), (0.3, 0.3, 0.6))  # offset above the pole's foot, half-size


@dataclass
class VehicleSignal:
    """What a vehicle's AI controller holds in CARLA: light, state, speed limit, and a pending
    give-way at a stop or yield sign."""

    state: int = GREEN
    light: int | None = None  # sign index of the light whose box it entered last
    boxes: frozenset[int] = frozenset()  # effect boxes it overlapped at the last step
    waiting_at: int | None = None  # stop/yield sign index
    give_way_at: float = math.inf


# The vehicles of one step: (actor id, pose, shape) each (see overlap.Pose, overlap.Shape).
Vehicles = list[tuple[int, Pose, Shape]]


class TrafficSignals:
    """Signs and lights of a map, as the world's actors ``actor_ids`` (one per sign)."""

    def __init__(self, layout: SignalLayout) -> None:
        self.layout = layout
        self.signs = layout.signs
        self.actor_ids = [0] * len(self.signs)
        self._index_of_actor: dict[int, int] = {}
        self.states = [RED] * len(self.signs)  # lights: displayed state
        self.groups = [Group(spec) for spec in layout.groups]
        self._controller_of: dict[int, tuple[Group, Controller]] = {}
        for group in self.groups:
            for controller in group.controllers:
                for light in controller.lights:
                    self._controller_of[light] = (group, controller)
        boxes = [(box, k) for k, sign in enumerate(self.signs) for box in sign.effect_boxes]
        self._effect = BoxSet([b for b, _ in boxes], [k for _, k in boxes])
        self._checks = {
            k: BoxSet(sign.check_boxes, [k] * len(sign.check_boxes))
            for k, sign in enumerate(self.signs)
            if sign.check_boxes
        }
        self.vehicles: dict[int, VehicleSignal] = {}
        self.speed_limits: dict[int, float] = {}  # vehicle -> the last speed-limit sign's value
        self._engaged: set[int] = set()  # vehicles in a box or waiting at a sign
        self._last_pose: dict[int, Pose] = {}  # of every vehicle at the last step
        self.reset_all()

    # ------------------------------------------------------------ actors

    def bind(self, actor_ids: list[int]) -> None:
        """The world's actor id of each sign, in ``signs`` order."""
        self.actor_ids = list(actor_ids)
        self._index_of_actor = {actor_id: k for k, actor_id in enumerate(actor_ids)}

    def index(self, actor_id: int) -> int | None:
        return self._index_of_actor.get(int(actor_id))

    def light(self, actor_id: int) -> int:
        """Sign index of traffic light ``actor_id``; ValueError for anything else."""
        k = self.index(actor_id)
        if k is None or self.signs[k].kind is not SignKind.TRAFFIC_LIGHT:
            raise ValueError(f"actor {actor_id} is not a traffic light")
        return k

    # ------------------------------------------------------------ per tick

    def step(self, dt: float, now: float, vehicles: Vehicles) -> None:
        """Advance the cycles by ``dt``, then update vehicles from the boxes they touch."""
        dt32 = np.float32(dt)
        for group in self.groups:
            group.tick(dt32, self.states)
        last, engaged = self._last_pose, self._engaged
        for actor_id, pose, shape in vehicles:
            moved = last.get(actor_id) != pose  # standing still, it touches what it touched
            if moved:
                last[actor_id] = pose
            elif actor_id not in engaged:
                continue
            v = self.vehicles.get(actor_id)
            if moved:
                boxes = self._effect.touched(pose, shape)
                if v is None and boxes:
                    v = self.vehicles[actor_id] = VehicleSignal()
                if v is not None and (boxes or v.boxes):
                    self._cross(v, actor_id, boxes, now)
            if v is None:
                continue
            if v.waiting_at is not None and now + 1e-9 >= v.give_way_at:
                self._give_way(v, actor_id, now, vehicles)
            if v.boxes or v.waiting_at is not None:
                engaged.add(actor_id)
            else:
                engaged.discard(actor_id)
                if v.state == GREEN and v.light is None:  # back to the default: forget it
                    del self.vehicles[actor_id]

    def _cross(self, v: VehicleSignal, actor_id: int, boxes: frozenset[int], now: float) -> None:
        owners = self._effect.owners
        for box in v.boxes - boxes:  # left
            if self.signs[owners[box]].kind is SignKind.TRAFFIC_LIGHT:
                v.light, v.state = None, GREEN
        for box in boxes - v.boxes:  # entered
            k = owners[box]
            kind = self.signs[k].kind
            if kind is SignKind.TRAFFIC_LIGHT:
                v.light = k
            elif kind is SignKind.STOP:
                v.state, v.waiting_at, v.give_way_at = RED, k, now + STOP_WAIT_S
            elif kind is SignKind.YIELD:
                v.waiting_at, v.give_way_at = k, now
            elif kind is SignKind.SPEED_LIMIT:
                self.speed_limits[actor_id] = self.signs[k].speed_limit
        v.boxes = boxes

    def _give_way(self, v: VehicleSignal, actor_id: int, now: float, vehicles: Vehicles) -> None:
        k = v.waiting_at
        assert k is not None  # called only while the vehicle waits at a sign
        checks = self._checks.get(k)
        occupied = checks is not None and any(
            other != actor_id and checks.touched(pose, shape) for other, pose, shape in vehicles
        )
        if occupied:
            v.state = RED
            retry = STOP_RETRY_S if self.signs[k].kind is SignKind.STOP else YIELD_RETRY_S
            v.give_way_at = now + retry
        else:
            v.state, v.waiting_at, v.give_way_at = GREEN, None, math.inf

    def forget(self, actor_id: int) -> None:
        self.vehicles.pop(actor_id, None)
        self._last_pose.pop(actor_id, None)
        self.speed_limits.pop(actor_id, None)
        self._engaged.discard(actor_id)

    # ------------------------------------------------------------ what vehicles report

    def vehicle_fields(self, actor_id: int) -> tuple[int, int, int]:
        """(traffic_light_state, has_traffic_light, traffic_light_id) of a vehicle's record."""
        v = self.vehicles.get(actor_id)
        if v is None:
            return NO_LIGHT
        if v.light is not None:
            return (self.states[v.light], 1, self.actor_ids[v.light])
        return (v.state, 0, 0)

    def reports(self) -> dict[int, tuple[int, int, int]]:
        """``vehicle_fields`` of the vehicles that report more than ``NO_LIGHT`` (few)."""
        return {actor_id: self.vehicle_fields(actor_id) for actor_id in self.vehicles}

    # ------------------------------------------------------------ light operations

    def set_state(self, actor_id: int, state: int) -> None:
        """Show ``state`` until the light's controller next changes stage."""
        if int(state) not in range(5):
            raise ValueError(f"traffic light state {state} is not 0..4")
        self.states[self.light(actor_id)] = int(state)

    def set_time(self, actor_id: int, stage: int, seconds: float) -> None:
        """Stage ``stage`` (0 green, 1 yellow, 2 red) time of the light's controller."""
        if not math.isfinite(float(seconds)):
            raise ValueError("traffic light time must be finite")
        _, controller = self._controller_of[self.light(actor_id)]
        controller.times[stage] = np.float32(seconds)

    def freeze(self, actor_id: int, frozen: bool) -> None:
        group, _ = self._controller_of[self.light(actor_id)]
        group.frozen = bool(frozen)

    def freeze_all(self, frozen: bool) -> None:
        for group in self.groups:
            group.frozen = bool(frozen)

    def reset_group(self, actor_id: int) -> None:
        group, _ = self._controller_of[self.light(actor_id)]
        group.reset(self.states)

    def reset_all(self) -> None:
        for group in self.groups:
            group.reset(self.states)

    def group_light_ids(self, actor_id: int) -> list[int]:
        """Actor ids of the light's group, in controller order, itself included."""
        group, _ = self._controller_of[self.light(actor_id)]
        return [self.actor_ids[k] for c in group.controllers for k in c.lights]

    def light_box(self, actor_id: int) -> tuple[Vec3, Vec3, Vec3]:
        """World box of the lamp head (get_light_boxes): centre, half-size, rotation."""
        pose = self.signs[self.light(actor_id)].pose
        (ox, oy, oz), extent = LAMP_HEAD
        return ((pose[0] + ox, pose[1] + oy, pose[2] + oz), extent, pose[3:])

    def light_data(self, k: int) -> tuple[float, float, float, float, bool, int]:
        """(green, yellow, red, elapsed, frozen, state) of light ``k`` for its record."""
        group, controller = self._controller_of[k]
        green, yellow, red = controller.times
        elapsed = float(controller.elapsed)
        return (float(green), float(yellow), float(red), elapsed, group.frozen, self.states[k])
