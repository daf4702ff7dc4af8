"""The order of replies and the episode switch around load_new_episode (protocol/episode_switch)."""

import asyncio

from rllib_integration.embedded.protocol import episode_switch
from rllib_integration.embedded.protocol.episode_switch import EpisodeSwitch, LoadShield


def _shield() -> tuple[LoadShield, list[bytes], list[str]]:
    written: list[bytes] = []
    ready: list[str] = []
    return LoadShield(written.append, lambda: ready.append("ready")), written, ready


def test_load_reply_waits_for_the_other_thread_to_park_then_only_the_reconnect_is_answered():
    async def scenario():
        shield, written, ready = _shield()
        shield.loaded(b"load")
        assert written == []  # the TM worker may still be running on the client
        assert shield.route("get_episode_settings", b"settings") == []  # parked: held ...
        assert written == [b"load"]  # ... so the load's reply goes out now
        assert shield.route("version", b"version") == [b"version"]
        assert shield.route("get_episode_info", b"info") == [b"info"]
        assert shield.route("apply_batch", b"batch") == []
        assert ready == []
        # The client's new Episode listens: its reply first, then the held ones in order.
        assert shield.route("get_sensor_token", b"token") == [b"token", b"settings", b"batch"]
        assert ready == ["ready"] and not shield.active
        assert shield.route("get_episode_settings", b"later") == [b"later"]

    asyncio.run(scenario())


def test_a_thread_inside_the_episode_is_answered_and_not_taken_as_parked():
    """A Traffic Manager fetching actors it has not seen (a map's traffic lights) is inside the
    Episode the load's reply drops: the load waits until it asks from a safe place."""

    async def scenario():
        shield, written, _ = _shield()
        shield.loaded(b"load")
        assert shield.route("get_actors_by_id", b"actors") == [b"actors"]  # answered at once
        assert written == []  # and the load still waits
        assert shield.route("get_episode_settings", b"settings") == []
        assert written == [b"load"]
        assert shield.route("get_actors_by_id", b"late") == []  # after the load: held as usual
        assert shield.route("get_sensor_token", b"token") == [b"token", b"settings", b"late"]

    asyncio.run(scenario())


def test_a_quiet_client_gets_the_load_reply_after_a_pause_and_nothing_is_held_forever(
    monkeypatch,
):
    monkeypatch.setattr(episode_switch, "HOLD_CAP_S", 0.2)

    async def scenario():
        shield, written, ready = _shield()
        shield.loaded(b"load")
        await asyncio.sleep(episode_switch.QUIET_S + 0.05)
        assert written == [b"load"]
        assert shield.route("get_weather_parameters", b"weather") == []
        await asyncio.sleep(0.2)  # the client never listens again: the cap releases
        assert written == [b"load", b"weather"] and ready == ["ready"]
        assert not shield.active

    asyncio.run(scenario())


def test_closing_the_connection_drops_what_is_held():
    async def scenario():
        shield, written, ready = _shield()
        shield.loaded(b"load")
        shield.route("get_episode_settings", b"settings")
        shield.close()
        await asyncio.sleep(episode_switch.QUIET_S + 0.05)
        return written, ready, shield.active

    assert asyncio.run(scenario()) == ([b"load"], [], False)


def test_switch_happens_after_the_loading_client_listens_again():
    async def scenario():
        switched = []
        episodes = EpisodeSwitch(lambda world_map, reset: switched.append((world_map, reset)))
        episodes.request("Town01", False)
        assert episodes.pending and episodes.requests == 1
        episodes.on_episode_subscription()  # someone else's subscription: not the trigger
        await asyncio.sleep(episode_switch.SWITCH_DELAY_S + 0.05)
        assert switched == []
        episodes.client_ready()
        episodes.on_episode_subscription()
        assert switched == []  # not at once: the new Episode settles in first
        await asyncio.sleep(episode_switch.SWITCH_DELAY_S + 0.05)
        assert switched == [("Town01", False)] and not episodes.pending

    asyncio.run(scenario())


def test_a_tick_after_the_loading_client_listens_again_switches_first():
    async def scenario():
        switched = []
        episodes = EpisodeSwitch(lambda world_map, reset: switched.append(world_map))
        episodes.request("Town01", False)
        episodes.before_tick()  # another client's tick while the loading client reconnects
        assert switched == [] and episodes.pending
        episodes.client_ready()
        episodes.before_tick()  # ready, but its Episode has not subscribed yet
        assert switched == []
        episodes.on_episode_subscription()
        episodes.before_tick()  # the loading client's first attempt: the new episode, at once
        assert switched == ["Town01"] and not episodes.pending
        episodes.before_tick()
        await asyncio.sleep(episode_switch.SWITCH_DELAY_S + 0.05)  # no second switch
        assert switched == ["Town01"]

    asyncio.run(scenario())


def test_switch_falls_back_to_a_timer_and_a_newer_request_wins(monkeypatch):
    monkeypatch.setattr(episode_switch, "SWITCH_FALLBACK_S", 0.1)

    async def scenario():
        switched = []
        episodes = EpisodeSwitch(lambda world_map, reset: switched.append(world_map))
        episodes.request("Town01", True)
        episodes.request("Town02", True)
        await asyncio.sleep(0.2)
        return switched

    assert asyncio.run(scenario()) == ["Town02"]
