"""The server's view of a map: name, OpenDRIVE, spawn points, ground model and bounds.

TEMPORARY placeholder until the map catalog in embedded/maps is available: one small built-in
loop and `.xodr` files by path, with a flat ground model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np


class MapError(Exception):
    """A map that cannot be loaded; the message names it and says why."""


@dataclass
class LoadedMap:
    name: str
    xodr: str
    spawn_points: list[tuple[float, float, float, float, float, float]]
    ground: Any
    bounds: tuple[float, float, float, float] | None

    @property
    def path(self) -> str:
        return f"Carla/Maps/{self.name}"


class FlatGround:
    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(x))

    def surface(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(x), dtype=np.uint8)

    def speed_limit(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(np.shape(x), 30.0)

    geo_reference = (0.0, 0.0, 0.0)


def _loop_xodr(radius: float = 60.0) -> str:
    half = math.pi * radius
    roads = []
    for rid, (x, y, hdg) in ((1, (0.0, -radius, 0.0)), (2, (0.0, radius, math.pi))):
        other = 2 if rid == 1 else 1
        roads.append(
            f'<road name="r{rid}" length="{half:.6f}" id="{rid}" junction="-1">'
            f'<link><predecessor elementType="road" elementId="{other}" contactPoint="end"/>'
            f'<successor elementType="road" elementId="{other}" contactPoint="start"/></link>'
            '<type s="0" type="town"><speed max="30" unit="km/h"/></type>'
            f'<planView><geometry s="0" x="{x:.6f}" y="{y:.6f}" hdg="{hdg:.6f}" length="{half:.6f}">'
            f'<arc curvature="{1.0 / radius:.9f}"/></geometry></planView>'
            '<elevationProfile/><lateralProfile/><lanes><laneSection s="0">'
            '<left><lane id="1" type="driving" level="false"><link><predecessor id="1"/><successor id="1"/></link>'
            '<width sOffset="0" a="3.5" b="0" c="0" d="0"/>'
            '<roadMark sOffset="0" type="solid" weight="standard" color="standard" width="0.15"/></lane></left>'
            '<center><lane id="0" type="none" level="false">'
            '<roadMark sOffset="0" type="broken" weight="standard" color="standard" width="0.15"/></lane></center>'
            '<right><lane id="-1" type="driving" level="false"><link><predecessor id="-1"/><successor id="-1"/></link>'
            '<width sOffset="0" a="3.5" b="0" c="0" d="0"/>'
            '<roadMark sOffset="0" type="solid" weight="standard" color="standard" width="0.15"/></lane></right>'
            "</laneSection></lanes></road>"
        )
    return (
        '<?xml version="1.0" standalone="yes"?><OpenDRIVE><header revMajor="1" revMinor="4" '
        'name="Loop01" version="1"><geoReference><![CDATA[+proj=tmerc +lat_0=0 +lon_0=0]]>'
        "</geoReference></header>" + "".join(roads) + "</OpenDRIVE>"
    )


def _spawn_points(name: str, xodr: str) -> list[tuple[float, float, float, float, float, float]]:
    import carla

    m = carla.Map(name, xodr)
    points = []
    for wp in m.generate_waypoints(10.0):
        t = wp.transform
        points.append(
            (t.location.x, t.location.y, t.location.z + 0.5, t.rotation.pitch, t.rotation.yaw, 0.0)
        )
    return points


def available_maps(map_dir: str | None = None) -> list[str]:
    return ["Loop01"]


def load_map(spec: str, map_dir: str | None = None) -> LoadedMap:
    name = spec.rsplit("/", 1)[-1]
    if name.endswith(".xodr") or os.path.sep in spec:
        try:
            with open(spec, encoding="utf-8") as f:
                xodr = f.read()
        except OSError as exc:
            raise MapError(f"cannot read map file {spec}: {exc}") from exc
        name = os.path.splitext(os.path.basename(spec))[0]
    elif name == "Loop01":
        xodr = _loop_xodr()
    else:
        raise MapError(f"unknown map '{spec}' (available: {', '.join(available_maps(map_dir))})")
    points = _spawn_points(name, xodr)
    if not points:
        raise MapError(f"map {spec} has no drivable lanes")
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    bounds = (min(xs) - 20, min(ys) - 20, max(xs) + 20, max(ys) + 20)
    return LoadedMap(name, xodr, points, FlatGround(), bounds)
