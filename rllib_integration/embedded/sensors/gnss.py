"""`sensor.other.gnss`: the sensor's position as latitude/longitude/altitude, with noise.

The projection is CARLA 0.9.16's `GeoLocation::Transform` (what the client's
`carla.Map.transform_to_geolocation` computes): a spherical transverse Mercator around the map's
geo-reference. Noise as CARLA's AGnssSensor: value + bias + N(0, stddev) per
component, seeded by `noise_seed`. Wire layout (CARLA's GnssSerializer): msgpack of
`[latitude, longitude, altitude]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgpack
import numpy as np

from rllib_integration.embedded.scene import Scene, SensorPose
from rllib_integration.embedded.sensors import SENSOR_TYPE_IDS, register_sensor
from rllib_integration.embedded.sensors.attributes import attribute, from_attributes, tick_attribute

EARTH_RADIUS_EQUATORIAL = 6378137.0  # metres, as CARLA
SCALE_FACTOR = 0.9996  # CARLA's transverse Mercator k0


def to_geolocation(
    geo_reference: tuple[float, float, float], location: np.ndarray
) -> tuple[float, float, float]:
    """World location (x, y, z metres) -> (latitude, longitude, altitude) as CARLA 0.9.16 does.

    The inverse spherical transverse Mercator of `carla::geom::GeoLocation::Transform` (what the
    client's `Map.transform_to_geolocation` returns): x east, y north of the geo-reference.
    """
    lat0, lon0, alt0 = (float(v) for v in geo_reference)
    x, y, z = (float(v) for v in location)
    d = x / (SCALE_FACTOR * EARTH_RADIUS_EQUATORIAL)
    e = y / (SCALE_FACTOR * EARTH_RADIUS_EQUATORIAL) + math.radians(lat0)
    lat = math.degrees(math.asin(math.sin(e) / math.cosh(d)))
    lon = lon0 + math.degrees(math.atan2(math.sinh(d), math.cos(e)))
    return lat, lon, alt0 + z


@dataclass
class GnssSensor:
    lat_bias: float = attribute(0.0, "noise_lat_bias")
    lat_stddev: float = attribute(0.0, "noise_lat_stddev")
    lon_bias: float = attribute(0.0, "noise_lon_bias")
    lon_stddev: float = attribute(0.0, "noise_lon_stddev")
    alt_bias: float = attribute(0.0, "noise_alt_bias")
    alt_stddev: float = attribute(0.0, "noise_alt_stddev")
    noise_seed: int = attribute(0)
    sensor_tick: float = tick_attribute()
    type_id: int = field(default=SENSOR_TYPE_IDS["sensor.other.gnss"], init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.noise_seed)

    def _noisy(self, value: float, bias: float, stddev: float) -> float:
        noise = self._rng.normal(0.0, stddev) if stddev > 0 else 0.0
        return value + bias + float(noise)

    def reading(self, scene: Scene, pose: SensorPose) -> tuple[float, float, float]:
        geo_reference = getattr(scene.ground, "geo_reference", None) or (0.0, 0.0, 0.0)
        lat, lon, alt = to_geolocation(geo_reference, pose.location)
        return (
            self._noisy(lat, self.lat_bias, self.lat_stddev),
            self._noisy(lon, self.lon_bias, self.lon_stddev),
            self._noisy(alt, self.alt_bias, self.alt_stddev),
        )

    def measure(self, scene: Scene, pose: SensorPose) -> bytes:
        return msgpack.packb(list(self.reading(scene, pose)), use_bin_type=True)


@register_sensor("sensor.other.gnss", GnssSensor)
def make_gnss(attributes: dict[str, str]) -> GnssSensor:
    return from_attributes(GnssSensor, attributes)
