"""The agenda: upcoming handovers in both local times, replies due, support windows."""

from __future__ import annotations

import json

from liaison.domain.agenda import DAY, agenda_to_json, build_agenda
from liaison.domain.case_events import LoggedNotice, Slot
from liaison.domain.cases import Case, derive_cases
from liaison.domain.handover import HandoverState
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    CaseLog,
    at,
    verify_countersignature,
)

NOW = Slot.from_notice(at("2026-12-01 08:00", VN)).timestamp


def derive(*logs: CaseLog) -> dict[str, Case]:
    events: list[LoggedNotice] = [e for log in logs for e in log.events]
    return derive_cases(events, verify_countersignature=verify_countersignature)


def test_upcoming_handovers_within_the_window_in_both_local_times() -> None:
    soon = CaseLog(case_ref="QN-1")
    proposal = soon.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    soon.accept(VN_POLICE, CN_PSB, proposal)
    later = CaseLog(case_ref="QN-2", first_index=100)
    later.propose(VN_POLICE, CN_PSB, at("2026-12-20 09:00", VN))
    earlier = CaseLog(case_ref="QN-3", first_index=200)
    earlier.propose(VN_POLICE, CN_PSB, at("2026-12-02 23:30", VN), persons=1)

    agenda = build_agenda(derive(soon, later, earlier), now=NOW, days=7)

    assert [(item.case_ref, item.state) for item in agenda.handovers] == [
        ("QN-3", HandoverState.PROPOSED),
        ("QN-1", HandoverState.CONFIRMED),
    ]
    late_night, morning = agenda.handovers
    times = {zone: moment.strftime("%Y-%m-%d %H:%M") for zone, moment in morning.local_times}
    assert times == {VN: "2026-12-03 09:00", CN: "2026-12-03 10:00"}
    # 23:30 in Mong Cai is already the next day in Dongxing.
    times = {zone: moment.strftime("%Y-%m-%d %H:%M") for zone, moment in late_night.local_times}
    assert times == {VN: "2026-12-02 23:30", CN: "2026-12-03 00:30"}
    assert late_night.awaiting_side == "CN"
    assert morning.awaiting_side is None
    assert morning.persons == 2


def test_cancelled_past_and_recorded_handovers_are_not_upcoming() -> None:
    log = CaseLog()
    cancelled = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.cancel(CN_PSB, VN_POLICE, cancelled)
    log.propose(CN_PSB, VN_POLICE, at("2026-11-30 10:00", CN))
    recorded = log.propose(CN_PSB, VN_POLICE, at("2026-12-02 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, recorded)
    log.record(CN_PSB, VN_POLICE, recorded)
    assert build_agenda(derive(log), now=NOW, days=7).handovers == ()


def test_window_length_is_the_days_parameter() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-10 10:00", CN))
    cases = derive(log)
    assert build_agenda(cases, now=NOW, days=7).handovers == ()
    assert len(build_agenda(cases, now=NOW, days=10).handovers) == 1


def test_unanswered_request_past_its_reply_by_is_overdue() -> None:
    log = CaseLog()
    log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    (reply,) = build_agenda(derive(log), now=NOW).replies
    assert reply.overdue
    assert reply.notice_type == "verification_request"
    assert reply.awaited_from == "CN"
    assert dict(reply.local_times)[CN].strftime("%H:%M") == "18:00"


def test_reply_due_soon_is_listed_but_not_overdue_and_far_ones_are_not_listed() -> None:
    log = CaseLog()
    log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-12-04 17:00", VN))
    log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2027-01-30 17:00", VN))
    (reply,) = build_agenda(derive(log), now=NOW, days=7).replies
    assert not reply.overdue


def test_answer_from_the_counterpart_clears_the_reply_by() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    log.verification_result(CN_PSB, VN_POLICE, request, "pending")
    assert build_agenda(derive(log), now=NOW).replies == ()


def test_answer_by_their_ref_also_clears_the_reply_by() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    log.notice(
        CN_PSB, "receipt_ack", {}, to=VN_POLICE, header={"their_ref": request.header["our_ref"]}
    )
    assert build_agenda(derive(log), now=NOW).replies == ()


def test_follow_up_from_the_same_side_is_not_a_reply() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    log.verification_result(VN_BORDER_GUARD, CN_PSB, request, "confirmed")
    (reply,) = build_agenda(derive(log), now=NOW).replies
    assert reply.message_id == request.message_id


def test_overdue_replies_come_before_replies_due_later() -> None:
    log = CaseLog()
    due = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-12-02 17:00", VN))
    overdue = log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-29 17:00", VN))
    replies = build_agenda(derive(log), now=NOW).replies
    assert [r.message_id for r in replies] == [overdue.message_id, due.message_id]


def test_support_window_nearing_its_limit_is_projected_from_the_report() -> None:
    log = CaseLog()
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=90)
    reported_at = log.events[-1].sent_at
    cases = derive(log)
    assert build_agenda(cases, now=reported_at + 9 * DAY).support_windows == ()
    (window,) = build_agenda(cases, now=reported_at + 12 * DAY).support_windows
    assert window.reported_days_used == 90
    assert window.days_used == 102
    assert window.days_left == 18


def test_latest_referral_status_wins_and_an_extension_raises_the_limit() -> None:
    log = CaseLog()
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=110)
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=115, days_limit=180)
    (window,) = build_agenda(derive(log), now=log.events[-1].sent_at).support_windows
    assert (window.days_used, window.days_limit, window.days_left) == (115, 180, 65)


def test_person_who_left_the_shelter_is_not_on_the_agenda() -> None:
    log = CaseLog()
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=110)
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=118, status="returned_home")
    assert build_agenda(derive(log), now=log.events[-1].sent_at).support_windows == ()


def test_support_windows_are_per_person() -> None:
    log = CaseLog()
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=101, persons=["Hoa", "Lan"])
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=104, persons=["Lan"])
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=20, persons=["Mai"])
    windows = build_agenda(derive(log), now=log.events[-1].sent_at).support_windows
    assert [(w.person, w.reported_days_used) for w in windows] == [("Lan", 104), ("Hoa", 101)]


def test_agenda_is_a_function_of_now() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    cases = derive(log)
    assert build_agenda(cases, now=NOW) == build_agenda(cases, now=NOW)
    assert build_agenda(cases, now=NOW + 3 * DAY).handovers == ()


def test_agenda_json_gives_both_local_times_with_offsets() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.request_verification(VN_POLICE, CN_PSB, reply_by=at("2026-11-30 17:00", VN))
    log.referral_status(VN_POLICE, VN_BORDER_GUARD, days_used=100)
    view = json.loads(json.dumps(agenda_to_json(build_agenda(derive(log), now=NOW))))
    (handover,) = view["handovers"]
    assert handover["local_times"] == {
        VN: "2026-12-03T09:00:00+07:00",
        CN: "2026-12-03T10:00:00+08:00",
    }
    assert [r["overdue"] for r in view["replies"]] == [True]
    # Reported on 20 November with 100 days used: 110 days used by 1 December.
    assert [(w["days_used"], w["days_left"]) for w in view["support_windows"]] == [(110, 10)]
