"""What the server needs from the OpenDRIVE text beyond the landmarks libcarla already gives:
the signals in document order, the ``<controller>``s, which junction references which
controller, which roads are junction roads, and where each road's lane sections start and end.

libcarla builds landmarks (pose, road, s, lane validities) from the same text; these tables add
what its Python API does not expose (reference/carla_traffic_signals.md §1.1).
"""

from __future__ import annotations

import bisect
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SPEED_OBJECT_PREFIXES = ("Speed_", "speed_")  # RoadRunner speed-limit objects (type 274)


@dataclass(frozen=True)
class SignalInfo:
    id: str
    road_id: int  # the road the <signal> (or speed object) stands on
    type: str
    subtype: str
    name: str
    value: float


@dataclass(frozen=True)
class ControllerInfo:
    id: str
    sequence: int
    signal_ids: tuple[str, ...]  # in <control> order, without repeats


@dataclass
class SignalTables:
    signals: list[SignalInfo] = field(default_factory=list)  # document order, first id wins
    controllers: dict[str, ControllerInfo] = field(default_factory=dict)
    controller_junctions: dict[str, list[int]] = field(default_factory=dict)  # sorted ids
    road_junction: dict[int, int] = field(default_factory=dict)  # road id -> junction (-1)
    _sections: dict[int, list[float]] = field(default_factory=dict)  # starts..., road length

    def signal_controllers(self) -> dict[str, list[str]]:
        """Signal id -> ids of the controllers that a junction references (libcarla's
        ``Signal::_controllers``), string-sorted as its std::set keeps them."""
        found: dict[str, set[str]] = {}
        for controller in self.controllers.values():
            if controller.id in self.controller_junctions:
                for signal_id in controller.signal_ids:
                    found.setdefault(signal_id, set()).add(controller.id)
        return {signal_id: sorted(ids) for signal_id, ids in found.items()}

    def section_bounds(self, road_id: int, s: float) -> tuple[float, float]:
        """[start, end] of the lane section of ``road_id`` that contains ``s``."""
        bounds = self._sections.get(road_id)
        if not bounds:
            return (0.0, math.inf)
        k = min(max(bisect.bisect_right(bounds, s) - 1, 0), len(bounds) - 2)
        return bounds[k], bounds[k + 1]

    def is_junction_road(self, road_id: int) -> bool:
        return self.road_junction.get(road_id, -1) != -1


def _float(text: str | None, default: float = 0.0) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _int(text: str | None, default: int = -1) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _signal_info(element: ET.Element, road_id: int) -> SignalInfo:
    name = element.get("name", "")
    if element.tag == "object":  # libcarla reads "Speed_NN" as a type-274 signal of value NN
        limit = name.split("_")[1] if "_" in name else ""
        return SignalInfo(element.get("id", ""), road_id, "274", limit, name, _float(limit, -1.0))
    return SignalInfo(
        element.get("id", ""),
        road_id,
        element.get("type", ""),
        element.get("subtype", ""),
        name,
        _float(element.get("value"), -1.0),
    )


def parse_signal_tables(xodr: str) -> SignalTables:
    """The tables of an OpenDRIVE text that libcarla has already accepted."""
    root = ET.fromstring(xodr)
    tables = SignalTables()
    seen: set[str] = set()
    for road in root.iter("road"):
        road_id = _int(road.get("id"))
        tables.road_junction[road_id] = _int(road.get("junction"))
        starts = sorted(_float(sec.get("s")) for sec in road.findall("lanes/laneSection"))
        tables._sections[road_id] = (starts or [0.0]) + [_float(road.get("length"))]
        objects = road.findall("objects/object")
        speed = [o for o in objects if o.get("name", "").startswith(SPEED_OBJECT_PREFIXES)]
        for element in road.findall("signals/signal") + speed:
            if element.get("id", "") not in seen:
                seen.add(element.get("id", ""))
                tables.signals.append(_signal_info(element, road_id))
    for controller in root.findall("controller"):
        ids: list[str] = []
        for control in controller.findall("control"):
            signal_id = control.get("signalId", "")
            if signal_id not in ids:
                ids.append(signal_id)
        controller_id = controller.get("id", "")
        sequence = _int(controller.get("sequence"), 0)
        tables.controllers[controller_id] = ControllerInfo(controller_id, sequence, tuple(ids))
    for junction in root.findall("junction"):
        junction_id = _int(junction.get("id"))
        for ref in junction.findall("controller"):
            tables.controller_junctions.setdefault(ref.get("id", ""), []).append(junction_id)
    for junctions in tables.controller_junctions.values():
        junctions.sort()
    return tables
