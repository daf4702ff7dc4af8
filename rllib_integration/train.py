"""`python -m rllib_integration.train CONFIG` (installed as `carla-rllib-train`): train an
experiment with the RLlib algorithm its YAML names. See `rllib_integration.training.trainer`."""

from __future__ import annotations

import sys

from rllib_integration.training.trainer import main

if __name__ == "__main__":
    sys.exit(main())
