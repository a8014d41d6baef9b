"""Logging that an attacker cannot turn into a flood: one line per cause per interval.

A relay out of file descriptors fails every accept and every request the same way; logging
each one (with its traceback) wrote 75 MB in seconds (issue 14, defect 2). Here a record's
cause (logger, exception type and errno, or the message template) passes once per interval;
the rest are counted, and the next line of that cause says how many were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

# The loggers that speak for every failed connection or request: asyncio's accept loop and
# aiohttp's request handling.
SERVER_ERROR_LOGGERS = ("asyncio", "aiohttp.server", "aiohttp.web", "aiohttp.access")
DEFAULT_INTERVAL = 60.0
# Causes remembered at once: a bound, so distinct causes cannot grow the table without end.
MAX_CAUSES = 1024


def cause_of(record: logging.LogRecord) -> tuple[object, ...]:
    """What makes two records "the same failure": where, which exception (and errno), what text."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        return (record.name, type(exc).__name__, getattr(exc, "errno", None))
    return (record.name, record.levelno, str(record.msg))


class RateLimitFilter(logging.Filter):
    """Passes the first record of each cause per `interval` seconds; counts the others."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        # cause -> (start of its current interval, records left out in it)
        self._causes: dict[tuple[object, ...], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # only warnings and errors come in floods worth stopping
        cause = cause_of(record)
        now = self.clock()
        seen = self._causes.get(cause)
        if seen is not None and now - seen[0] < self.interval:
            self._causes[cause] = (seen[0], seen[1] + 1)
            return False
        if seen is None and len(self._causes) >= MAX_CAUSES:
            self._forget_expired(now)
            if len(self._causes) >= MAX_CAUSES:
                return False
        left_out = seen[1] if seen is not None else 0
        self._causes[cause] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like this in the last interval)"
        return True

    def _forget_expired(self, now: float) -> None:
        for cause, (start, _) in list(self._causes.items()):
            if now - start >= self.interval:
                del self._causes[cause]


def limit_server_error_logs(
    names: Iterable[str] = SERVER_ERROR_LOGGERS,
    *,
    interval: float = DEFAULT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> RateLimitFilter:
    """Rate-limit the server's per-connection error loggers; answers the filter (to remove it).

    Meant to be called once when `liaison serve` starts.
    """
    limiter = RateLimitFilter(interval, clock)
    for name in names:
        logging.getLogger(name).addFilter(limiter)
    return limiter


def remove_limit(limiter: RateLimitFilter, names: Iterable[str] = SERVER_ERROR_LOGGERS) -> None:
    for name in names:
        logging.getLogger(name).removeFilter(limiter)
