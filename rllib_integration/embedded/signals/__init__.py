"""Traffic lights and signs of the embedded server, built from the map's OpenDRIVE.

layout = signal_layout(name, xodr)        # poses, trigger boxes, junction groups (cached)
signals = TrafficSignals(layout)          # live states: cycles, vehicles in boxes
signals.bind(actor_ids); signals.step(dt, now, vehicles); signals.vehicle_fields(actor_id)
"""

from .cycle import GREEN, OFF, RED, UNKNOWN, YELLOW
from .kinds import SignKind
from .layout import SignalLayout, SignSpec, signal_layout
from .runtime import TrafficSignals, Vehicles

__all__ = [
    "GREEN",
    "OFF",
    "RED",
    "UNKNOWN",
    "YELLOW",
    "SignKind",
    "SignSpec",
    "SignalLayout",
    "TrafficSignals",
    "Vehicles",
    "signal_layout",
]
