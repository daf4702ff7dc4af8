"""Sensor settings declared once, as blueprint attributes.

A sensor's settings are dataclass fields marked with `attribute(default, name)`. From them come
both the sensor's blueprint attributes (names, types and defaults: `declared_attributes`, used
by blueprints.py) and the parsing of a spawn's attribute strings (`from_attributes`). Values
arrive as strings, as CARLA sends them; a field's type is its default's: bool, int, float, or a
tuple of three floats read from `<name>_x`, `<name>_y`, `<name>_z`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")
_ATTRIBUTE = "blueprint_attribute"  # field metadata key: (attribute name or None, min, max)
_AXES = "xyz"


class SensorAttributeError(ValueError):
    """A blueprint attribute that cannot be parsed or is out of range."""


def get_float(attributes: dict[str, str], key: str, default: float) -> float:
    raw = attributes.get(key)
    if raw is None or raw == "":
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise SensorAttributeError(f"attribute {key!r}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SensorAttributeError(f"attribute {key!r}={raw!r} is not finite")
    return value


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


_PARSERS: dict[type, Callable[[dict[str, str], str, Any], Any]] = {
    bool: get_bool,
    int: get_int,
    float: get_float,
}


def attribute(
    default: Any,
    name: str | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """A dataclass field read from the blueprint attribute `name` (default: the field's name),
    within [minimum, maximum] where given (a maximum bounds what one sensor may cost)."""
    return field(default=default, metadata={_ATTRIBUTE: (name, minimum, maximum)})


def tick_attribute() -> Any:
    """`sensor_tick`: seconds between measurements; 0 measures on every world tick."""
    return attribute(0.0, minimum=0.0)


@dataclass(frozen=True)
class Declared:
    """One blueprint attribute a sensor reads, with its default."""

    name: str
    default: bool | int | float


def _attribute_fields(cls: type) -> list[tuple[str, str, Any, float | None, float | None]]:
    """(field name, attribute name, default, minimum, maximum) of each attribute field."""
    found = []
    for f in fields(cls):
        if _ATTRIBUTE in f.metadata:
            name, minimum, maximum = f.metadata[_ATTRIBUTE]
            found.append((f.name, name or f.name, f.default, minimum, maximum))
    return found


def declared_attributes(*classes: type) -> tuple[Declared, ...]:
    """The blueprint attributes of sensors with these settings classes (each name once)."""
    declared: dict[str, Declared] = {}
    for cls in classes:
        for _, name, default, _, _ in _attribute_fields(cls):
            if isinstance(default, tuple):
                for axis, value in zip(_AXES, default, strict=True):
                    declared.setdefault(f"{name}_{axis}", Declared(f"{name}_{axis}", value))
            else:
                declared.setdefault(name, Declared(name, default))
    return tuple(declared.values())


def from_attributes(cls: type[T], attributes: dict[str, str], **values: Any) -> T:
    """`cls(**values)`, each attribute field not in `values` parsed from `attributes` (its
    default where the attribute is absent or empty)."""
    for field_name, name, default, minimum, maximum in _attribute_fields(cls):
        if field_name in values:
            continue
        if isinstance(default, tuple):
            value: Any = tuple(
                get_float(attributes, f"{name}_{axis}", d)
                for axis, d in zip(_AXES, default, strict=True)
            )
        else:
            value = _PARSERS[type(default)](attributes, name, default)
            if minimum is not None:
                require(
                    value >= minimum, f"sensor attribute '{name}'={value} must be >= {minimum:g}"
                )
            if maximum is not None:
                require(
                    value <= maximum, f"sensor attribute '{name}'={value} must be <= {maximum:g}"
                )
        values[field_name] = value
    return cls(**values)
