"""Checks of observations and actions against their declared gymnasium spaces (a leaf module).

`observation_problem` and `action_problem` return None when the value fits, else one sentence
that names the part that is off ("['imu'][6]", the key, the dtype, the shape or the range), for
`CarlaEnv` to raise as a `SpaceError`. Observations are checked strictly (type, dtype, shape,
bounds, NaN), as RLlib will batch and learn from them as they are. Actions are taken as any
array-like of the right shape (a list is fine), and must be finite and within the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from rllib_integration.fatal import FatalError


class SpaceError(FatalError, ValueError):
    """An observation, action or control does not fit what was declared; the message says how."""


def observation_problem(space: spaces.Space, value: Any, path: str = "") -> str | None:
    """None if `value` is a valid observation of `space`, else what is off, e.g.
    "observation['lane'][3] = 1000.5 is above the space's high 10" (`path` names the value)."""
    return _problem(space, value, path, strict=True)


def action_problem(space: spaces.Space, value: Any, path: str = "") -> str | None:
    """None if `value` is a valid action of `space` (array-likes of any numeric dtype accepted),
    else what is off; NaN and infinite values are always named."""
    return _problem(space, value, path, strict=False)


def _problem(space: spaces.Space, value: Any, path: str, strict: bool) -> str | None:
    if isinstance(space, spaces.Dict):
        return _mapping_problem(space, value, path, strict)
    if isinstance(space, spaces.Tuple):
        return _sequence_problem(space, value, path, strict)
    if isinstance(space, spaces.Discrete):
        return _discrete_problem(space, value, path)
    if not isinstance(space, spaces.Box | spaces.MultiDiscrete | spaces.MultiBinary):
        return None if space.contains(value) else f"{_at(path)} = {value!r} is not in {space}"
    if not strict:
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return f"{_at(path)} = {value!r} is not numeric; {space} wants numbers"
    elif not isinstance(value, np.ndarray):
        return f"{_at(path)} is {_kind(value)}; {space} wants a numpy array"
    elif value.dtype != space.dtype:
        return f"{_at(path)} has dtype {value.dtype}; {space} wants {space.dtype}"
    return _array_problem(space, value, path)


def non_finite_problem(value: Any, path: str = "") -> str | None:
    """The first NaN or infinite number in a (nested) action, if any (no space needed)."""
    if isinstance(value, int | np.integer):
        return None  # an integer (a bool too) is finite: a Discrete action needs no array
    if isinstance(value, float | np.floating) and math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = non_finite_problem(item, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(value, tuple | list) and value and not _is_number(value[0]):
        for index, item in enumerate(value):
            problem = non_finite_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        first = tuple(int(i) for i in bad[0])
        return f"{_at(path, first)} is {array[first]}, not a finite number"
    return None


def control_problem(control: Any, checked: bool = True) -> str | None:
    """What is off in a carla.VehicleControl: a NaN/infinite field always; with `checked`,
    throttle or brake outside [0, 1] and steer outside [-1, 1] (CARLA would clamp them)."""
    for field, low, high in (("throttle", 0.0, 1.0), ("steer", -1.0, 1.0), ("brake", 0.0, 1.0)):
        number = float(getattr(control, field))
        if not math.isfinite(number):
            return f"{field} is {number}, not a finite number"
        if checked and not low <= number <= high:
            return f"{field} is {number}, outside [{low:g}, {high:g}]"
    return None


def _array_problem(space: spaces.Space, array: np.ndarray, path: str) -> str | None:
    if array.shape != space.shape:
        return f"{_at(path)} has shape {array.shape}; {space} wants {space.shape}"
    if np.issubdtype(array.dtype, np.floating):
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            return f"{_at(path, index)} is {array[index]}, not a finite number"
    if isinstance(space, spaces.Box):
        low, high = (
            np.broadcast_to(space.low, space.shape),
            np.broadcast_to(space.high, space.shape),
        )
    elif isinstance(space, spaces.MultiDiscrete):
        low, high = np.broadcast_to(space.start, space.shape), space.start + space.nvec - 1
    else:  # MultiBinary
        low, high = np.zeros(space.shape), np.ones(space.shape)
    for side, outside, bound in (("below", array < low, low), ("above", array > high, high)):
        bad = np.argwhere(outside)
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            limit = "low" if side == "below" else "high"
            return (
                f"{_at(path, index)} = {array[index]:g} is {side} the space's {limit} "
                f"{bound[index]:g} ({space})"
            )
    if isinstance(space, spaces.MultiDiscrete | spaces.MultiBinary) and not np.all(
        array == np.round(array)
    ):
        return f"{_at(path)} = {array.tolist()} is not all whole numbers ({space})"
    return None


def _discrete_problem(space: spaces.Discrete, value: Any, path: str) -> str | None:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not is_int:
        return f"{_at(path)} = {value!r} ({_kind(value)}) is not an integer; {space} wants one"
    start = int(space.start)
    if not start <= int(value) < start + int(space.n):
        return f"{_at(path)} = {value} is outside {space} ({start}..{start + int(space.n) - 1})"
    return None


def _mapping_problem(space: spaces.Dict, value: Any, path: str, strict: bool) -> str | None:
    if not isinstance(value, Mapping):
        return f"{_at(path)} is {_kind(value)}; {space} wants a dict"
    missing = [key for key in space.spaces if key not in value]
    if missing:
        return f"{_at(path)} has no key {missing[0]!r} (its space declares {list(space.spaces)})"
    extra = [key for key in value if key not in space.spaces]
    if extra:
        return f"{_at(path)} has key {extra[0]!r}, which its space does not declare"
    for key, sub in space.spaces.items():
        problem = _problem(sub, value[key], f"{path}[{key!r}]", strict)
        if problem:
            return problem
    return None


def _sequence_problem(space: spaces.Tuple, value: Any, path: str, strict: bool) -> str | None:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return f"{_at(path)} is {_kind(value)}; {space} wants a tuple"
    if len(value) != len(space.spaces):
        return f"{_at(path)} has {len(value)} items; {space} has {len(space.spaces)}"
    for index, (sub, item) in enumerate(zip(space.spaces, value, strict=True)):
        problem = _problem(sub, item, f"{path}[{index}]", strict)
        if problem:
            return problem
    return None


def _at(path: str, index: tuple[int, ...] = ()) -> str:
    where = path + "".join(f"[{i}]" for i in index)
    return where or "the value"  # path names the value, e.g. "observation"


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)
