"""Subprocess side of map validation: read OpenDRIVE on stdin, build it with libcarla, print one
JSON line (a report, or {"error": reason}). Run by ``validation.validate_xodr`` only; if libcarla
crashes or hangs here, only this process dies."""

from __future__ import annotations

import json
import math
import resource
import sys
import xml.etree.ElementTree as ET

MEMORY_LIMIT_BYTES = 3 * 1024**3
MAX_ROAD_LENGTH_M = 100_000.0
MAX_TOTAL_LENGTH_M = 500_000.0  # CARLA's towns have a few tens of km of road
MAX_COORDINATE_M = 1e6
MAX_EXTENT_M = 50_000.0  # CARLA's largest town (Town12) is about 10 km across
MAX_LANE_WIDTH_M = 50.0


class Invalid(Exception):
    pass


def _limit_resources() -> None:
    for limit, value in ((resource.RLIMIT_AS, MEMORY_LIMIT_BYTES), (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass  # a lower hard limit is already in place


def _number(el: ET.Element, attr: str, default: float | None = None) -> float:
    raw = el.get(attr)
    if raw is None:
        if default is not None:
            return default
        raise Invalid(f"<{el.tag}> has a bad {attr}={raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"<{el.tag}> has a bad {attr}={raw!r}") from None
    if not math.isfinite(value):
        raise Invalid(f"<{el.tag}> has a non-finite {attr}={raw!r}")
    return value


def check_structure(text: str) -> tuple[int, int]:
    """Static sanity checks libcarla does not make; returns (roads, junctions)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise Invalid(f"not well-formed XML ({error})") from None
    if root.tag != "OpenDRIVE":
        raise Invalid(f"the root element is <{root.tag}>, not <OpenDRIVE>")
    roads = root.findall("road")
    if not roads:
        raise Invalid("it has no <road>")
    total = 0.0
    for road in roads:
        where = f"road {road.get('id')!r}"
        try:
            length = _number(road, "length")
            if not 0.0 < length <= MAX_ROAD_LENGTH_M:
                raise Invalid(f"length {length} outside (0, {MAX_ROAD_LENGTH_M:.0f}] m")
            total += length
            for geometry in road.iter("geometry"):
                for attr in ("x", "y", "hdg", "length", "s"):
                    if abs(_number(geometry, attr, 0.0)) > MAX_COORDINATE_M:
                        raise Invalid(f"<geometry> {attr} beyond {MAX_COORDINATE_M:.0e} m")
            for width in road.iter("width"):
                for attr in ("a", "b", "c", "d", "sOffset"):
                    _number(width, attr, 0.0)
        except Invalid as error:
            raise Invalid(f"{where}: {error}") from None
    if total > MAX_TOTAL_LENGTH_M:
        raise Invalid(
            f"{total / 1000:.0f} km of road, over the {MAX_TOTAL_LENGTH_M / 1000:.0f} km limit"
        )
    return len(roads), len(root.findall("junction"))


def check_with_libcarla(name: str, text: str) -> dict[str, int]:
    import carla

    try:
        carla_map = carla.Map(name, text)
        waypoints = carla_map.generate_waypoints(2.0)
        topology = carla_map.get_topology()
        dead_ends = sum(1 for wp in waypoints if not wp.next(2.0))
    except Exception as error:  # libcarla raises RuntimeError, IndexError, ... on broken links
        raise Invalid(f"libcarla rejected it ({type(error).__name__}: {error})") from None
    if not waypoints:
        raise Invalid("it has no driving lanes")
    bad = sum(
        1
        for wp in waypoints
        if not all(
            math.isfinite(v)
            for v in (wp.transform.location.x, wp.transform.location.y, wp.transform.location.z)
        )
    )
    if bad:
        raise Invalid(
            f"{bad} of {len(waypoints)} waypoints have non-finite positions "
            "(geometry libcarla cannot evaluate, e.g. a <spiral> of constant curvature)"
        )
    xs = [wp.transform.location.x for wp in waypoints]
    ys = [wp.transform.location.y for wp in waypoints]
    extent = max(max(xs) - min(xs), max(ys) - min(ys))
    widest = max(wp.lane_width for wp in waypoints)
    if extent > MAX_EXTENT_M or widest > MAX_LANE_WIDTH_M:
        raise Invalid(
            f"its roads span {extent / 1000:.1f} km with lanes up to {widest:.0f} m wide "
            f"(limits {MAX_EXTENT_M / 1000:.0f} km and {MAX_LANE_WIDTH_M:.0f} m)"
        )
    return {
        "waypoints": len(waypoints),
        "topology": len(topology),
        "dead_ends": dead_ends,
        "spawn_candidates": sum(1 for start, _ in topology if not start.is_junction),
    }


def main() -> int:
    _limit_resources()
    name = sys.argv[1] if len(sys.argv) > 1 else "map"
    try:
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise Invalid(f"not UTF-8 text ({error})") from None
        roads, junctions = check_structure(text)
        report: dict[str, object] = {
            "roads": roads,
            "junctions": junctions,
            **check_with_libcarla(name, text),
        }
    except Invalid as error:
        report = {"error": str(error)}
    except MemoryError:
        report = {"error": "loading it needed more than 3 GB of memory"}
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
