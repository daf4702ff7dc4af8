"""Sensor wrappers, frame-matched collection and pseudo-sensors."""
