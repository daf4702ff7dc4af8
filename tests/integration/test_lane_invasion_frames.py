"""Lane-invasion events are frame-matched: CARLA's client-side detector runs after world.tick()
has returned, and a step must still give exactly the events of its own tick."""

from __future__ import annotations

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.multi_agent_env import MultiAgentCarlaEnv
from tests.integration.scenarios import multi_agent_config

LANE_SENSOR = {"lane": {"type": "sensor.other.lane_invasion"}}


def weave_action(step: int, hero: int) -> int:
    """Left, right, left again (actions of tests.integration.experiments:Weave), each hero out
    of phase with the others: the heroes keep crossing lane markings."""
    phase = (step + 7 * hero) % 40
    return 2 if 10 <= phase < 30 else 0


def weave_config(agents: int) -> dict:
    config = multi_agent_config(agents, max_steps=10_000)
    config["experiment"]["type"] = "tests.integration.experiments:Weave"
    config["experiment"]["hero"]["sensors"] = LANE_SENSOR
    return config


def run_agents(agents: int, steps: int) -> tuple[list[dict], list[tuple[int, int]]]:
    """Per step, each agent's number of lane-invasion events and its episode lane_invasions
    count; and every event's (step frame, event frame)."""
    env = MultiAgentCarlaEnv(weave_config(agents))
    try:
        env.reset(seed=3)
        trace, events = [], []
        for step in range(steps):
            actions = {a: weave_action(step, i) for i, a in enumerate(env.possible_agents)}
            _, _, _, _, infos = env.step({a: actions[a] for a in env.agents})
            trace.append(
                {a: (len(i["lane_events"]), i["env"]["lane_invasions"]) for a, i in infos.items()}
            )
            events += [e for info in infos.values() for e in info["lane_events"]]
        return trace, events
    finally:
        env.close()


def run_single(steps: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """As `run_agents`, for a CarlaEnv with one hero."""
    config = weave_config(1)
    config["experiment"].pop("agents")
    env = CarlaEnv(config)
    try:
        env.reset(seed=3)
        trace, events = [], []
        for step in range(steps):
            _, _, _, _, info = env.step(weave_action(step, 0))
            trace.append((len(info["lane_events"]), info["env"]["lane_invasions"]))
            events += info["lane_events"]
        return trace, events
    finally:
        env.close()


def assert_each_event_in_its_own_step(events: list[tuple[int, int]]) -> None:
    # The detector stamps an event with the frame of the tick whose motion crossed the marking.
    assert all(step_frame == event_frame for step_frame, event_frame in events), events


def test_several_heroes_get_each_lane_invasion_in_the_step_of_its_tick_in_every_run():
    (first, events), (second, _) = run_agents(4, 120), run_agents(4, 120)
    assert len(events) >= 20, "the heroes hardly crossed a marking: the check would be empty"
    assert_each_event_in_its_own_step(events)
    assert first == second  # fixed seed, fixed actions: the same counts in the same steps
    per_agent = {a: sum(step[a][0] for step in first) for a in first[-1]}
    assert {a: count for a, (_, count) in first[-1].items()} == per_agent  # info counts each once


def test_a_single_hero_gets_each_lane_invasion_in_the_step_of_its_tick_in_every_run():
    (first, events), (second, _) = run_single(150), run_single(150)
    assert len(events) >= 5, "the hero hardly crossed a marking: the check would be empty"
    assert_each_event_in_its_own_step(events)
    assert first == second
    assert first[-1][1] == len(events)  # info's lane_invasions counts each event once
