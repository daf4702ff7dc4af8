"""CarlaCore: the simulator side of one env (connection, episode setup, the step, recovery)."""
