"""Parsing blueprint attribute values (they arrive as strings, as CARLA sends them)."""

from __future__ import annotations


class SensorAttributeError(ValueError):
    """A sensor attribute that cannot be parsed or is out of range."""


def get_float(attributes: dict[str, str], key: str, default: float) -> float:
    raw = attributes.get(key)
    if raw is None or raw == "":
        return float(default)
    try:
        return float(raw)
    except ValueError:
        raise SensorAttributeError(f"sensor attribute {key!r}={raw!r} is not a number") from None


def get_int(attributes: dict[str, str], key: str, default: int) -> int:
    value = get_float(attributes, key, default)
    if value != int(value):
        raise SensorAttributeError(f"sensor attribute {key!r}={value!r} is not an integer")
    return int(value)


def get_bool(attributes: dict[str, str], key: str, default: bool) -> bool:
    raw = attributes.get(key)
    if raw is None or raw == "":
        return default
    lowered = str(raw).strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise SensorAttributeError(f"sensor attribute {key!r}={raw!r} is not a boolean")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SensorAttributeError(message)


def sensor_tick(attributes: dict[str, str]) -> float:
    tick = get_float(attributes, "sensor_tick", 0.0)
    require(tick >= 0.0, f"sensor attribute 'sensor_tick'={tick} must be >= 0")
    return tick
