"""Which OpenDRIVE signals become which server actors (reference/carla_traffic_signals.md §1.2)."""

from __future__ import annotations

from enum import Enum

from .xodr import SignalInfo


class SignKind(Enum):
    TRAFFIC_LIGHT = "traffic_light"
    STOP = "stop"
    YIELD = "yield"
    SPEED_LIMIT = "speed_limit"


# libcarla's SignalType::IsTrafficLight list, plus the letter types it also accepts.
TRAFFIC_LIGHT_TYPES = frozenset(
    {"1000001", "1000002", "1000007", "1000008", "1000009", "1000010", "1000011", "1000012"}
    | {"1000013", "1000014", "1000015", "1000016", "1000017", "1000018", "1000019", "1000020"}
    | {"F", "W", "A"}
)
STOP_TYPE, YIELD_TYPE, SPEED_LIMIT_TYPE = "206", "205", "274"
SPEED_LIMIT_SUBTYPES = frozenset({"30", "40", "50", "60", "70", "80", "90", "100", "110", "120"})

TAG_TRAFFIC_LIGHT, TAG_TRAFFIC_SIGN = 7, 8  # CityObjectLabel of their meshes (0.9.16)


def sign_kind(info: SignalInfo) -> SignKind | None:
    """The actor a signal turns into, or None for a landmark-only signal."""
    if info.type in TRAFFIC_LIGHT_TYPES:
        return SignKind.TRAFFIC_LIGHT
    if info.type == STOP_TYPE and info.name != "Stencil_STOP":
        return SignKind.STOP
    if info.type == YIELD_TYPE:
        return SignKind.YIELD
    if info.type == SPEED_LIMIT_TYPE and info.subtype in SPEED_LIMIT_SUBTYPES:
        return SignKind.SPEED_LIMIT
    return None


def type_id(kind: SignKind, info: SignalInfo) -> str:
    """The actor's ``type_id``; speed limits carry N, which clients parse from it."""
    if kind is SignKind.SPEED_LIMIT:
        return f"traffic.speed_limit.{info.subtype}"
    return f"traffic.{kind.value}"


def semantic_tag(kind: SignKind) -> int:
    return TAG_TRAFFIC_LIGHT if kind is SignKind.TRAFFIC_LIGHT else TAG_TRAFFIC_SIGN
