"""Wrappers for CARLA's sensors: each parses its measurement into numpy or plain Python data."""

from __future__ import annotations

from typing import Any

import numpy as np

from rllib_integration.sensors import parsing
from rllib_integration.sensors.base import CarlaSensor


class CameraRGB(CarlaSensor):
    """(H, W, 3) uint8 RGB."""

    blueprint_id = "sensor.camera.rgb"

    def parse(self, image: Any) -> np.ndarray:
        return parsing.rgb_from_bgra(parsing.bgra_image(image.raw_data, image.height, image.width))


class CameraDepth(CarlaSensor):
    """(H, W) float32 depth in metres."""

    blueprint_id = "sensor.camera.depth"

    def parse(self, image: Any) -> np.ndarray:
        return parsing.depth_from_bgra(
            parsing.bgra_image(image.raw_data, image.height, image.width)
        )


class CameraSemanticSegmentation(CarlaSensor):
    """(H, W) uint8 CityObjectLabel tags."""

    blueprint_id = "sensor.camera.semantic_segmentation"

    def parse(self, image: Any) -> np.ndarray:
        bgra = parsing.bgra_image(image.raw_data, image.height, image.width)
        return parsing.semantic_tags_from_bgra(bgra)


class CameraDVS(CarlaSensor):
    """(H, W, 3) uint8 event image: positive polarity in channel 2, negative in channel 0."""

    blueprint_id = "sensor.camera.dvs"

    def parse(self, events: Any) -> np.ndarray:
        return parsing.dvs_image(parsing.dvs_events(events.raw_data), events.height, events.width)


class Lidar(CarlaSensor):
    """(N, 4) float32 x, y, z, intensity in the sensor's frame."""

    blueprint_id = "sensor.lidar.ray_cast"

    def parse(self, measurement: Any) -> np.ndarray:
        return parsing.lidar_points(measurement.raw_data)


class SemanticLidar(CarlaSensor):
    """(N,) structured array x, y, z, cos (float32), idx, tag (uint32)."""

    blueprint_id = "sensor.lidar.ray_cast_semantic"

    def parse(self, measurement: Any) -> np.ndarray:
        return parsing.semantic_lidar_points(measurement.raw_data)


class Radar(CarlaSensor):
    """(N, 4) float32 depth, azimuth, altitude, velocity."""

    blueprint_id = "sensor.other.radar"

    def parse(self, measurement: Any) -> np.ndarray:
        return parsing.radar_detections(measurement.raw_data)


class Gnss(CarlaSensor):
    """float64 [latitude, longitude, altitude]."""

    blueprint_id = "sensor.other.gnss"

    def parse(self, measurement: Any) -> np.ndarray:
        return np.array(
            [measurement.latitude, measurement.longitude, measurement.altitude], dtype=np.float64
        )


class Imu(CarlaSensor):
    """float64 [ax, ay, az, gx, gy, gz, compass]."""

    blueprint_id = "sensor.other.imu"

    def parse(self, measurement: Any) -> np.ndarray:
        a, g = measurement.accelerometer, measurement.gyroscope
        return np.array([a.x, a.y, a.z, g.x, g.y, g.z, measurement.compass], dtype=np.float64)


class Collision(CarlaSensor):
    """Event: {frame, other_actor_id, other_actor_type, normal_impulse (3,), intensity}."""

    blueprint_id = "sensor.other.collision"
    is_event = True

    def parse(self, event: Any) -> dict:
        impulse = event.normal_impulse
        vector = np.array([impulse.x, impulse.y, impulse.z], dtype=np.float64)
        other = event.other_actor
        return {
            "frame": event.frame,
            "other_actor_id": other.id if other is not None else 0,
            "other_actor_type": other.type_id if other is not None else "",
            "normal_impulse": vector,
            "intensity": float(np.linalg.norm(vector)),
        }


class LaneInvasion(CarlaSensor):
    """Event: {frame, crossed: [(LaneMarkingType name, LaneMarkingColor name), ...]}."""

    blueprint_id = "sensor.other.lane_invasion"
    is_event = True
    client_side = True  # computed in the client, on each tick's episode state

    def parse(self, event: Any) -> dict:
        crossed = [(str(m.type), str(m.color)) for m in event.crossed_lane_markings]
        return {"frame": event.frame, "crossed": crossed}


class Obstacle(CarlaSensor):
    """Event: {frame, other_actor_id, other_actor_type, distance}."""

    blueprint_id = "sensor.other.obstacle"
    is_event = True

    def parse(self, event: Any) -> dict:
        other = event.other_actor
        return {
            "frame": event.frame,
            "other_actor_id": other.id if other is not None else 0,
            "other_actor_type": other.type_id if other is not None else "",
            "distance": float(event.distance),
        }


CARLA_SENSOR_CLASSES: dict[str, type[CarlaSensor]] = {
    cls.blueprint_id: cls
    for cls in (
        CameraRGB,
        CameraDepth,
        CameraSemanticSegmentation,
        CameraDVS,
        Lidar,
        SemanticLidar,
        Radar,
        Gnss,
        Imu,
        Collision,
        LaneInvasion,
        Obstacle,
    )
}
