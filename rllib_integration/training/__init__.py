"""Training and running agents with Ray RLlib: the YAML training file, the generic trainer, the
metrics callback, checkpoints and greedy episodes. Importing the package imports nothing heavy:
Ray is imported only by the modules that need it (algorithm_config, metrics, monitor, policy)."""
