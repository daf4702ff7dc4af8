"""Evaluate a driving agent on routes, scored like the CARLA leaderboard:
``python -m rllib_integration.evaluate CONFIG [CHECKPOINT] --routes FILE`` (see ``__main__``)."""
