"""Settings of the bird's-eye view, parsed from a sensor's YAML attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rllib_integration.sensors.birdview import palette

DEFAULT_SIZE = 192
DEFAULT_PIXELS_PER_METER = 5.0
# Beyond these a view is not a mistake one can train with: 4096 px is 50 MB a frame in rgb, and
# at 100 px/m (1 cm a pixel) a town's static map is already near rasterize's pixel limit.
MAX_SIZE = 4096
MAX_PIXELS_PER_METER = 100.0
MODES = ("rgb", "masks")
# Attributes the sensor itself consumes (not rendering settings).
SENSOR_KEYS = {"type", "transform", "record", "record_fps", "cache_dir"}


@dataclass(frozen=True)
class BirdViewSettings:
    size: int = DEFAULT_SIZE  # output is size x size pixels
    pixels_per_meter: float = DEFAULT_PIXELS_PER_METER
    offset: float | None = None  # metres from the hero forward to the image centre; None: radius/2
    mode: str = "rgb"  # 'rgb': the original's picture; 'masks': one 0/1 channel per layer
    layers: tuple[str, ...] = field(
        default=()
    )  # () means: all for rgb, DEFAULT_MASK_LAYERS for masks
    route_width: float = 2.0  # metres
    walker_scale: float = 2.0  # walkers are drawn this much larger, as the original did

    def __post_init__(self) -> None:
        if not 8 <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be 8 to {MAX_SIZE} pixels, got {self.size}")
        if not 0 < self.pixels_per_meter <= MAX_PIXELS_PER_METER:
            raise ValueError(
                f"pixels_per_meter must be > 0 and <= {MAX_PIXELS_PER_METER:g}, got "
                f"{self.pixels_per_meter:g} (radius = size / (2 * pixels_per_meter))"
            )
        if not self.route_width >= 0:
            raise ValueError(f"route_width must be >= 0, got {self.route_width}")
        if not self.walker_scale > 0:
            raise ValueError(f"walker_scale must be > 0, got {self.walker_scale}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        unknown = [name for name in self.layers if name not in palette.ALL_LAYERS]
        if unknown:
            raise ValueError(f"unknown layers {unknown}; known: {list(palette.ALL_LAYERS)}")
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers lists a layer twice: {list(self.layers)}")
        if not self.layers:
            default = palette.ALL_LAYERS if self.mode == "rgb" else palette.DEFAULT_MASK_LAYERS
            object.__setattr__(self, "layers", tuple(default))
        if self.offset is None:
            object.__setattr__(self, "offset", self.centre_offset)

    @property
    def centre_offset(self) -> float:
        """Metres from the hero forward to the image centre: `offset`, or radius/2 by default."""
        return self.radius / 2 if self.offset is None else self.offset

    @property
    def radius(self) -> float:
        """Half the width of the view in metres (the original's `radius`)."""
        return self.size / (2 * self.pixels_per_meter)

    @property
    def shape(self) -> tuple[int, int, int]:
        channels = 3 if self.mode == "rgb" else len(self.layers)
        return (self.size, self.size, channels)

    @classmethod
    def from_attributes(cls, attributes: dict, where: str = "sensor.birdview") -> BirdViewSettings:
        """Parse YAML attributes (values may be strings); errors name ``where`` and the key."""
        known = {"size", "radius", "pixels_per_meter", "offset", "mode", "layers"}
        known |= {"route_width", "walker_scale"} | SENSOR_KEYS
        unknown = sorted(set(attributes) - known)
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")
        try:
            kwargs: dict = {}
            if "size" in attributes:
                kwargs["size"] = _number(attributes, "size", int)
            size = kwargs.get("size", DEFAULT_SIZE)
            if "radius" in attributes and "pixels_per_meter" in attributes:
                raise ValueError("give radius or pixels_per_meter, not both")
            if "radius" in attributes:
                radius = _number(attributes, "radius", float)
                if not radius > 0:
                    raise ValueError(f"radius must be positive, got {radius}")
                kwargs["pixels_per_meter"] = size / (2 * radius)
            if "pixels_per_meter" in attributes:
                kwargs["pixels_per_meter"] = _number(attributes, "pixels_per_meter", float)
            for key in ("offset", "route_width", "walker_scale"):
                if key in attributes:
                    kwargs[key] = _number(attributes, key, float)
            if "mode" in attributes:
                kwargs["mode"] = str(attributes["mode"])
            if "layers" in attributes:
                kwargs["layers"] = _layer_list(attributes["layers"])
            return cls(**kwargs)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


def _number(attributes: dict, key: str, kind: type) -> float | int:
    value = attributes[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if kind is int:
        if number != int(number):
            raise ValueError(f"{key} must be a whole number, got {value!r}")
        return int(number)
    return number


def _layer_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(part) for part in value)
    raise ValueError(f"layers must be a list or a comma-separated string, got {value!r}")
