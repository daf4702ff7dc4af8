"""RLlib callbacks: per-episode driving metrics from the experiment's `info` into the results.

The original read `worker.env.experiment` from inside the env runner; on the current stack the
last `info` of an episode carries everything, so no env internals are touched. Values land in
`result["env_runners"][<metric>]` and each reward term's episode total in
`result["env_runners"]["reward_terms"][<term>]` (means over the last episodes), which Tune's
TensorBoard log shows as `env_runners/<metric>` and `env_runners/reward_terms/<term>` curves.
"""

from __future__ import annotations

from ray.rllib.callbacks.callbacks import RLlibCallback

from rllib_integration.training.metrics import agent_episodes, last_info

EPISODE_METRICS = (
    "route_completion",
    "distance",
    "mean_speed",
    "collisions",
    "lane_invasions",
    "lane_centre_distance",
    "off_road_time",
    "completed",
)
WINDOW = 20


class DQNCallbacks(RLlibCallback):
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        for agent_episode in agent_episodes(episode):  # each agent's, in a multi-agent episode
            self._log(last_info(agent_episode), metrics_logger)

    @staticmethod
    def _log(info: dict, metrics_logger) -> None:
        for key in EPISODE_METRICS:
            value = info.get(key)
            if isinstance(value, (bool, int, float)):
                metrics_logger.log_value(key, float(value), reduce="mean", window=WINDOW)
        terms = info.get("reward_terms")
        for term, value in (terms if isinstance(terms, dict) else {}).items():
            metrics_logger.log_value(
                ("reward_terms", term), float(value), reduce="mean", window=WINDOW
            )
