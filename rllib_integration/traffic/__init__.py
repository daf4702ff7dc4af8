"""NPC traffic: vehicles on the Traffic Manager (in a helper process) and walkers."""
