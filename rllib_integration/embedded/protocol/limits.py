"""The ranges the server accepts from a client, checked as the codec decodes each value.

Every number a client sends is checked here before anything stores it, so that nothing the
world holds can later fail to pack or stream back as NaN/inf:

- physical quantities (positions, angles, velocities, impulses, masses, controls, weather) must
  be finite and within +-MAX_MAGNITUDE: far beyond any map or motion (CARLA's largest towns span
  a few km), and small enough that the simulation's sums, products and squares of them stay
  finite in float32, the width of every float on the wire;
- values the server only stores and echoes (physics-control curves, engine settings) must be
  finite float32;
- integers must fit their wire type (actor ids and light states u32, gears and substeps i32,
  ports u16).

A refused value raises WireValueError naming the field, which the dispatcher sends back as the
RPC's error. Refused, not clamped: the carla client sends float32, so a value beyond it never
comes from a real client, and a clamped pose would put an actor where nobody asked for it. Also
here: the per-connection limits of the RPC server.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast, overload

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028235e38
MAX_MAGNITUDE = 1e7  # metres, degrees, m/s, N*s, kg...: see the module docstring
MAX_FIXED_DELTA_S = 1.0  # CARLA advises <= 0.1 s for its physics; 1 s covers a coarse 1 Hz run
U16_MAX, U32_MAX = 2**16 - 1, 2**32 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
MAX_TEXT = 1024  # characters of a client-chosen name or attribute value
MAX_ITEMS = 64  # entries of a variable-length list inside one value (curves, gears, wheels)
MAX_BATCH = 20_000  # commands in one apply_batch (each gets a reply of ~20-60 bytes)

# Per RPC connection (protocol/rpc_server.py). Measured: a Traffic Manager's apply_batch for 500
# vehicles is ~20 KB, a batch spawning 1,000 vehicles ~320 KB; the largest message a client
# sends is generate_opendrive_world's OpenDRIVE text, 3.4 MB for the biggest CARLA town at hand
# (Town04, 2020). Larger maps load by name (--map-dir) instead. Parsing one message cannot be
# interrupted: with at most MAX_ARRAYS_PER_MESSAGE arrays (a 1,000-vehicle spawn batch has
# ~25,000), the worst 8 MiB message we found (tiny strings) parses in ~0.4 s into ~150 MB.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_ARRAYS_PER_MESSAGE = 200_000
PARTIAL_MESSAGE_TIMEOUT_S = 20.0  # a half-sent message that makes no progress this long
TURN_BUDGET_S = 0.005  # one connection's pipelined requests run this long, then others get a turn
MAX_UNKNOWN_NAMES = 64  # distinct unknown RPC names remembered
LOGGED_NAME_CHARS = 80


class WireValueError(ValueError):
    """A value the server refuses; the message names the field and says why."""


_NUMBER_TYPES = (int, float)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def real(value: object, field: str, bound: float = MAX_MAGNITUDE) -> float:
    """`value` as a float, finite and within +-bound."""
    if type(value) not in _NUMBER_TYPES:  # bool is not a number here
        raise WireValueError(f"{field} must be a number, not {type(value).__name__}")
    x = float(cast(float, value))  # int or float, checked above
    if -bound <= x <= bound:
        return x
    if not math.isfinite(x):
        raise WireValueError(f"{field} = {x} is not finite")
    what = "beyond float32" if bound == FLOAT32_MAX else f"out of range (|{field}| <= {bound:g})"
    raise WireValueError(f"{field} = {x:g} is {what}")


def reals(
    values: tuple | list, field: str, names: tuple[str, ...], bound: float = MAX_MAGNITUDE
) -> tuple[float, ...]:
    """Several reals at once, named `field.name` in an error (`name` alone if field is "")."""
    if all(type(v) in _NUMBER_TYPES and -bound <= v <= bound for v in values):
        return tuple(float(v) for v in values)
    return tuple(
        real(value, f"{field}.{name}" if field else name, bound)
        for value, name in zip(values, names, strict=True)
    )


def integer(value: object, field: str, low: int, high: int) -> int:
    """`value` as an int in [low, high]; a float with an integral value is accepted."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise WireValueError(f"{field} must be an integer, not {_shown(value)}")
    if not low <= value <= high:
        raise WireValueError(f"{field} = {value} is out of range [{low}, {high}]")
    return value


def flag(value: object, field: str) -> bool:
    """`value` as a bool (msgpack-c sends bools; 0 and 1 are accepted too)."""
    if type(value) is bool:
        return value
    if type(value) in _NUMBER_TYPES and value in (0, 1):
        return bool(value)
    raise WireValueError(f"{field} must be a boolean, not {_shown(value)}")


def text(value: object, field: str, max_chars: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise WireValueError(f"{field} must be a string, not {type(value).__name__}")
    if len(value) > max_chars:
        raise WireValueError(f"{field} is {len(value)} characters long (at most {max_chars})")
    return value


def array(value: object, field: str, length: int | None = None, max_items: int = MAX_ITEMS) -> list:
    """`value` as a list of exactly `length` items (None: any count up to max_items)."""
    if not isinstance(value, list | tuple):
        raise WireValueError(f"{field} must be an array, not {type(value).__name__}")
    if length is not None and len(value) != length:
        raise WireValueError(f"{field} must have {length} fields, not {len(value)}")
    if length is None and len(value) > max_items:
        raise WireValueError(f"{field} has {len(value)} entries (at most {max_items})")
    return list(value)


def ip_address(value: object, field: str) -> str:
    """An IP address literal (never a host name: resolving one would block the server)."""
    host = text(value, field, 64)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise WireValueError(f"{field} must be an IP address, not {_shown(host)}") from None


# ---------------------------------------------------------------- nested wire values


@dataclass(frozen=True)
class Many:
    """A variable-length array whose entries all have the shape `item`."""

    item: Shape
    max_items: int = MAX_ITEMS


# A shape: a scalar checker (value, field) -> value; a tuple of (name, shape) fields, one per
# array element in order; or Many(shape).
Shape = Callable[[object, str], object] | tuple | Many


@overload
def conform(value: object, shape: tuple | Many, field: str) -> list: ...
@overload
def conform(value: object, shape: Shape, field: str) -> object: ...
def conform(value: object, shape: Shape, field: str) -> object:
    """`value` checked against `shape` and normalised (floats as float, bools as bool)."""
    if isinstance(shape, Many):
        items = array(value, field, max_items=shape.max_items)
        return [conform(item, shape.item, f"{field}[{i}]") for i, item in enumerate(items)]
    if isinstance(shape, tuple):
        items = array(value, field, len(shape))
        return [
            conform(item, sub, f"{field}.{name}")
            for item, (name, sub) in zip(items, shape, strict=True)
        ]
    return shape(value, field)


def wire_float(value: object, field: str) -> float:
    """A float that is only stored and echoed: finite float32."""
    return real(value, field, FLOAT32_MAX)


VEC2 = (("x", real), ("y", real))
VEC3 = (("x", real), ("y", real), ("z", real))
