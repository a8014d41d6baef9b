"""Rate limits per device and per address (issue 14, section 3): token buckets on a clock.

Each limit is a bucket per key (a device id or a client address) holding up to `burst` tokens
and refilled at `per_minute` tokens a minute; a request takes one, and with none left it is
refused with 429 and `Retry-After` (the seconds until the next token). The buckets live in the
process: with several processes each enforces its own share, which is what a limit against
floods needs. The defaults are far above what a real office does (a busy officer sends a few
hundred messages a day) and below what a flood needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from liaison.server.errors import TooManyRequests

# Past this many keys the oldest bucket is dropped: a flood from many addresses costs memory
# bounded by this, and a dropped bucket is a full one, so at worst one burst more gets through.
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Rate:
    """`per_minute` tokens a minute, at most `burst` at once; 0 per minute: no limit."""

    per_minute: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_minute <= 0


def _rate(per_minute: float) -> Rate:
    return Rate(per_minute, max(1, int(per_minute)))


@dataclass(frozen=True)
class RateLimits:
    """The relay's limits, per kind of request: per device and per client address."""

    challenge_per_device: Rate = field(default_factory=lambda: _rate(60))
    challenge_per_address: Rate = field(default_factory=lambda: _rate(600))
    send_per_device: Rate = field(default_factory=lambda: _rate(600))
    send_per_address: Rate = field(default_factory=lambda: _rate(3000))
    fetch_per_device: Rate = field(default_factory=lambda: _rate(1200))
    fetch_per_address: Rate = field(default_factory=lambda: _rate(6000))
    review_per_device: Rate = field(default_factory=lambda: _rate(120))
    review_per_address: Rate = field(default_factory=lambda: _rate(600))
    # Refused reviews logged per device and window; past it they are counted (defect 7).
    review_refusals_logged: int = 20
    review_refusal_window: int = 3600

    @classmethod
    def off(cls) -> RateLimits:
        """No limits (load tests and benchmarks measure the relay, not its limits)."""
        none = Rate(0, 0)
        return cls(
            **{
                name: none
                for name in cls.__dataclass_fields__
                if name.endswith(("device", "address"))
            }
        )

    def with_per_minute(self, name: str, per_minute: float) -> RateLimits:
        """These limits with `<name>_per_device` or `<name>_per_address` set (`liaison serve
        --rate-limit NAME=N`)."""
        from dataclasses import replace

        if name not in self.__dataclass_fields__ or not name.endswith(("device", "address")):
            raise ValueError(name)
        return replace(self, **{name: _rate(per_minute)})


KINDS = ("challenge", "send", "fetch", "review")


class Bucket:
    """Token buckets of one rate, one per key, on `clock` (seconds, monotonic)."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        # key -> (tokens, at): dicts keep insertion order, so the first key is the oldest.
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 when granted, else the seconds until one is free."""
        if self.rate.unlimited:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.rate.burst), now))
        per_second = self.rate.per_minute / 60
        tokens = min(float(self.rate.burst), tokens + (now - at) * per_second)
        if tokens >= 1:
            tokens -= 1
            wait = 0.0
        else:
            wait = (1 - tokens) / per_second
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_KEYS:
            del self._buckets[next(iter(self._buckets))]
        return wait


class Limiter:
    """Every bucket of the relay; `check` refuses with 429 when one is empty."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._buckets = {
            name: Bucket(getattr(limits, name), clock)
            for name in limits.__dataclass_fields__
            if name.endswith(("device", "address"))
        }

    def check(self, kind: str, *, device: str | None = None, address: str | None = None) -> None:
        """Take one token of `kind` for the device and for the address (either may be None)."""
        waits = []
        if device is not None:
            waits.append(self._buckets[f"{kind}_per_device"].take(device))
        if address is not None:
            waits.append(self._buckets[f"{kind}_per_address"].take(address))
        wait = max(waits, default=0.0)
        if wait > 0:
            raise TooManyRequests(
                "rate_limited",
                f"Too many {kind} requests; try again in {math.ceil(wait)} seconds.",
                retry_after=math.ceil(wait),
            )
