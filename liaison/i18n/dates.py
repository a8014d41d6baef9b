"""Dates and times through Babel: official date styles, 24-hour clock, both border time zones."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from liaison.i18n import N_, gettext_for

VN_ZONE = "Asia/Ho_Chi_Minh"
CN_ZONE = "Asia/Shanghai"
# Every date-time is shown in both zones, Vietnam first, whatever zone it was entered in.
ZONE_LABELS = {VN_ZONE: N_("Vietnam time"), CN_ZONE: N_("Beijing time")}
# Printed text names a zone by its label and UTC offset, never by its IANA id (neither zone has
# daylight saving, so the offset is fixed); the ids stay in the notice data and in --json.
ZONE_OFFSETS = {VN_ZONE: "UTC+7", CN_ZONE: "UTC+8"}

# Official styles: "ngày 03 tháng 12 năm 2026" (Decree 30/2020, see vi_document_date) /
# "2026年12月3日" / "3 December 2026"; 24-hour clock.
_DATE_PATTERNS = {"zh_Hans_CN": "y年M月d日", "en": "d MMMM y"}
_DATETIME_PATTERNS = {"zh_Hans_CN": "y年M月d日 HH:mm", "en": "d MMMM y HH:mm"}
_YEAR_PATTERNS = {"vi": "'năm' y", "zh_Hans_CN": "y年", "en": "y"}


def _locale(language: str) -> str:
    return {"zh": "zh_Hans_CN"}.get(language, language)


def vi_document_date(value: date) -> str:
    """ "ngày 07 tháng 02 năm 2027": Decree 30/2020 (Appendix I) puts a zero before days below
    10 and before months 1 and 2 (so that nothing can be added in front of them), not before
    other months."""
    month = f"{value.month:02d}" if value.month < 3 else str(value.month)
    return f"ngày {value.day:02d} tháng {month} năm {value.year}"


def format_official_date(value: date, language: str) -> str:
    """`value` in the language's official style (never a bare numeric date)."""
    locale = _locale(language)
    if locale == "vi":
        return vi_document_date(value)
    return format_date(value, _DATE_PATTERNS[locale], locale=locale)


def format_local_datetime(moment: datetime, zone: str, language: str) -> str:
    """`moment` (aware) as wall-clock time in `zone`, official date style, 24-hour clock."""
    locale = _locale(language)
    if locale == "vi":
        local = moment.astimezone(ZoneInfo(zone))
        return f"{local:%H} giờ {local:%M} {vi_document_date(local.date())}"
    return format_datetime(moment, _DATETIME_PATTERNS[locale], tzinfo=ZoneInfo(zone), locale=locale)


def zone_note(zone: str, language: str) -> str:
    """ "(giờ Việt Nam, UTC+7)" / "（北京时间，UTC+8）": a zone as printed (full-width in zh)."""
    locale = _locale(language)
    label = gettext_for(locale, ZONE_LABELS[zone]) if zone in ZONE_LABELS else zone
    offset = ZONE_OFFSETS.get(zone, "")
    if locale.startswith("zh"):
        return f"（{label}，{offset}）" if offset else f"（{label}）"
    return f"({label}, {offset})" if offset else f"({label})"


def format_both_zones(moment: datetime, language: str) -> str:
    """`moment` in Vietnam and in China time, each with its label and UTC offset."""
    locale = _locale(language)
    parts = []
    for zone in (VN_ZONE, CN_ZONE):
        separator = "" if locale.startswith("zh") else " "
        parts.append(
            f"{format_local_datetime(moment, zone, locale)}{separator}{zone_note(zone, locale)}"
        )
    # Chinese punctuation is full-width throughout, the slash between the two zones too.
    return ("／" if locale.startswith("zh") else " / ").join(parts)


def parse_utc(value: Mapping[str, Any] | int) -> datetime:
    """An aware UTC datetime from a DATETIME mapping or unix seconds."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value, tz=UTC)
    return datetime.strptime(str(value["utc"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def format_partial_date(value: Mapping[str, Any], language: str) -> str:
    """A person's date: full date or year only, marked when estimated."""
    locale = _locale(language)
    if "date" in value:
        text = format_official_date(date.fromisoformat(value["date"]), locale)
    else:
        text = format_date(date(int(value["year"]), 1, 1), _YEAR_PATTERNS[locale], locale=locale)
    if value.get("estimated"):
        text = gettext_for(locale, N_("{date} (estimated)")).format(date=text)
    return text
