"""gdb script: make a client Traffic Manager lose its next wake-up (carla#9172), on purpose.

    gdb -q -batch -nx -p PID -x tests/tm_wakeup_gdb.py

Stops the TM worker thread (`TrafficManagerLocal::Run`) after its flag test, just before it
waits (its call to `std::condition_variable::wait`), and keeps it there (inferior calls to usleep on that
thread) while every other thread runs, until `world.tick()` has set the flag and notified with
nobody waiting: exactly the race of carla#9172. Then the worker waits forever unless something
wakes it again. Prints ARMED once the breakpoint is set (the process runs again right after),
then LOST once the worker waits with the flag set, or MISSED if no tick came within MAX_HOLD_S.
"""

import time

import gdb

MAX_HOLD_S = 30.0
STEP_US = 250_000  # each check stops every thread: not too often
RUN = "carla::traffic_manager::TrafficManagerLocal::Run"

gdb.execute("set pagination off")
# Attached while idle, the worker waits at line 158: its Run frame returns just after the call
# to std::condition_variable::wait, which only the worker executes (and only once its flag test
# failed). A breakpoint in the libstdc++ function itself would also trap world.tick()'s own wait,
# and stopping that thread there opens the mirror race (a lost step_end notification).
worker = call = None
for thread in gdb.selected_inferior().threads():
    thread.switch()
    frame = gdb.newest_frame()
    while frame is not None and worker is None:
        if (frame.name() or "").startswith(RUN):
            worker, call = thread, frame.pc() - 5  # `call rel32` is 5 bytes
        frame = frame.older()
if worker is None:
    raise gdb.GdbError("no Traffic Manager worker thread (TrafficManagerLocal::Run)")
instruction = gdb.selected_inferior().architecture().disassemble(call)[0]["asm"]
if "call" not in instruction or "condition_variable" not in instruction:
    raise gdb.GdbError(f"unexpected code before the worker's return address: {instruction}")
worker.switch()
gdb.execute(f"break *{call:#x} thread {worker.num}")
print("ARMED", flush=True)
while True:  # until the worker stops there (another thread's signal also ends a `continue`)
    gdb.execute("continue")
    if gdb.selected_thread().num == worker.num and gdb.newest_frame().pc() == call:
        break
gdb.execute("delete")


def flag_set() -> bool:
    frame = gdb.newest_frame()
    while not (frame.name() or "").startswith(RUN):
        frame = frame.older()
    frame.select()
    return bool(gdb.parse_and_eval("this->step_begin._M_base._M_i"))


# Hold the worker (it sleeps in small inferior calls while every other thread runs) until
# world.tick() has set the flag, and a moment longer for its notify.
deadline = time.monotonic() + MAX_HOLD_S
lost = False
while not lost and time.monotonic() < deadline:
    gdb.execute(f"call (int)usleep({STEP_US})", to_string=True)
    lost = flag_set()
gdb.execute(f"call (int)usleep({STEP_US})")
print("LOST" if lost else "MISSED", flush=True)
gdb.execute("detach")
