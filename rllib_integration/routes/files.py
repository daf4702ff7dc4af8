"""Route files in the CARLA leaderboard's XML forms, and the route sets shipped with the package.

Leaderboard 1.0 (``<waypoint>`` keypoints with a full pose)::

    <routes>
      <route id="0" town="Town01">
        <waypoint x="338.7" y="226.75" z="0.0" pitch="0.0" roll="0.0" yaw="269.98"/>
        ...
      </route>
    </routes>

Leaderboard 2.x (``<position>`` keypoints; weathers and scenarios may follow and are ignored)::

    <routes>
      <route id="0" town="Town12">
        <waypoints><position x="983.5" y="5382.2" z="371.0"/> ...</waypoints>
        <scenarios/>
      </route>
    </routes>

Either form is read per route, so a file may mix them; the keypoints are what a planner routes
through (``RoutePlanner.route``).
"""

from __future__ import annotations

import importlib.resources
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FORMS = ("1.0", "2.0")
_DATA = "data"


class RouteFileError(ValueError):
    """A route file that cannot be read: says which file, which route and what is wrong."""


@dataclass(frozen=True)
class Keypoint:
    x: float
    y: float
    z: float = 0.0
    yaw: float | None = None  # degrees; 2.x files carry positions only
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class RouteSpec:
    """One route of a route file: where it is and the points it passes, in order."""

    route_id: str
    town: str
    keypoints: tuple[Keypoint, ...]


def read_routes(path: str | Path) -> list[RouteSpec]:
    """Every route of a leaderboard route file (1.0 or 2.x form, per route)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except OSError as error:
        raise RouteFileError(f"cannot read route file {str(path)!r}: {error.strerror}") from None
    except ET.ParseError as error:
        raise RouteFileError(f"route file {str(path)!r} is not valid XML: {error}") from None
    if root.tag != "routes":
        raise RouteFileError(
            f"route file {str(path)!r}: root element is <{root.tag}>, not <routes>"
        )
    routes = [_read_route(path, n, element) for n, element in enumerate(root.iter("route"))]
    if not routes:
        raise RouteFileError(f"route file {str(path)!r} has no <route>")
    seen: set[str] = set()
    for route in routes:
        if route.route_id in seen:
            raise RouteFileError(f"route file {str(path)!r}: route id {route.route_id!r} repeats")
        seen.add(route.route_id)
    return routes


def _read_route(path: Path, index: int, element: ET.Element) -> RouteSpec:
    where = f"route file {str(path)!r}, route {element.get('id', f'#{index + 1}')!r}"
    route_id, town = _required(element, "id", where), _required(element, "town", where)
    positions = element.find("waypoints")
    if positions is not None:  # leaderboard 2.x
        points = [_keypoint(where, p, ("x", "y", "z"), ()) for p in positions.iter("position")]
    else:  # leaderboard 1.0
        points = [
            _keypoint(where, w, ("x", "y", "z"), ("yaw", "pitch", "roll"))
            for w in element.findall("waypoint")
        ]
    if len(points) < 2:
        raise RouteFileError(f"{where}: needs at least 2 waypoints, has {len(points)}")
    return RouteSpec(route_id, town, tuple(points))


def _required(element: ET.Element, attribute: str, where: str) -> str:
    value = element.get(attribute)
    if not value:
        raise RouteFileError(f"{where}: missing attribute {attribute!r}")
    return value


def _keypoint(
    where: str, element: ET.Element, required: Sequence[str], optional: Sequence[str]
) -> Keypoint:
    values: dict[str, float] = {}
    for name in (*required, *optional):
        text = element.get(name)
        if text is None:
            if name in required:
                raise RouteFileError(f"{where}: <{element.tag}> without {name!r}")
            continue
        try:
            values[name] = float(text)
        except ValueError:
            raise RouteFileError(
                f"{where}: <{element.tag}> {name}={text!r} is not a number"
            ) from None
        if not math.isfinite(values[name]):
            raise RouteFileError(f"{where}: <{element.tag}> {name}={text!r} is not finite")
    return Keypoint(**values)


def write_routes(path: str | Path, routes: Sequence[RouteSpec], form: str = "2.0") -> None:
    """Write ``routes`` as a leaderboard route file of the given form ("1.0" or "2.0")."""
    if form not in FORMS:
        raise ValueError(f"route file form must be one of {FORMS}, got {form!r}")
    root = ET.Element("routes")
    for spec in routes:
        route = ET.SubElement(root, "route", id=str(spec.route_id), town=spec.town)
        if form == "2.0":
            positions = ET.SubElement(route, "waypoints")
            for k in spec.keypoints:
                ET.SubElement(positions, "position", x=_num(k.x), y=_num(k.y), z=_num(k.z))
            ET.SubElement(route, "scenarios")  # the leaderboard's parser requires the element
        else:
            for k in spec.keypoints:
                pose = {"x": k.x, "y": k.y, "z": k.z, "pitch": k.pitch, "roll": k.roll}
                if k.yaw is not None:  # unknown when the route came from a 2.x file
                    pose["yaw"] = k.yaw
                ET.SubElement(route, "waypoint", {name: _num(v) for name, v in pose.items()})
    ET.indent(root, space="   ")
    Path(path).write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n",
        encoding="utf-8",
    )


def _num(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same float


def spec_of(route, keypoint_spacing: float = 100.0) -> RouteSpec:
    """The file form of a planned ``Route``: its keypoints (see ``Route.keypoints``)."""
    points = [tuple(round(v, 2) for v in point) for point in route.keypoints(keypoint_spacing)]
    return RouteSpec(
        route.route_id, route.town, tuple(Keypoint(x, y, z, yaw) for x, y, z, yaw in points)
    )


def bundled_route_files() -> dict[str, Path]:
    """The route files shipped in the package, by name (file stem): e.g. ``grid01_train``."""
    folder = importlib.resources.files(__package__) / _DATA
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".xml")
    }


def resolve_route_file(name_or_path: str | Path) -> Path:
    """A path as given, or the name of a shipped route set (``grid01_heldout``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = bundled_route_files()
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    raise RouteFileError(
        f"no route file {str(name_or_path)!r} (neither a path nor one of the shipped sets: "
        f"{', '.join(sorted(bundled)) or 'none'})"
    )
