"""RLlib callback: per-episode metrics of any experiment, from the env's `info`, into the results.

For every finished episode it logs (means over the last `WINDOW` episodes, as RLlib smooths its
own episode metrics):

- `env_runners/env/<key>`: the env's own metrics at the episode's end (`info["env"]`: distance,
  mean_speed, collisions, lane_invasions, route_completion, ...), and `env_runners/env/end/<how>`
  (1 for the way the episode ended: terminated, truncated, simulator_failure; 0 for the others);
- `env_runners/info/<key>`: for every numeric key the experiment puts in `info` (nested mappings
  give `<key>/<subkey>`), the mean of its values over the episode's steps.

Tune's TensorBoard logger shows each as a curve `ray/tune/env_runners/...`; the progress line
reads the env's. Nothing is read from inside the env runner: only the episode's infos. In a
multi-agent episode each agent's episode counts as one episode of these metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

ENV_KEY = "env"  # CarlaEnv's own metrics in info (carla_env.ENV_INFO_KEY)
END_REASONS = ("terminated", "truncated", "simulator_failure")
WINDOW = 20
_SUMS = "rllib_integration/info_sums"


def numeric_leaves(info: Mapping, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple, float]]:
    """(key path, value) for every finite number (bools included) in a nested mapping."""
    for key, value in info.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            yield from numeric_leaves(value, path)
        elif isinstance(value, bool | int | float) and math.isfinite(float(value)):
            yield path, float(value)
        elif hasattr(value, "dtype") and getattr(value, "size", 0) == 1:  # numpy scalars
            number = float(value)
            if math.isfinite(number):
                yield path, number


def last_info(episode: Any) -> dict:
    """The episode's latest info dict ({} when it has none yet)."""
    try:
        info = episode.get_infos(-1)
    except (IndexError, KeyError):
        return {}
    return info if isinstance(info, dict) else {}


def agent_episodes(episode: Any) -> list:
    """The single-agent episodes in `episode`: itself, or each agent's of a multi-agent one."""
    agents = getattr(episode, "agent_episodes", None)
    return list(agents.values()) if isinstance(agents, dict) else [episode]


def step_infos(episode: Any) -> dict[Any, dict]:
    """This step's info of each agent that stepped (key None for a single-agent episode)."""
    info = last_info(episode)
    if not hasattr(episode, "agent_episodes"):
        return {None: info}
    return {agent: i for agent, i in info.items() if isinstance(i, dict)}


class EpisodeMetrics(RLlibCallback):
    def on_episode_step(self, *, episode, **kwargs) -> None:
        sums = episode.custom_data.setdefault(_SUMS, {})
        for agent, info in step_infos(episode).items():
            experiment_keys = {key: value for key, value in info.items() if key != ENV_KEY}
            agent_sums = sums.setdefault(agent, {})
            for path, value in numeric_leaves(experiment_keys):
                total, count = agent_sums.get(path, (0.0, 0))
                agent_sums[path] = (total + value, count + 1)

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        for agent_episode in agent_episodes(episode):
            self._log_end(last_info(agent_episode), metrics_logger)
        for agent_sums in episode.custom_data.get(_SUMS, {}).values():
            for path, (total, count) in agent_sums.items():
                metrics_logger.log_value(
                    ("info", *path), total / count, reduce="mean", window=WINDOW
                )

    @staticmethod
    def _log_end(info: Mapping, metrics_logger: Any) -> None:
        env_info = info.get(ENV_KEY)
        env_info = env_info if isinstance(env_info, Mapping) else {}
        for path, value in numeric_leaves(env_info):
            metrics_logger.log_value((ENV_KEY, *path), value, reduce="mean", window=WINDOW)
        end = env_info.get("end")
        if end in END_REASONS:
            for reason in END_REASONS:
                metrics_logger.log_value(
                    (ENV_KEY, "end", reason), float(end == reason), reduce="mean", window=WINDOW
                )
