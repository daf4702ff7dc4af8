"""Log lines a client can trigger at will, at most one per kind every few seconds.

Whatever a client sends must not grow the server's log without bound (its file lives as long as
the env's run): the lines held back are counted and the count goes out with the next line. A
kind is a key with its numbers masked ("not a msgpack-rpc message: 49" and "...: 37" are one),
and at most `max_keys` kinds are told apart.
"""

from __future__ import annotations

import logging
import re
import time

OVERFLOW_KEY = "\0other"  # shared by every kind beyond max_keys
_NUMBERS = re.compile(r"\d+")


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0, max_keys: int = 64) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[str, float] = {}  # kind -> monotonic time of its last line
        self._held: dict[str, int] = {}  # kind -> lines not written since then

    def log(
        self, level: int, key: str, message: str, *args: object, exc_info: bool = False
    ) -> None:
        """Write `message % args` unless a line of kind `key` went out in the last interval."""
        key = _NUMBERS.sub("#", key[:200])
        now = time.monotonic()
        if key not in self._last and len(self._last) >= self.max_keys:
            self._forget_before(now - self.interval)
            if len(self._last) >= self.max_keys:
                key = OVERFLOW_KEY
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            message += " (and %d like it in the last %.0f s, not logged)"
            args = (*args, held, self.interval)
        self.logger.log(level, message, *args, exc_info=exc_info)

    def exception(self, message: str, *args: object) -> None:
        """An error with its traceback, rate-limited by its message."""
        self.log(logging.ERROR, message, message, *args, exc_info=True)

    def _forget_before(self, cutoff: float) -> None:
        """Drop kinds whose last line is older than `cutoff` and that hold nothing back."""
        for key in [k for k, t in self._last.items() if t < cutoff and k not in self._held]:
            del self._last[key]
