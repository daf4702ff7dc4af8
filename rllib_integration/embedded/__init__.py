"""Embedded CARLA-compatible server: speaks CARLA 0.9.16's wire protocol."""
