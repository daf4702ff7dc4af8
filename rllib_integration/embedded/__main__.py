"""`python -m rllib_integration.embedded`: run the embedded CARLA-compatible server."""

import sys

from rllib_integration.embedded.cli import main

sys.exit(main())
