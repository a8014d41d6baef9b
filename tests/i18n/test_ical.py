"""iCalendar export: files parse back, times are right in both zones, UID and SEQUENCE behave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from liaison.domain.cases import derive_cases
from liaison.domain.handover import Handover
from liaison.i18n import set_language
from liaison.i18n.ical import agenda_to_ics, handover_to_ics, handover_uid
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    VN,
    VN_POLICE,
    CaseLog,
    at,
    verify_countersignature,
)

VN_ZONE = ZoneInfo(VN)
CN_ZONE = ZoneInfo(CN)
NOW = int(datetime(2026, 12, 1, 1, 0, tzinfo=UTC).timestamp())


def handover_of(log: CaseLog) -> Handover:
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    (handover,) = cases[log.case_ref].handovers.values()
    return handover


def parse(data: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_exported_handover_parses_back_with_right_times_in_both_zones() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    calendar, event = parse(handover_to_ics(handover_of(log), now=NOW, language="en", zone=VN))

    start = event.decoded("dtstart")
    assert start.utcoffset() == timedelta(hours=7)
    assert start.astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert start.astimezone(CN_ZONE).strftime("%H:%M") == "10:00"
    assert start.astimezone(VN_ZONE).strftime("%H:%M") == "09:00"
    assert event.decoded("dtend") - start == timedelta(hours=2)
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["uid"]) == handover_uid(proposal.message_id)
    assert event["location"] == "Mong Cai – Dongxing"
    description = str(event["description"])
    assert "2026-12-03 09:00 UTC+7" in description
    assert "2026-12-03 10:00 UTC+8" in description
    assert "Person 0" not in event.to_ical().decode()


@pytest.mark.parametrize(
    ("language", "summary", "state", "persons"),
    [
        ("vi", "Bàn giao, vụ việc", "đã xác nhận", "Số người: 2"),
        ("zh_Hans_CN", "移交，案件", "已确认", "人数：2"),
    ],
)
def test_event_text_is_in_the_language_asked_whatever_the_process_language(
    language: str, summary: str, state: str, persons: str
) -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    set_language("en")
    _, event = parse(handover_to_ics(handover_of(log), now=NOW, language=language))
    assert str(event["summary"]).startswith(summary)
    description = str(event["description"])
    assert description.splitlines()[0] == state
    assert persons in description.splitlines()


def test_vtimezone_in_the_file_gives_the_same_offset_as_the_zone_database() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    calendar, event = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    (timezone,) = calendar.walk("VTIMEZONE")
    assert str(timezone["tzid"]) == CN
    # Read the start with the file's own VTIMEZONE rules, not the reader's zone database.
    wall = event["dtstart"].dt.replace(tzinfo=None)
    from_file = wall.replace(tzinfo=timezone.to_tz())
    assert from_file.utcoffset() == timedelta(hours=8)
    assert from_file.astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert str(event["status"]) == "TENTATIVE"


def test_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    _, before = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    reschedule = log.reschedule(VN_POLICE, CN_PSB, proposal, at("2026-12-05 09:00", VN))
    _, moved = parse(handover_to_ics(handover_of(log), now=NOW + 60, language="en"))
    log.accept(CN_PSB, VN_POLICE, reschedule)
    _, agreed = parse(handover_to_ics(handover_of(log), now=NOW + 120, language="en"))

    assert before["uid"] == moved["uid"] == agreed["uid"]
    assert before.decoded("sequence") < moved.decoded("sequence") < agreed.decoded("sequence")
    assert str(moved["status"]) == "TENTATIVE"
    assert str(agreed["status"]) == "CONFIRMED"
    assert agreed.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def test_counter_raises_the_sequence() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    _, before = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-04 09:00", VN))
    _, after = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    assert after.decoded("sequence") == before.decoded("sequence") + 1
    assert after["uid"] == before["uid"]


def test_cancelled_handover_exports_as_cancelled_with_a_higher_sequence() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    _, before = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    log.cancel(CN_PSB, VN_POLICE, proposal, reason_code="weather")
    _, after = parse(handover_to_ics(handover_of(log), now=NOW, language="en"))
    assert str(after["status"]) == "CANCELLED"
    assert after.decoded("sequence") > before.decoded("sequence")


def test_agenda_export_holds_one_event_per_handover_and_each_zone_once() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.propose(VN_POLICE, CN_PSB, at("2026-12-04 23:30", VN))
    log.propose(VN_POLICE, CN_PSB, at("2026-12-05 08:00", VN))
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    handovers = list(cases[log.case_ref].handovers.values())
    calendar = Calendar.from_ical(agenda_to_ics(handovers, now=NOW, language="en"))
    events = calendar.walk("VEVENT")
    assert sorted(str(e["uid"]) for e in events) == sorted(
        handover_uid(h.handover_id) for h in handovers
    )
    assert sorted(str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")) == sorted([CN, VN])
    late = next(e for e in events if e.decoded("dtstart").hour == 23)
    assert late.decoded("dtstart").astimezone(CN_ZONE).strftime("%d %H:%M") == "05 00:30"


@pytest.mark.parametrize("zone", [VN, CN])
def test_export_zone_moves_the_wall_clock_not_the_instant(zone: str) -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    _, event = parse(handover_to_ics(handover_of(log), now=NOW, language="en", zone=zone))
    assert event["dtstart"].params["TZID"] == zone
    assert event.decoded("dtstart").astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
