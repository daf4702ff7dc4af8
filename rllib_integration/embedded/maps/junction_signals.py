"""Traffic lights and signs at the built-in towns' junctions, laid out as RoadRunner lays out
CARLA's own towns: the ``<signal>`` itself stands on a pole beside the lane that enters the
junction (validity 0..0, so it governs nothing directly), and a ``<signalReference>`` on every
connecting road leaving that lane puts it into effect. CARLA's rules then place each trigger box
on the entering lane just before the junction, and ``<controller>``s referenced by the junction
form its group of phases.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

from .opendrive import Controller, Junction, Road, Signal, SignalReference

TRAFFIC_LIGHT = "1000001"
STOP = "206"
YIELD = "205"
_NAMES = {TRAFFIC_LIGHT: "Signal_3Light_Post01", STOP: "Sign_Stop", YIELD: "Sign_Yield"}
_HEIGHTS = {TRAFFIC_LIGHT: 1.16, STOP: 1.0, YIELD: 1.0}  # of the sign face, as in CARLA's towns
SETBACK_M = 1.0  # of the pole from the junction's edge
REFERENCE_S = 0.5  # where each reference sits on its connecting road


class SignalIds:
    """Numeric string ids (CARLA's towns use numbers) for signals and controllers of one map."""

    def __init__(self, first_signal: int = 5000, first_controller: int = 9000) -> None:
        self._signals: Iterator[int] = itertools.count(first_signal)
        self._controllers: Iterator[int] = itertools.count(first_controller)

    def signal(self) -> str:
        return str(next(self._signals))

    def controller(self) -> str:
        return str(next(self._controllers))


def _pole_offset(road: Road, contact: str) -> float:
    """|t| of a pole on the right of the lane entering at ``contact``: the middle of the
    sidewalk, or just past the last lane when there is none."""
    lanes = road.right if contact == "end" else road.left
    offset = 0.0
    for lane in lanes:
        if lane.type == "sidewalk":
            return offset + lane.width / 2.0
        offset += lane.width
    return offset + 0.5


def place_signal(junction: Junction, arm: int, kind: str, ids: SignalIds) -> Signal:
    """A ``kind`` signal for the lane entering ``junction`` from arm ``arm``, referenced on every
    connecting road that lane feeds."""
    road, contact = junction.arms[arm]
    enters_at_end = contact == "end"  # lane -1 runs into the junction; else lane +1 does
    signal = Signal(
        id=ids.signal(),
        s=road.length - SETBACK_M if enters_at_end else SETBACK_M,
        t=-_pole_offset(road, contact) if enters_at_end else _pole_offset(road, contact),
        type=kind,
        name=_NAMES[kind],
        orientation="-" if enters_at_end else "+",
        h_offset=0.0 if enters_at_end else math.pi,
        dynamic=kind == TRAFFIC_LIGHT,
        height=_HEIGHTS[kind],
    )
    road.signals.append(signal)
    for connection in junction.connections:
        if connection.incoming is road and connection.contact == contact:
            lane, connecting = connection.lane, connection.road
            s = REFERENCE_S if lane < 0 else connecting.length - REFERENCE_S  # near the entry
            orientation = "-" if lane < 0 else "+"
            connecting.signal_references.append(
                SignalReference(signal.id, s, 0.0, orientation, (lane, lane))
            )
    return signal


def opposite_arm_phases(junction: Junction) -> list[list[int]]:
    """Arms grouped into phases: arms facing each other share one (the through street of a
    T-junction, each street of a crossroads); every other arm has its own."""
    phases: list[list[int]] = []
    for k, (road, contact) in enumerate(junction.arms):
        heading = road.arm_pose(contact).heading
        for phase in phases:
            other_road, other_contact = junction.arms[phase[0]]
            other = other_road.arm_pose(other_contact).heading
            if len(phase) == 1 and math.cos(heading - other) < -0.9:
                phase.append(k)
                break
        else:
            phases.append([k])
    return phases


def signalise(junction: Junction, ids: SignalIds, phases: list[list[int]] | None = None) -> None:
    """A traffic light on every arm of ``junction``, one controller per phase (all arms of a
    phase turn green together; phases take turns in order)."""
    for sequence, arms in enumerate(phases or opposite_arm_phases(junction)):
        lights = [place_signal(junction, arm, TRAFFIC_LIGHT, ids) for arm in arms]
        controller = Controller(ids.controller(), sequence, tuple(s.id for s in lights))
        junction.controllers.append(controller)
