"""Listing times read the same on both sides: ISO date, 24-hour clock, both countries' zones."""

from datetime import UTC, datetime

from liaison.cli.messages import format_time


def _at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def test_listing_time_shows_vietnam_and_china_time_on_a_24_hour_clock() -> None:
    assert format_time(_at(2026, 12, 3, 7, 5)) == "2026-12-03 14:05 UTC+7 / 15:05 UTC+8"


def test_listing_time_across_midnight_names_chinas_next_day() -> None:
    # 23:30 at Móng Cái is 00:30 the next day at Dongxing.
    assert (
        format_time(_at(2026, 12, 3, 16, 30)) == "2026-12-03 23:30 UTC+7 / 2026-12-04 00:30 UTC+8"
    )


def test_listing_time_passes_through_what_is_not_a_timestamp() -> None:
    assert format_time(None) == ""
    assert format_time("pending") == "pending"
