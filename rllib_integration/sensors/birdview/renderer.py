"""Per-frame bird's-eye view: one warp of the static map plus the actors near the hero.

Independent of any CARLA client: it takes plain arrays, so it can be tested and benchmarked on
its own. Image convention: the hero's heading points up, its right is to the right (the view
CARLA's top-down camera gives, rotated), and the image centre lies ``offset`` metres ahead of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.settings import BirdViewSettings
from rllib_integration.sensors.birdview.static_map import SCALE, SHIFT, StaticMap

VEHICLE, TWO_WHEELER, WALKER, HERO = 0, 1, 2, 3  # actor kinds
RED, YELLOW, GREEN, OFF = 0, 1, 2, 3  # traffic light states (carla.TrafficLightState values)
LIGHT_STATE_NAMES = ("Red", "Yellow", "Green", "Off")
LIGHT_RADIUS_M = 1.2
_CORNER_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])


@dataclass
class Boxes:
    """Oriented boxes on the ground plane, one row per actor (world frame, metres, degrees)."""

    centers: np.ndarray  # (N, 2) x, y of the bounding-box centre
    yaws: np.ndarray  # (N,)
    extents: np.ndarray  # (N, 2) half length, half width
    kinds: np.ndarray | None = None  # (N,) VEHICLE / TWO_WHEELER / WALKER

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0, np.uint8))


@dataclass
class TrafficLights:
    positions: np.ndarray  # (N, 2) where the light stands
    states: np.ndarray  # (N,) RED / YELLOW / GREEN / OFF
    areas: Boxes | None = None  # the lanes each light governs (trigger volumes), if known


class BirdViewRenderer:
    def __init__(self, static: StaticMap, settings: BirdViewSettings) -> None:
        self.static = static
        self.settings = settings
        self.layers = settings.layers
        self._route: np.ndarray | None = None
        self._route_span = slice(None)  # the part of the route drawn (set_route_span)
        # rgb: the static layers in colour, warped as they are (a lookup after the warp would
        # give the same pixels); outside the map, the colour of no layer.
        rgb_lut = palette.static_rgb_lut(tuple(settings.layers))
        self._rgb_border = tuple(int(value) for value in rgb_lut[0, 0])
        self._mask_luts = {
            name: palette.static_mask_lut(name)
            for name in settings.layers
            if name in palette.STATIC_LAYERS
        }
        self._walker_scale = float(settings.walker_scale)

    def set_route(self, points: np.ndarray | None) -> None:
        """The planned route, (M, 2 or 3) world points in driving order; None clears it."""
        if points is None:
            self._route = None
            return
        route = np.asarray(points, np.float64)
        if route.ndim != 2 or route.shape[1] < 2 or len(route) < 2:
            raise ValueError(f"route must be an (M>=2, 2 or 3) array of points, got {route.shape}")
        self._route = np.ascontiguousarray(route[:, :2])
        self._route_span = slice(None)

    def set_route_span(self, first: int, last: int | None = None) -> None:
        """Draw only the route's points ``first`` to ``last`` (inclusive; None: to its end),
        e.g. from the hero's place on it to as far as the view reaches."""
        self._route_span = slice(first, None if last is None else last + 1)

    def view_transform(self, anchor_xy, anchor_yaw: float) -> np.ndarray:
        """2x3 affine matrix from world x, y (metres) to output pixel col, row."""
        s = self.settings
        yaw = math.radians(anchor_yaw)
        c, n = math.cos(yaw), math.sin(yaw)
        offset = s.centre_offset
        center = np.array([anchor_xy[0] + offset * c, anchor_xy[1] + offset * n])
        rotation = s.pixels_per_meter * np.array([[-n, c], [-c, -n]])  # heading -> up
        half = (s.size - 1) / 2.0
        return _affine(rotation, np.array([half, half]) - rotation @ center)

    def render(
        self,
        anchor_xy,
        anchor_yaw: float,
        hero: Boxes,
        actors: Boxes,
        lights: TrafficLights | None = None,
    ) -> np.ndarray:
        """The frame for a hero at ``anchor_xy`` heading ``anchor_yaw`` (degrees)."""
        world_to_px = self.view_transform(anchor_xy, anchor_yaw)
        return self.draw(world_to_px, self._actor_polygons(hero, actors, world_to_px), lights)

    def draw(
        self,
        world_to_px: np.ndarray,
        polygons: dict[int, np.ndarray],
        lights: TrafficLights | None = None,
    ) -> np.ndarray:
        """The frame of the view `world_to_px` (`view_transform`), with the actors' polygons of
        that view (`view_polygons`)."""
        if self.settings.mode == "rgb":
            coloured = self.static.coloured(tuple(self.layers))
            image = self._warp_static(world_to_px, coloured, self._rgb_border)
            return self._render_rgb(image, world_to_px, polygons, lights)
        crop = self._warp_static(world_to_px, self.static.raster, 0)
        return self._render_masks(crop, world_to_px, polygons, lights)

    # -- static ------------------------------------------------------------------------------

    def _warp_static(self, world_to_px: np.ndarray, raster: np.ndarray, border) -> np.ndarray:
        """The part of the static map's `raster` (or its colours) that the view shows."""
        static = self.static
        # output pixel -> world -> raster pixel, composed into one inverse map for warpAffine
        linear = world_to_px[:, :2]
        inverse = linear.T / (self.settings.pixels_per_meter**2)  # linear is ppm x a rotation
        px_to_world = _affine(inverse, -inverse @ world_to_px[:, 2])
        scale = static.pixels_per_meter
        px_to_raster = scale * px_to_world
        px_to_raster[:, 2] -= scale * np.asarray(static.origin)
        size = self.settings.size
        return cv2.warpAffine(
            raster,
            px_to_raster,
            (size, size),
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )

    # -- dynamic -----------------------------------------------------------------------------

    def view_polygons(
        self,
        transforms: Sequence[np.ndarray],
        boxes: Boxes,
        shown: np.ndarray | None = None,
    ) -> list[dict[int, np.ndarray]]:
        """Per view (one `view_transform` each): the fixed-point pixel polygons (K, 4, 2) of the
        boxes that can touch its image, by kind (HERO, VEHICLE, TWO_WHEELER, WALKER); `shown`
        (views x boxes, bool) says which boxes a view draws (default: all). One vectorised pass
        for every view: the bird's-eye views of several heroes of a tick share it."""
        n, count = len(boxes.centers), len(transforms)
        kinds = boxes.kinds if boxes.kinds is not None else np.zeros(n, np.uint8)
        corners, near = self._corners(boxes, transforms, shown)
        # Every view's polygons in one gather, ordered by (kind, view): a slice per both.
        view_of, row_of = np.nonzero(near)
        group = kinds[row_of].astype(np.intp) * count + view_of
        order = np.argsort(group, kind="stable")
        polygons = corners[view_of[order], row_of[order]] if len(order) else _NO_POLYGONS
        bounds = np.searchsorted(group[order], np.arange(len(_ACTOR_KINDS) * count + 1)).tolist()
        views: list[dict[int, np.ndarray]] = [{} for _ in transforms]
        for kind in _ACTOR_KINDS:
            for view in range(count):
                first = kind * count + view
                views[view][kind] = polygons[bounds[first] : bounds[first + 1]]
        return views

    def _polygons(self, boxes: Boxes, world_to_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-point pixel corners (K, 4, 2) of the boxes that can touch the image, and
        their indices in ``boxes``; walkers are enlarged by ``walker_scale``."""
        corners, near = self._corners(boxes, [world_to_px])
        index = np.flatnonzero(near[0])
        return (corners[0, index] if len(index) else _NO_POLYGONS), index

    def _corners(
        self,
        boxes: Boxes,
        transforms: Sequence[np.ndarray],
        shown: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-point pixel corners (V, N, 4, 2) of every box in every view, and (V, N) which
        boxes can touch a view's image (and are `shown` there). Elementwise the same arithmetic
        for any number of views, so a view's polygons do not depend on which views share it."""
        views, centers, extents = len(transforms), boxes.centers, boxes.extents
        if len(centers) == 0:
            return np.zeros((views, 0, 4, 2), np.int32), np.zeros((views, 0), bool)
        ppm, size = self.settings.pixels_per_meter, self.settings.size
        if boxes.kinds is not None and self._walker_scale != 1.0:
            walker = (boxes.kinds == WALKER)[:, None]
            extents = np.where(walker, extents * self._walker_scale, extents)
        # OpenCV fills every pixel a polygon's outline touches: pull the outline in by half a
        # pixel so a box covers its true area (an L-pixel side covers L pixels, not L + 1).
        extents = np.maximum(extents - 0.5 / ppm, 0.0)
        reach = (extents[:, 0] + extents[:, 1]) * ppm  # >= half diagonal
        low, high = -reach, size + reach
        stacked = np.asarray(transforms)  # (V, 2, 3)
        linear = stacked[:, :, :2]
        # The centres in each view's pixels: matmul's loop runs per view, as for a single one.
        pixels = centers @ linear.transpose(0, 2, 1) + stacked[:, None, :, 2]  # (V, N, 2)
        near = (
            (pixels[:, :, 0] > low)
            & (pixels[:, :, 0] < high)
            & (pixels[:, :, 1] > low)
            & (pixels[:, :, 1] < high)
        )
        if shown is not None:
            near &= shown
        yaw = np.radians(boxes.yaws)
        cos, sin = np.cos(yaw)[None, :, None], np.sin(yaw)[None, :, None]
        # the box's forward and right half-axes, mapped into each view's pixels (V, N, 2)
        forward = (cos * linear[:, None, :, 0] + sin * linear[:, None, :, 1]) * extents[:, 0:1]
        right = (cos * linear[:, None, :, 1] - sin * linear[:, None, :, 0]) * extents[:, 1:2]
        corners = (
            pixels[:, :, None, :]
            + _CORNER_SIGNS[None, None, :, 0:1] * forward[:, :, None, :]
            + _CORNER_SIGNS[None, None, :, 1:2] * right[:, :, None, :]
        )
        return np.round(corners * SCALE).astype(np.int32), near

    def _actor_polygons(
        self, hero: Boxes, actors: Boxes, world_to_px: np.ndarray
    ) -> dict[int, np.ndarray]:
        """Polygons by kind (HERO, VEHICLE, TWO_WHEELER, WALKER), from one vectorised pass."""
        n = len(actors.centers)
        kinds = actors.kinds if actors.kinds is not None else np.zeros(n, np.uint8)
        both = Boxes(
            np.concatenate([hero.centers, actors.centers]),
            np.concatenate([hero.yaws, actors.yaws]),
            np.concatenate([hero.extents, actors.extents]),
            np.concatenate([np.full(len(hero.centers), HERO, np.uint8), kinds]),
        )
        return self.view_polygons([world_to_px], both)[0]

    def _route_points(self, world_to_px: np.ndarray) -> np.ndarray | None:
        if self._route is None:
            return None
        route = self._route[self._route_span]
        if len(route) < 2:
            return None
        pixels = route @ world_to_px[:, :2].T + world_to_px[:, 2]
        return np.round(pixels * SCALE).astype(np.int32)

    def _route_thickness(self) -> int:
        return max(1, int(round(self.settings.route_width * self.settings.pixels_per_meter)))

    def _render_rgb(self, image, world_to_px, polygons, lights) -> np.ndarray:
        layers = self.layers
        if "route" in layers:
            route = self._route_points(world_to_px)
            if route is not None:
                thickness = self._route_thickness()
                cv2.polylines(image, [route], False, palette.ROUTE, thickness, cv2.LINE_8, SHIFT)
        for kind, layer, color in (
            (WALKER, "walkers", palette.WALKER),
            (VEHICLE, "vehicles", palette.VEHICLE),
            (TWO_WHEELER, "two_wheelers", palette.TWO_WHEELER),
        ):
            # two-wheelers are vehicles too: drawn (in their own colour) with either layer
            if layer in layers or (kind == TWO_WHEELER and "vehicles" in layers):
                _fill(image, polygons[kind], color)
        if "hero" in layers:
            _fill(image, polygons[HERO], palette.HERO)
        if lights is not None and len(lights.positions):
            self._draw_light_discs(image, lights, world_to_px)
        return image

    def _draw_light_discs(self, image, lights, world_to_px) -> None:
        """The original's traffic lights: a disc in the state's colour, white outline."""
        shown = [f"traffic_lights_{name.lower()}" in self.layers for name in LIGHT_STATE_NAMES]
        shown[OFF] = any(name.startswith("traffic_lights") for name in self.layers)
        pixels = lights.positions @ world_to_px[:, :2].T + world_to_px[:, 2]
        radius = LIGHT_RADIUS_M * self.settings.pixels_per_meter
        low, high = -radius, self.settings.size + radius
        r = max(1, int(round(radius * SCALE)))
        for (col, row), state in zip(pixels, lights.states, strict=True):
            state = int(state) if 0 <= state < len(LIGHT_STATE_NAMES) else OFF
            if shown[state] and low <= col <= high and low <= row <= high:
                center = (int(round(col * SCALE)), int(round(row * SCALE)))
                color = palette.LIGHT_COLORS[LIGHT_STATE_NAMES[state]]
                cv2.circle(image, center, r, color, -1, cv2.LINE_8, SHIFT)
                cv2.circle(image, center, r, palette.LIGHT_OUTLINE, 1, cv2.LINE_8, SHIFT)

    def _render_masks(self, crop, world_to_px, polygons, lights) -> np.ndarray:
        size = self.settings.size
        # Draw each layer into a contiguous plane of a (C, H, W) buffer, then interleave once:
        # cv2.transpose of the (C, H*W) matrix is several times faster than cv2.merge.
        planes = np.zeros((len(self.layers), size, size), np.uint8)
        for plane, layer in zip(planes, self.layers, strict=True):
            if layer in self._mask_luts:
                cv2.LUT(crop, self._mask_luts[layer], dst=plane)
            elif layer == "route":
                route = self._route_points(world_to_px)
                if route is not None:
                    thickness = self._route_thickness()
                    cv2.polylines(plane, [route], False, 1, thickness, cv2.LINE_8, SHIFT)
            elif layer in _KINDS_OF_LAYER:
                for kind in _KINDS_OF_LAYER[layer]:
                    _fill(plane, polygons[kind], 1)
            elif lights is not None and len(lights.positions):
                self._draw_light_mask(plane, _STATE_OF_LAYER[layer], lights, world_to_px)
        flat = planes.reshape(len(self.layers), size * size)
        return cv2.transpose(flat).reshape(size, size, len(self.layers))

    def _draw_light_mask(self, plane, state: int, lights, world_to_px) -> None:
        """The governed lane area (trigger volume) of each light in ``state`` if known, else a
        disc where the light stands."""
        chosen = lights.states == state
        if not chosen.any():
            return
        with_area = np.zeros(len(chosen), bool)
        if lights.areas is not None:
            areas = lights.areas
            with_area = chosen & np.all(areas.extents > 0.05, axis=1)
            subset = Boxes(
                areas.centers[with_area], areas.yaws[with_area], areas.extents[with_area]
            )
            _fill(plane, self._polygons(subset, world_to_px)[0], 1)
        discs = lights.positions[chosen & ~with_area]
        if len(discs):
            pixels = np.round((discs @ world_to_px[:, :2].T + world_to_px[:, 2]) * SCALE)
            radius = max(1, int(round(LIGHT_RADIUS_M * self.settings.pixels_per_meter * SCALE)))
            for col, row in pixels.astype(np.int64):
                cv2.circle(plane, (int(col), int(row)), radius, 1, -1, cv2.LINE_8, SHIFT)


_NO_POLYGONS = np.zeros((0, 4, 2), np.int32)
_ACTOR_KINDS = (HERO, VEHICLE, TWO_WHEELER, WALKER)
_STATE_OF_LAYER = {
    "traffic_lights_red": RED,
    "traffic_lights_yellow": YELLOW,
    "traffic_lights_green": GREEN,
}
_KINDS_OF_LAYER = {
    "vehicles": (VEHICLE, TWO_WHEELER),  # two-wheelers are vehicles too; they also have their own
    "two_wheelers": (TWO_WHEELER,),
    "walkers": (WALKER,),
    "hero": (HERO,),
}


def _affine(linear: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 2x3 matrix [linear | translation] (np.hstack's result, without its overhead)."""
    matrix = np.empty((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = translation
    return matrix


def _fill(image: np.ndarray, polygons: np.ndarray, color) -> None:
    # One convex fill per box: a single fillPoly over overlapping boxes would use the even-odd
    # rule and leave a hole where two actors overlap.
    for polygon in polygons:
        cv2.fillConvexPoly(image, polygon, color, cv2.LINE_8, SHIFT)
