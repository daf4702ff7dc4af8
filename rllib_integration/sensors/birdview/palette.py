"""Colours and layer names of the bird's-eye view.

The RGB picture keeps the original rllib-integration palette (the Tango colours of CARLA's
``no_rendering_mode.py``); the static map is stored as one byte of bit flags per pixel so that a
single look-up table turns a warped crop into either the picture or the binary masks.
"""

from __future__ import annotations

import numpy as np

# Tango palette, RGB.
BUTTER_0 = (252, 233, 79)
ORANGE_0 = (252, 175, 62)
CHOCOLATE_1 = (193, 125, 17)
CHAMELEON_0 = (138, 226, 52)
SKY_BLUE_0 = (114, 159, 207)
SKY_BLUE_2 = (32, 74, 135)
PLUM_0 = (173, 127, 168)
SCARLET_RED_0 = (239, 41, 41)
ALUMINIUM_0 = (238, 238, 236)
ALUMINIUM_2 = (186, 189, 182)
ALUMINIUM_3 = (136, 138, 133)
ALUMINIUM_4 = (85, 87, 83)
ALUMINIUM_4_5 = (66, 62, 64)
ALUMINIUM_5 = (46, 52, 54)
WHITE = (255, 255, 255)

# Bits of the static raster (one uint8 per pixel).
ROAD_BIT = 1 << 0
SIDEWALK_BIT = 1 << 1
SHOULDER_BIT = 1 << 2  # shoulders and parking, drawn alike by the original
MARKING_BITS = {  # carla.LaneMarkingColor name -> bit; 'Other' is drawn as white
    "White": 1 << 3,
    "Yellow": 1 << 4,
    "Blue": 1 << 5,
    "Green": 1 << 6,
    "Red": 1 << 7,
}
ANY_MARKING = sum(MARKING_BITS.values())
STATIC_LAYOUT = "road,sidewalk,shoulder+parking,marking:" + ",".join(MARKING_BITS)

MARKING_COLORS = {
    "White": ALUMINIUM_2,
    "Yellow": ORANGE_0,
    "Blue": SKY_BLUE_0,
    "Green": CHAMELEON_0,
    "Red": SCARLET_RED_0,
}

BACKGROUND = ALUMINIUM_4
ROAD = ALUMINIUM_5
SIDEWALK = ALUMINIUM_3
SHOULDER = ALUMINIUM_4_5
VEHICLE = SKY_BLUE_0
TWO_WHEELER = CHOCOLATE_1
WALKER = PLUM_0
HERO = CHAMELEON_0
ROUTE = SKY_BLUE_2
LIGHT_COLORS = {"Red": SCARLET_RED_0, "Yellow": BUTTER_0, "Green": CHAMELEON_0, "Off": ALUMINIUM_4}
LIGHT_OUTLINE = WHITE

# Layers: names usable in the `layers` option. Static ones come from the map raster.
STATIC_LAYERS = ("road", "sidewalk", "shoulder", "lane_markings")
DYNAMIC_LAYERS = (
    "route",
    "vehicles",
    "two_wheelers",
    "walkers",
    "hero",
    "traffic_lights_red",
    "traffic_lights_yellow",
    "traffic_lights_green",
)
ALL_LAYERS = STATIC_LAYERS + DYNAMIC_LAYERS
DEFAULT_MASK_LAYERS = (
    "road",
    "lane_markings",
    "route",
    "vehicles",
    "walkers",
    "hero",
    "traffic_lights_red",
    "traffic_lights_yellow",
    "traffic_lights_green",
)
STATIC_LAYER_BITS = {
    "road": ROAD_BIT,
    "sidewalk": SIDEWALK_BIT,
    "shoulder": SHOULDER_BIT,
    "lane_markings": ANY_MARKING,
}
# Colours used when masks are shown as a picture (videos of a masks-mode sensor).
MASK_DISPLAY_COLORS = {
    "road": ROAD,
    "sidewalk": SIDEWALK,
    "shoulder": SHOULDER,
    "lane_markings": ALUMINIUM_2,
    "route": ROUTE,
    "vehicles": VEHICLE,
    "two_wheelers": TWO_WHEELER,
    "walkers": WALKER,
    "hero": HERO,
    "traffic_lights_red": SCARLET_RED_0,
    "traffic_lights_yellow": BUTTER_0,
    "traffic_lights_green": CHAMELEON_0,
}


def static_rgb_lut(layers: tuple[str, ...] = STATIC_LAYERS) -> np.ndarray:
    """(256, 1, 3) uint8 table: static bit flags -> RGB, for ``cv2.LUT``.

    Priority follows the original's drawing order: sidewalk, then shoulder, then road, then the
    lane markings on top (yellow over white where both meet).
    """
    lut = np.empty((256, 1, 3), np.uint8)
    for value in range(256):
        color = BACKGROUND
        if "sidewalk" in layers and value & SIDEWALK_BIT:
            color = SIDEWALK
        if "shoulder" in layers and value & SHOULDER_BIT:
            color = SHOULDER
        if "road" in layers and value & ROAD_BIT:
            color = ROAD
        if "lane_markings" in layers and value & ANY_MARKING:
            for name in ("White", "Blue", "Green", "Red", "Yellow"):
                if value & MARKING_BITS[name]:
                    color = MARKING_COLORS[name]
        lut[value, 0] = color
    return lut


def static_mask_lut(layer: str) -> np.ndarray:
    """(256,) uint8 table: static bit flags -> 1 where the pixel belongs to ``layer``, else 0."""
    bits = STATIC_LAYER_BITS[layer]
    return ((np.arange(256) & bits) != 0).astype(np.uint8)


def masks_to_rgb(masks: np.ndarray, layers: tuple[str, ...]) -> np.ndarray:
    """Paint (H, W, C) binary masks as an RGB picture, later layers over earlier ones."""
    out = np.empty(masks.shape[:2] + (3,), np.uint8)
    out[:] = BACKGROUND
    for index, name in enumerate(layers):
        out[masks[..., index] != 0] = MASK_DISPLAY_COLORS[name]
    return out
