"""CARLA as a Ray RLlib environment, with an embedded CARLA-compatible server."""

__version__ = "0.1.0"
