"""The Traffic Manager gate holds the TM worker's settings request until just after a tick."""

import asyncio

from rllib_integration.embedded.protocol.tm_gate import TickGate


def test_held_reply_waits_for_the_next_tick_then_a_pause():
    async def scenario():
        gate = TickGate()
        released = []
        gate.hold_after(gate.ticks, lambda: released.append("settings"))
        await asyncio.sleep(0.01)
        assert released == []  # no tick yet
        gate.after_tick()
        released.append("tick reply")
        await asyncio.sleep(0.01)
        return released

    assert asyncio.run(scenario()) == ["tick reply", "settings"]


def test_request_after_its_tick_is_only_paused_and_nothing_waits_forever():
    async def scenario():
        gate = TickGate()
        batch_tick = gate.ticks
        gate.after_tick()  # the tick came before the worker's request
        released = []
        gate.hold_after(batch_tick, lambda: released.append("late"))
        await asyncio.sleep(0.01)
        assert released == ["late"]
        gate.hold_after(gate.ticks, lambda: released.append("capped"))
        await asyncio.sleep(0.7)  # no tick at all: the cap releases it
        return released

    assert asyncio.run(scenario()) == ["late", "capped"]
