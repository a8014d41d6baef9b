"""The watch's reconnect schedule: stepped delays, spread by jitter, pinned in tests."""

from __future__ import annotations

import asyncio
import random

from liaison.client.watch import RETRY_DELAYS, Backoff, retry_delay


def test_each_delay_lies_in_the_upper_half_of_its_step() -> None:
    for failures, step in enumerate(RETRY_DELAYS):
        assert retry_delay(failures, lambda: 0.0) == step / 2
        assert step / 2 < retry_delay(failures, lambda: 0.999) < step


def test_the_last_step_repeats_after_many_failures() -> None:
    assert retry_delay(1000, lambda: 0.0) == RETRY_DELAYS[-1] / 2


def test_officers_cut_off_by_one_restart_do_not_reconnect_in_the_same_second() -> None:
    # 50 officers with independent random sources, all failing their first attempt at once.
    delays = [retry_delay(0, random.Random(seed).random) for seed in range(50)]
    assert len({round(d, 3) for d in delays}) > 40
    assert max(delays) - min(delays) > RETRY_DELAYS[0] / 4


def test_backoff_sleeps_the_drawn_delays_and_starts_over_after_contact() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    draws = iter([0.0, 0.5, 1.0 - 1e-9, 0.0])
    backoff = Backoff(uniform=lambda: next(draws), sleep=sleep)

    async def fail_three_times_then_reconnect() -> bool:
        for _attempt in range(3):
            await backoff.wait(backoff.next_delay())
        reconnected = backoff.reset()
        await backoff.wait(backoff.next_delay())
        return reconnected

    assert asyncio.run(fail_three_times_then_reconnect()) is True
    assert slept[0] == RETRY_DELAYS[0] / 2
    assert slept[1] == RETRY_DELAYS[1] * 0.75
    assert RETRY_DELAYS[2] * 0.99 < slept[2] < RETRY_DELAYS[2]
    assert slept[3] == RETRY_DELAYS[0] / 2  # the schedule starts over after contact
    assert backoff.reset() is True and backoff.reset() is False
