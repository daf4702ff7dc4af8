"""What a CARLA sensor's YAML entry may set: its blueprint's attributes, checked at config load.

The attribute names, types and allowed values are CARLA 0.9.16's blueprint library as CARLA
documents it: the table the embedded server serves (`embedded/blueprints.py`, data only), so a
typo such as `image_sise_y` is an error naming the file and line before any server starts, on
either server. `type` and `transform` are the integration's own keys.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from rllib_integration.defaults import suggest
from rllib_integration.embedded.blueprints import Attribute, AttrType, sensor_blueprints

OWN_KEYS = ("type", "transform")


@functools.cache
def blueprint_attributes() -> dict[str, dict[str, Attribute]]:
    """Sensor blueprint id -> its attributes by name."""
    return {bp.id: {a.id: a for a in bp.attributes} for bp in sensor_blueprints()}


def attribute_problem(sensor_type: str, key: str, value: Any) -> str | None:
    """What is wrong with setting `key: value` on a `sensor_type` blueprint, or None."""
    attributes = blueprint_attributes().get(sensor_type)
    if attributes is None or key in OWN_KEYS:
        return None
    attribute = attributes.get(key)
    if attribute is None:
        names = [*attributes, *OWN_KEYS]
        return f"{sensor_type} has no attribute '{key}'" + suggest(key, names)
    if not attribute.modifiable:
        return f"{sensor_type}'s '{key}' cannot be set"
    if not _fits(attribute.type, value):
        kind = {AttrType.Bool: "true or false", AttrType.Int: "a whole number"}
        wanted = kind.get(attribute.type, "a number" if attribute.type == AttrType.Float else "")
        return f"{sensor_type}'s '{key}' must be {wanted or 'a string'}, got {value!r}"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if attribute.restrict_to_recommended and text not in attribute.recommended:
        return (
            f"{sensor_type}'s '{key}' must be one of {', '.join(attribute.recommended)}, "
            f"got {value!r}"
        )
    return None


def _fits(kind: AttrType, value: Any) -> bool:
    if kind == AttrType.Bool:
        return isinstance(value, bool) or str(value).lower() in ("true", "false")
    if kind in (AttrType.Int, AttrType.Float):
        if isinstance(value, bool):
            return False
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return math.isfinite(number) and (kind == AttrType.Float or number == int(number))
    return isinstance(value, str | int | float)
