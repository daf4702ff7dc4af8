"""Shared inputs of the bird's-eye-view tests: a small hand-written road and CARLA's Town03."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tests.conftest import CARLA_TOWNS

TOWNS = CARLA_TOWNS

# A 200 m straight road along +x: one driving lane each way (3.5 m), 2 m sidewalks. OpenDRIVE's
# left (+y) is CARLA's -y, so the lanes span CARLA y in [-3.5, 3.5], sidewalks out to +-5.5.
# Markings: yellow solid centre line at y=0, white broken line on the +y driving lane's outer
# border (y=3.5), white solid on the -y one (y=-3.5).
STRAIGHT_XODR = """<?xml version="1.0" standalone="yes"?>
<OpenDRIVE>
  <header revMajor="1" revMinor="4" name="Straight" version="1.00"/>
  <road name="straight" length="200.0" id="1" junction="-1">
    <link/>
    <planView>
      <geometry s="0.0" x="0.0" y="0.0" hdg="0.0" length="200.0"><line/></geometry>
    </planView>
    <elevationProfile><elevation s="0" a="0" b="0" c="0" d="0"/></elevationProfile>
    <lateralProfile/>
    <lanes>
      <laneSection s="0.0">
        <left>
          <lane id="2" type="sidewalk" level="false"><link/>
            <width sOffset="0" a="2.0" b="0" c="0" d="0"/>
            <roadMark sOffset="0" type="none" weight="standard" color="standard" width="0.15"/>
          </lane>
          <lane id="1" type="driving" level="false"><link/>
            <width sOffset="0" a="3.5" b="0" c="0" d="0"/>
            <roadMark sOffset="0" type="solid" weight="standard" color="standard" width="0.15"/>
          </lane>
        </left>
        <center>
          <lane id="0" type="none" level="false"><link/>
            <roadMark sOffset="0" type="solid" weight="standard" color="yellow" width="0.15"/>
          </lane>
        </center>
        <right>
          <lane id="-1" type="driving" level="false"><link/>
            <width sOffset="0" a="3.5" b="0" c="0" d="0"/>
            <roadMark sOffset="0" type="broken" weight="standard" color="standard" width="0.15"/>
          </lane>
          <lane id="-2" type="sidewalk" level="false"><link/>
            <width sOffset="0" a="2.0" b="0" c="0" d="0"/>
            <roadMark sOffset="0" type="none" weight="standard" color="standard" width="0.15"/>
          </lane>
        </right>
      </laneSection>
    </lanes>
  </road>
</OpenDRIVE>
"""


def town_xodr(name: str) -> str:
    path = TOWNS / f"{name}.xodr"
    if not path.is_file():
        pytest.skip(f"CARLA town files not available ({path})")
    return path.read_text()


@functools.cache
def straight_geometry():
    from rllib_integration.map_geometry import MapGeometry

    return MapGeometry.from_xodr("Straight", STRAIGHT_XODR)


@functools.cache
def straight_static(pixels_per_meter: float = 5.0):
    from rllib_integration.sensors.birdview.static_map import rasterize

    return rasterize(straight_geometry(), pixels_per_meter)


@functools.cache
def town03(pixels_per_meter: float = 5.0):
    """(carla.Map, StaticMap) of CARLA's Town03, rasterised without touching any disk cache."""
    import carla

    from rllib_integration.map_geometry import MapGeometry
    from rllib_integration.sensors.birdview.static_map import rasterize

    carla_map = carla.Map("Town03", town_xodr("Town03"))
    return carla_map, rasterize(MapGeometry.from_carla_map(carla_map), pixels_per_meter)


def centroid(mask: np.ndarray) -> np.ndarray:
    """(col, row) mean of the nonzero pixels."""
    rows, cols = np.nonzero(mask)
    assert len(rows), "empty mask"
    return np.array([cols.mean(), rows.mean()])
