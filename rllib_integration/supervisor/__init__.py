"""The child processes an env owns: the simulator server, and the helpers shared with the
traffic process."""
