"""Official date styles, 24-hour clock, and both border zones across midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from liaison.i18n.dates import (
    format_both_zones,
    format_local_datetime,
    format_official_date,
    format_partial_date,
)

# 23:30 in Móng Cái on 3 December 2026 is 16:30 UTC.
LATE_HANDOVER = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("vi", "ngày 03 tháng 12 năm 2026"),
        ("zh", "2026年12月3日"),
        ("en", "3 December 2026"),
    ],
)
def test_official_date_styles(language, expected):
    assert format_official_date(date(2026, 12, 3), language) == expected


def test_late_evening_in_mong_cai_is_next_day_in_dongxing():
    assert format_local_datetime(LATE_HANDOVER, "Asia/Ho_Chi_Minh", "zh") == "2026年12月3日 23:30"
    assert format_local_datetime(LATE_HANDOVER, "Asia/Shanghai", "zh") == "2026年12月4日 00:30"
    assert (
        format_local_datetime(LATE_HANDOVER, "Asia/Shanghai", "vi")
        == "00 giờ 30 ngày 04 tháng 12 năm 2026"
    )


def test_midnight_crossing_at_the_end_of_a_year():
    moment = datetime(2026, 12, 31, 16, 45, tzinfo=UTC)
    both = format_both_zones(moment, "en")
    assert "31 December 2026 23:45 (Vietnam time, UTC+7)" in both
    assert "1 January 2027 00:45 (Beijing time, UTC+8)" in both


@pytest.mark.parametrize(
    ("language", "labels"),
    [("vi", ("giờ Việt Nam", "giờ Bắc Kinh")), ("zh", ("越南时间", "北京时间"))],
)
def test_every_date_time_is_shown_in_both_zones_with_their_labels(language, labels):
    text = format_both_zones(LATE_HANDOVER, language)
    for label in labels:
        assert label in text
    assert "UTC+7" in text and "UTC+8" in text
    # Printed text names a zone by label and offset, never by its IANA id.
    assert "Asia/" not in text


def test_chinese_zone_notes_take_full_width_punctuation():
    text = format_both_zones(LATE_HANDOVER, "zh")
    assert "2026年12月4日 00:30（北京时间，UTC+8）" in text
    assert "(" not in text and "," not in text


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 2, 7), "ngày 07 tháng 02 năm 2027"),
        (date(2027, 1, 31), "ngày 31 tháng 01 năm 2027"),
        (date(2027, 3, 9), "ngày 09 tháng 3 năm 2027"),
        (date(2026, 12, 10), "ngày 10 tháng 12 năm 2026"),
    ],
)
def test_vietnamese_dates_follow_decree_30(day, expected):
    # Decree 30/2020, Appendix I: a zero before days below 10 and before months 1 and 2 only.
    assert format_official_date(day, "vi") == expected


def test_clock_is_24_hour_in_every_language():
    afternoon = datetime(2026, 12, 3, 8, 5, tzinfo=UTC)  # 15:05 Vietnam
    for language in ("vi", "zh", "en"):
        text = format_both_zones(afternoon, language)
        assert "15" in text and "16" in text
        assert "PM" not in text and "下午" not in text and "CH" not in text


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        ({"year": 2009}, "vi", "năm 2009"),
        ({"year": 2009, "estimated": True}, "zh", "2009年（估计）"),
        ({"date": "2004-05-17"}, "vi", "ngày 17 tháng 5 năm 2004"),
        ({"date": "2004-02-07"}, "vi", "ngày 07 tháng 02 năm 2004"),
        ({"date": "2004-05-17", "estimated": True}, "en", "17 May 2004 (estimated)"),
    ],
)
def test_partial_dates_year_only_and_estimated(value, language, expected):
    assert format_partial_date(value, language) == expected
