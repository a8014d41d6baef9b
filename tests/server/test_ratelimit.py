"""Rate limits (issue 14, section 3): token buckets on an injected clock, and 429 with
Retry-After from the relay."""

from __future__ import annotations

from dataclasses import replace

import pytest

from liaison.server.errors import TooManyRequests
from liaison.server.ratelimit import MAX_KEYS, Bucket, Limiter, Rate, RateLimits
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register


class _Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_grants_its_burst_then_one_per_interval() -> None:
    clock = _Monotonic()
    bucket = Bucket(Rate(per_minute=60, burst=3), clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(1.0)
    assert bucket.take("b") == 0.0  # another key has its own bucket
    clock.now += 1.0
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0
    clock.now += 3600  # refilled to the burst, not beyond
    assert [bucket.take("a") for _ in range(4)][-1] > 0


def test_an_unlimited_rate_never_refuses() -> None:
    bucket = Bucket(Rate(0, 0), _Monotonic())
    assert all(bucket.take("a") == 0.0 for _ in range(10_000))


def test_buckets_are_bounded_in_number() -> None:
    bucket = Bucket(Rate(60, 1), _Monotonic())
    for i in range(MAX_KEYS + 10):
        bucket.take(str(i))
    assert len(bucket._buckets) == MAX_KEYS


def test_the_limiter_refuses_with_the_wait_in_whole_seconds() -> None:
    clock = _Monotonic()
    limits = replace(RateLimits(), send_per_device=Rate(per_minute=2, burst=1))
    limiter = Limiter(limits, clock)
    limiter.check("send", device="d", address="1.2.3.4")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check("send", device="d", address="1.2.3.4")
    assert refused.value.headers == {"Retry-After": "30"}
    clock.now += 30
    limiter.check("send", device="d", address="1.2.3.4")


def test_serve_options_change_one_limit() -> None:
    limits = RateLimits().with_per_minute("fetch_per_address", 5)
    assert limits.fetch_per_address == Rate(5, 5)
    assert RateLimits.off().send_per_device.unlimited
    with pytest.raises(ValueError):
        RateLimits().with_per_minute("review_refusal_window", 5)


@pytest.fixture
def database():
    return None, None


@pytest.fixture
def monotonic() -> _Monotonic:
    return _Monotonic()


@pytest.fixture
def settings(settings, monotonic):
    limits = replace(RateLimits(), challenge_per_address=Rate(per_minute=60, burst=2))
    return replace(settings, rate_limits=limits, rate_clock=monotonic)


async def test_the_relay_answers_429_with_retry_after(api, monotonic) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice = vn.device("alice")
    await enrol(api, alice)
    for _ in range(2):
        answer = await api.post("/v1/auth/challenge", json={"device_id": alice.device_id})
        assert answer.status == 200
    response = await api.client.post("/v1/auth/challenge", json={"device_id": alice.device_id})
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["code"] == "rate_limited"
    monotonic.now += 1
    assert (await api.post("/v1/auth/challenge", json={"device_id": alice.device_id})).status == 200
