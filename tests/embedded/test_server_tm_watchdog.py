"""The server recognises a client Traffic Manager's steps and pokes a TM that lost its wake-up.

The first tests drive one connection's watch with the messages the real client sends (taken from
the wire) and a listening rpclib-style TM port that records what it is sent. The last two make the
real client's TM lose a wake-up on purpose (gdb, tests/tm_wakeup_gdb.py): without the poke that
is a permanent hang inside `world.tick()`, with it the ticks go on.
"""

from __future__ import annotations

import asyncio
import re
import time

import msgpack
import pytest

from rllib_integration.embedded.protocol.tm_gate import TickGate
from rllib_integration.embedded.protocol.tm_watchdog import TrafficManagerShield
from tests.client_watch import GDB, ClientStalled
from tests.conftest import free_port_block, start_embedded_server
from tests.embedded.helpers import run_tm_script

SYNC, ASYNC = [False], [True]  # CARLA's call metadata: the `asynchronous` flag
POKE_S = 0.05


def request(method: str, *args, metadata=SYNC) -> list:
    return [0, 1, method, [metadata, *args]]


TELEPORT = [[[6, [7, [[1.0, 2.0, 0.0], [0.0, 90.0, 0.0]]]]]]  # hybrid mode: ApplyTransform
TM_STEP = [
    request("get_vehicle_light_states"),
    request("get_weather_parameters"),
    request("apply_batch", TELEPORT, False),
]


class Recorder(asyncio.Protocol):
    """A TM's rpclib port: records each request's (method, params) and answers it."""

    calls: list

    def connection_made(self, transport):
        self.transport = transport
        self.unpacker = msgpack.Unpacker(raw=False)

    def data_received(self, data):
        self.unpacker.feed(data)
        for _, msgid, method, params in self.unpacker:
            Recorder.calls.append((method, params))
            self.transport.write(msgpack.packb([1, msgid, None, None]))


async def watched_connection(synchronous=True, tm=True):
    """A connection watch with a TM port registered (if `tm`), and the recorder's calls."""
    Recorder.calls = []
    port = free_port_block(1)
    server = await asyncio.get_running_loop().create_server(Recorder, "127.0.0.1", port)
    gate = TickGate()
    shield = TrafficManagerShield(gate, lambda: synchronous, lambda: 42, poke_after=POKE_S)
    held = []
    connection = shield.connection("127.0.0.1", held.append)
    if tm:
        send(connection, request("add_traffic_manager_running", ["10.1.2.3", port]))
    return connection, gate, server, held


def send(connection, message, gate=None):
    """What RpcProtocol does around one request (a tick_cue ticks `gate`); True if held."""
    held = connection.before(message)
    if not held and gate is not None and message[2] == "tick_cue":
        gate.after_tick()
    connection.after()
    return held


def test_a_tick_without_a_tm_step_is_poked_until_the_tm_steps():
    async def scenario():
        connection, gate, server, _ = await watched_connection()
        send(connection, request("tick_cue"), gate)
        deadline = time.monotonic() + 30.0
        while len(Recorder.calls) < 4 and time.monotonic() < deadline:  # two pokes (or more)
            await asyncio.sleep(POKE_S / 5)
        for call in TM_STEP:  # the worker woke up and steps
            send(connection, call)
        at_step = len(Recorder.calls)
        await asyncio.sleep(POKE_S * 3)
        server.close()
        return Recorder.calls, at_step

    calls, at_step = asyncio.run(scenario())
    # Each poke: set_synchronous_mode(false), then (true), on the port the client registered.
    poke = [("set_synchronous_mode", [False]), ("set_synchronous_mode", [True])]
    assert len(calls) >= 4 and calls == poke * (len(calls) // 2), calls
    # Once the TM stepped, no new poke (one already on its way may still arrive).
    assert len(calls) - at_step <= 2, calls


def test_a_tm_that_steps_in_time_is_never_poked():
    async def scenario():
        connection, gate, server, _ = await watched_connection()
        for _ in range(3):
            # The step follows the tick without yielding to the event loop: a sleep in between
            # could outlast POKE_S on a loaded machine, and then the poke would be right.
            send(connection, request("tick_cue"), gate)
            for call in TM_STEP:
                send(connection, call)
            await asyncio.sleep(POKE_S / 5)
        await asyncio.sleep(POKE_S * 3)
        server.close()
        return Recorder.calls

    assert asyncio.run(scenario()) == []


@pytest.mark.parametrize("synchronous, tm", [(False, True), (True, False)])
def test_no_poke_in_asynchronous_mode_or_for_a_connection_without_a_tm(synchronous, tm):
    async def scenario():
        connection, gate, server, _ = await watched_connection(synchronous, tm)
        send(connection, request("tick_cue"), gate)
        await asyncio.sleep(POKE_S * 3)
        server.close()
        return Recorder.calls

    assert asyncio.run(scenario()) == []


def test_a_tm_whose_port_is_closed_is_forgotten():
    async def scenario():
        connection, gate, server, _ = await watched_connection()
        server.close()
        await server.wait_closed()
        send(connection, request("tick_cue"), gate)
        deadline = time.monotonic() + 30.0
        while connection.tm_ports and time.monotonic() < deadline:
            await asyncio.sleep(POKE_S / 5)
        return connection.tm_ports

    assert asyncio.run(scenario()) == []


def test_the_gate_holds_the_settings_request_after_any_tm_step_batch_only():
    async def scenario():
        connection, gate, server, late = await watched_connection()
        # A TM step (hybrid: teleports only) ends its step, then asks for the settings.
        for call in TM_STEP:
            assert not send(connection, call)
        settings = request("get_episode_settings")
        assert send(connection, settings)  # held until the next tick
        await asyncio.sleep(0.01)
        assert late == []
        send(connection, request("tick_cue"), gate)
        await asyncio.sleep(0.01)
        assert late == [settings]
        # User code's own synchronous batch is not a TM step: its settings request is answered.
        assert not send(connection, request("apply_batch", TELEPORT, False))
        assert not send(connection, request("get_episode_settings"))
        # Nor is an asynchronous batch after the step calls (client.apply_batch).
        send(connection, TM_STEP[0])
        send(connection, TM_STEP[1])
        send(connection, request("apply_batch", TELEPORT, False, metadata=ASYNC))
        assert not send(connection, request("get_episode_settings"))
        server.close()

    asyncio.run(scenario())


# ------------------------------------------------------------ the real client, a lost wake-up

LOSE_A_WAKEUP = """
import os, random, threading
from tests.client_watch import LostWakeup
tm_port = {tm_port}
tm = client.get_trafficmanager(tm_port)
tm.set_synchronous_mode(True)
random.seed(3)
points = list(spawn_points)
random.shuffle(points)
SpawnActor, SetAutopilot, FutureActor = carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor
batch = [SpawnActor(library.find("vehicle.audi.a2"), p).then(SetAutopilot(FutureActor, True, tm_port))
         for p in points[:5]]
ids = [r.actor_id for r in client.apply_batch_sync(batch, False) if not r.error]
for k in range(20):
    world.tick()
    progress[0] = k + 1
ticks = [20]
stranded = 0.0
# gdb may miss its moment (the worker won every race, or no tick reached the held worker on a
# loaded machine): then the wake-up was not lost and the provocation is simply made again.
for attempt in range(1, 4):
    # Unwatched while gdb works (seconds on a loaded machine): attaching, then holding the worker.
    progress[0] = None
    time.sleep(1.0)  # nothing in flight while gdb stops the process (an RPC would time out)
    lost = LostWakeup(os.getpid())  # the worker's next wait comes too late for its tick
    def watch_again_once_gdb_is_done(lost=lost):
        lost.gdb.wait()
        progress[0] = ticks[0]
    threading.Thread(target=watch_again_once_gdb_is_done, daemon=True).start()
    # Tick until gdb has caught the worker (it may win the race for a while), and 20 more.
    first = ticks[0]
    while ticks[0] < first + 20 or (not lost.done() and ticks[0] < first + 5000):
        started = time.monotonic()
        world.tick()
        stranded = max(stranded, lost.waited_after(started, time.monotonic()))
        ticks[0] += 1
        if lost.done():
            progress[0] = ticks[0]
    if lost.outcome() == "LOST":
        break
result(outcome=lost.outcome(), attempts=attempt, stranded=stranded)
client.apply_batch_sync([SetAutopilot(i, False, tm_port) for i in ids], False)
"""

needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed")


@needs_gdb
def test_a_lost_wake_up_is_recovered_by_the_servers_poke():
    # Without the gate the worker tests its flag before the tick comes, so gdb catches it at once.
    with start_embedded_server("--no-tm-gate", map_name="Grid01") as server:
        r = run_tm_script(server, LOSE_A_WAKEUP.format(tm_port=free_port_block(1)), timeout=240)
        log = server.log()
    assert r["outcome"] == "LOST", r["outcome"]
    pokes = re.findall(r"TM poke: no Traffic Manager step (\d+) ms", log)
    assert pokes, log[-3000:]
    assert "the Traffic Manager stepped" in log, log[-3000:]
    # Once gdb let go, the stranded tick took a few pokes (0.2 s apart), not forever.
    assert r["stranded"] < 10.0, r


@needs_gdb
def test_without_the_poke_a_lost_wake_up_hangs_and_fails_with_its_backtrace():
    with start_embedded_server("--no-tm-gate", "--tm-poke-ms", "0", map_name="Grid01") as server:
        body = LOSE_A_WAKEUP.format(tm_port=free_port_block(1))
        with pytest.raises(ClientStalled) as stall:
            r = run_tm_script(server, body, timeout=240, stall_after=8.0)
            pytest.fail(f"the client did not stall: {r}")
    report = str(stall.value)
    report_head = report[:6000]
    assert re.search(r"no tick for 8 s after \d+ ticks", report), report_head
    # Both sides of carla#9172: world.tick() waits for the step, the worker for the tick.
    assert "TrafficManagerLocal::SynchronousTick" in report, report_head
    assert "TrafficManagerLocal::Run" in report, report_head
    assert "TM poke" not in server.log()
