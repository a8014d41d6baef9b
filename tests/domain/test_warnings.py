"""Scheduling warnings: gate hours in the gate's own time, past slots, double-booked escorts,
unconfirmed verification; each with a stable code and a message in the officer's language."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from liaison.domain.case_events import Slot
from liaison.domain.cases import Case, derive_cases
from liaison.domain.warnings import (
    GateOpening,
    WarningCode,
    known_gate_hours,
    slot_warnings,
    warnings_for_handover,
    warnings_for_proposal,
)
from liaison.i18n import translate, warning_json
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    GATE_MONG_CAI,
    MARKER_450,
    VN,
    VN_POLICE,
    CaseLog,
    at,
    verify_countersignature,
)

NOW = Slot.from_notice(at("2026-12-01 08:00", VN)).timestamp
W = WarningCode


def codes(warnings: list[Any]) -> list[WarningCode]:
    return [w.code for w in warnings]


def slot(local: str, tz: str) -> Slot:
    return Slot.from_notice(at(local, tz))


# Opening hours, read on the gate's own clock.


@pytest.mark.parametrize(
    ("local", "tz", "outside"),
    [
        ("2026-12-03 07:30", VN, False),  # 08:30 in Dongxing
        ("2026-12-03 06:30", VN, True),  # 07:30 in Dongxing: not yet open
        ("2026-12-03 19:30", VN, True),  # 20:30 in Dongxing: already closed
        ("2026-12-03 19:59", CN, False),
        ("2026-12-03 20:00", CN, True),
        ("2026-12-03 23:30", VN, True),
    ],
)
def test_slot_is_checked_against_dongxing_hours_in_beijing_time(
    local: str, tz: str, outside: bool
) -> None:
    warnings = slot_warnings(slot(local, tz), GATE_MONG_CAI, now=NOW)
    assert (W.OUTSIDE_OPENING_HOURS in codes(warnings)) is outside


def test_opening_hours_warning_names_the_gate_and_its_local_time_in_each_language() -> None:
    (warning,) = slot_warnings(slot("2026-12-03 19:30", VN), GATE_MONG_CAI, now=NOW)
    assert warning.params["local_time"] == "2026-12-03 20:30 UTC+8"
    assert "东兴" in translate(warning.message, "zh_Hans_CN")
    assert "Đông Hưng" in translate(warning.message, "vi")
    english = translate(warning.message, "en")
    assert "Dongxing" in english
    assert "08:00" in english and "20:00" in english


def test_gate_without_known_hours_and_places_that_are_not_gates_give_no_hours_warning() -> None:
    late = slot("2026-12-03 23:30", VN)
    assert known_gate_hours("hoanh-mo--dongzhong") == []
    assert slot_warnings(late, {"kind": "gate", "gate": "hoanh-mo--dongzhong"}, now=NOW) == []
    assert slot_warnings(late, MARKER_450, now=NOW) == []
    assert slot_warnings(late, GATE_MONG_CAI, now=NOW, gate_hours=None) == []


def own_gates(gate_id: str) -> list[GateOpening]:
    """Test data: a crossing open overnight on the Vietnamese side, daytime on the Chinese."""
    if gate_id != "test-gate":
        return []
    return [
        GateOpening({"en": "Night side"}, VN, time(22, 0), time(6, 0)),
        GateOpening({"en": "Day side"}, CN, time(7, 0), time(23, 30)),
    ]


def test_each_side_of_a_gate_is_checked_on_its_own_clock_including_overnight_hours() -> None:
    gate = {"kind": "gate", "gate": "test-gate"}

    def closed(local: str, tz: str) -> list[str]:
        warnings = slot_warnings(slot(local, tz), gate, now=NOW, gate_hours=own_gates)
        return [w.params["gate"]["en"] for w in warnings]

    assert closed("2026-12-03 22:29", VN) == []  # 23:29 in China
    assert closed("2026-12-03 22:30", VN) == ["Day side"]  # 23:30 in China: just closed
    assert closed("2026-12-03 05:59", VN) == ["Day side"]
    assert closed("2026-12-03 06:00", VN) == ["Night side"]  # 07:00 in China: day side opens
    assert closed("2026-12-03 12:00", VN) == ["Night side"]


# A slot in the past.


def test_slot_in_the_past_is_warned_and_a_future_one_is_not() -> None:
    (warning,) = slot_warnings(slot("2026-11-30 09:00", VN), MARKER_450, now=NOW)
    assert warning.code is W.SLOT_IN_PAST
    assert "2026-11-30 09:00" in translate(warning.message, "en")
    assert slot_warnings(slot("2026-12-01 08:01", VN), MARKER_450, now=NOW) == []


# Escort officers booked twice.


def booked_cases(escorts: list[dict[str, str]], *, cancel: bool = False) -> dict[str, Case]:
    log = CaseLog(case_ref="QN-2026-0001")
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN), escorts=escorts)
    log.accept(VN_POLICE, CN_PSB, proposal)
    if cancel:
        log.cancel(CN_PSB, VN_POLICE, proposal)
    other = CaseLog(case_ref="QN-2026-0002", first_index=100)
    request = other.request_verification(VN_POLICE, CN_PSB)
    other.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    return derive_cases(log.events + other.events, verify_countersignature=verify_countersignature)


def proposal_fields(local: str, tz: str, escorts: list[dict[str, str]]) -> dict[str, Any]:
    return {"slot": at(local, tz), "place": dict(MARKER_450), "persons": [], "escorts": escorts}


def check(fields: dict[str, Any], cases: dict[str, Case]) -> list[WarningCode]:
    return codes(
        warnings_for_proposal(
            fields, case_ref="QN-2026-0002", cases=cases, now=NOW, sender_agency="CN-GX-DXGA"
        )
    )


def test_escort_booked_for_an_overlapping_handover_is_warned() -> None:
    wang = {"name": "Wang Wei", "officer_id": "045123"}
    cases = booked_cases([wang])
    warnings = warnings_for_proposal(
        proposal_fields("2026-12-03 11:30", CN, [wang]),
        case_ref="QN-2026-0002",
        cases=cases,
        now=NOW,
        sender_agency="CN-GX-DXGA",
    )
    (warning,) = warnings
    assert warning.code is W.ESCORT_DOUBLE_BOOKED
    assert warning.params["case"] == "QN-2026-0001"
    assert "Wang Wei" in translate(warning.message, "en")
    assert "QN-2026-0001" in translate(warning.message, "vi")


def test_escort_free_once_the_other_handover_is_over_or_cancelled() -> None:
    wang = {"name": "Wang Wei", "officer_id": "045123"}
    assert check(proposal_fields("2026-12-03 12:00", CN, [wang]), booked_cases([wang])) == []
    assert check(proposal_fields("2026-12-03 08:00", CN, [wang]), booked_cases([wang])) == []
    cancelled = booked_cases([wang], cancel=True)
    assert check(proposal_fields("2026-12-03 10:00", CN, [wang]), cancelled) == []


def test_escort_matched_by_name_when_an_id_is_missing_but_not_across_different_ids() -> None:
    booked = booked_cases([{"name": "Lý  Na"}])
    assert check(proposal_fields("2026-12-03 10:30", CN, [{"name": "lý na"}]), booked) == [
        W.ESCORT_DOUBLE_BOOKED
    ]
    booked = booked_cases([{"name": "Li Na", "officer_id": "045124"}])
    namesake = [{"name": "Li Na", "officer_id": "099999"}]
    assert check(proposal_fields("2026-12-03 10:30", CN, namesake), booked) == []


def test_reception_team_of_an_acceptance_counts_as_booked() -> None:
    log = CaseLog(case_ref="QN-2026-0001")
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN), escorts=[])
    log.accept(
        VN_POLICE,
        CN_PSB,
        proposal,
        reception_team=[{"name": "Trần Văn Đức", "officer_id": "VN-88"}],
    )
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    fields = proposal_fields(
        "2026-12-03 09:30", VN, [{"name": "Tran Van Duc", "officer_id": "VN-88"}]
    )
    assert W.ESCORT_DOUBLE_BOOKED in check(fields, cases)


# Verification not confirmed.


@pytest.mark.parametrize("outcome", [None, "pending", "not_confirmed"])
def test_proposal_for_a_case_without_confirmed_verification_is_warned(outcome: str | None) -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    if outcome is not None:
        log.verification_result(CN_PSB, VN_POLICE, request, outcome)
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    (warning,) = warnings_for_proposal(
        proposal_fields("2026-12-03 10:00", CN, []), case_ref=log.case_ref, cases=cases, now=NOW
    )
    assert warning.code is W.VERIFICATION_NOT_CONFIRMED
    assert log.case_ref in translate(warning.message, "en")
    expected = {None: "requested", "pending": "pending", "not_confirmed": "not confirmed"}
    assert expected[outcome] in translate(warning.message, "en")


def test_proposal_for_an_unknown_case_is_warned_as_not_verified() -> None:
    (warning,) = warnings_for_proposal(
        proposal_fields("2026-12-03 10:00", CN, []), case_ref="QN-NEW", cases={}, now=NOW
    )
    assert warning.code is W.VERIFICATION_NOT_CONFIRMED
    assert "not requested" in translate(warning.message, "en")


def test_confirmed_case_future_slot_open_gate_gives_no_warning() -> None:
    cases = booked_cases([])
    fields = {**proposal_fields("2026-12-04 09:00", VN, []), "place": dict(GATE_MONG_CAI)}
    assert check(fields, cases) == []


# A derived handover, as `case show` and the agenda see it.


def test_warnings_for_a_derived_handover_leave_itself_out_of_double_booking() -> None:
    wang = {"name": "Wang Wei", "officer_id": "045123"}
    cases = booked_cases([wang])
    (handover,) = cases["QN-2026-0001"].handovers.values()
    assert warnings_for_handover(handover, cases=cases, now=NOW) == []
    late = Slot.from_notice(at("2026-12-04 08:00", VN)).timestamp
    assert codes(warnings_for_handover(handover, cases=cases, now=late)) == [W.SLOT_IN_PAST]


def test_warnings_have_stable_codes_and_messages_in_every_language() -> None:
    warnings = [
        *slot_warnings(slot("2026-11-30 23:30", VN), GATE_MONG_CAI, now=NOW),
        *warnings_for_proposal(
            proposal_fields("2026-12-03 10:00", CN, []), case_ref="X", cases={}, now=NOW
        ),
    ]
    assert codes(warnings) == [
        W.SLOT_IN_PAST,
        W.OUTSIDE_OPENING_HOURS,
        W.VERIFICATION_NOT_CONFIRMED,
    ]
    for warning in warnings:
        for language in ("vi", "zh_Hans_CN", "en"):
            text = translate(warning.message, language)
            assert text and "{" not in text


def test_warning_json_carries_code_and_message() -> None:
    (warning,) = slot_warnings(slot("2026-11-30 09:00", VN), MARKER_450, now=NOW)
    assert warning_json(warning, "en") == {
        "code": "slot_in_past",
        "message": "The slot 2026-11-30 09:00 UTC+7 is in the past.",
    }
