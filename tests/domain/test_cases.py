"""Cases derived from notices: verification status, log order, and agreement between parties."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.case_events import (
    Action,
    ConflictingLogOrder,
    LoggedNotice,
    SupersededReason,
    country_side,
)
from liaison.domain.cases import (
    Case,
    VerificationStatus,
    case_to_json,
    derive_cases,
    find_handover,
    log_order,
)
from liaison.domain.handover import HandoverState
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    CN_PSB_2,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    CaseLog,
    at,
    verify_countersignature,
)


def derive(events: list[LoggedNotice]) -> dict[str, Case]:
    return derive_cases(events, verify_countersignature=verify_countersignature)


def scenario_log(case_ref: str = "QN-2026-0042", first_index: int = 1) -> CaseLog:
    """Issue 5 section 5, with a crossing acceptance and cancellation on a second handover."""
    log = CaseLog(case_ref=case_ref, first_index=first_index)
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    counter = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 09:30", VN))
    log.accept(CN_PSB, VN_POLICE, counter)
    log.accept(CN_PSB_2, VN_POLICE, counter)
    reschedule = log.reschedule(VN_BORDER_GUARD, CN_PSB, proposal, at("2026-12-05 09:00", VN))
    log.accept(CN_PSB_2, VN_BORDER_GUARD, reschedule)
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record)
    second = log.propose(VN_POLICE, CN_PSB, at("2026-12-10 09:00", VN), persons=1)
    log.cancel(VN_POLICE, CN_PSB, second, reason_code="health")
    log.accept(CN_PSB, VN_POLICE, second)
    return log


# Verification.


def test_verification_moves_from_requested_through_pending_to_confirmed() -> None:
    log = CaseLog()
    assert derive([log.notice(VN_POLICE, "rescue_request", {}, to=CN_PSB)])[
        log.case_ref
    ].verification.status is (VerificationStatus.NONE)
    request = log.request_verification(VN_POLICE, CN_PSB)
    statuses = [derive(log.events)[log.case_ref].verification.status]
    log.verification_result(CN_PSB, VN_POLICE, request, "pending")
    statuses.append(derive(log.events)[log.case_ref].verification.status)
    log.verification_result(CN_PSB_2, VN_POLICE, request, "confirmed")
    statuses.append(derive(log.events)[log.case_ref].verification.status)
    assert statuses == [
        VerificationStatus.REQUESTED,
        VerificationStatus.PENDING,
        VerificationStatus.CONFIRMED,
    ]
    verification = derive(log.events)[log.case_ref].verification
    assert verification.requested_by == "VN"
    assert verification.answered_by == "CN"


def test_verification_result_not_confirmed_is_kept() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "not_confirmed")
    assert derive(log.events)[log.case_ref].verification.status is VerificationStatus.NOT_CONFIRMED


def test_requesting_side_cannot_answer_its_own_verification_request() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(VN_BORDER_GUARD, CN_PSB, request, "confirmed")
    case = derive(log.events)[log.case_ref]
    assert case.verification.status is VerificationStatus.REQUESTED
    assert case.timeline[-1].superseded is SupersededReason.OWN_REQUEST


def test_verification_result_for_an_unknown_request_is_superseded() -> None:
    log = CaseLog()
    log.request_verification(VN_POLICE, CN_PSB)
    other = CaseLog(case_ref="QN-2026-0099", first_index=100)
    foreign = other.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, foreign, "confirmed")
    case = derive(log.events)[log.case_ref]
    assert case.verification.status is VerificationStatus.REQUESTED
    assert case.timeline[-1].superseded is SupersededReason.UNKNOWN_REFERENCE


def test_verification_result_with_an_unknown_outcome_is_superseded() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "probably")
    case = derive(log.events)[log.case_ref]
    assert case.verification.status is VerificationStatus.REQUESTED
    assert case.timeline[-1].superseded is SupersededReason.MALFORMED


def test_new_request_after_a_negative_result_reopens_verification() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "not_confirmed")
    log.request_verification(VN_POLICE, CN_PSB)
    assert derive(log.events)[log.case_ref].verification.status is VerificationStatus.REQUESTED


# Routing and the case timeline.


def test_answer_to_a_notice_outside_the_case_is_kept_as_unknown_reference() -> None:
    log = CaseLog()
    other = CaseLog(case_ref="QN-2026-0099", first_index=100)
    foreign = other.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, foreign)
    case = derive(log.events)[log.case_ref]
    assert case.handovers == {}
    assert case.timeline[0].action is Action.ACCEPT
    assert case.timeline[0].superseded is SupersededReason.UNKNOWN_REFERENCE


def test_proposal_with_an_unreadable_slot_opens_no_handover() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, {"utc": "3 December", "tz": CN})
    log.accept(VN_POLICE, CN_PSB, proposal)
    case = derive(log.events)[log.case_ref]
    assert case.handovers == {}
    assert [e.superseded for e in case.timeline] == [
        SupersededReason.MALFORMED,
        SupersededReason.UNKNOWN_REFERENCE,
    ]


def test_each_proposal_opens_its_own_handover_and_timeline_is_in_log_order() -> None:
    log = scenario_log()
    case = derive(log.events)[log.case_ref]
    assert [h.state for h in case.handovers.values()] == [
        HandoverState.COMPLETED,
        HandoverState.CANCELLED,
    ]
    assert [e.log_index for e in case.timeline] == [e.log_index for e in log.events]
    superseded = [(e.action, e.superseded) for e in case.timeline if not e.effective]
    assert superseded == [
        (Action.ACCEPT, SupersededReason.OFFER_ALREADY_ACCEPTED),
        (Action.ACCEPT, SupersededReason.HANDOVER_CANCELLED),
    ]


def test_notices_without_a_case_reference_belong_to_no_case() -> None:
    log = CaseLog()
    stats = log.notice(VN_POLICE, "statistics", {}, to=CN_PSB, header={"case_ref": ""})
    assert derive([stats]) == {}


def test_other_notice_types_appear_in_the_timeline() -> None:
    log = CaseLog()
    log.notice(VN_POLICE, "rescue_request", {}, to=CN_PSB)
    log.notice(CN_PSB, "receipt_ack", {"in_reply_to": log.events[0].message_id}, to=VN_POLICE)
    case = derive(log.events)[log.case_ref]
    assert [(e.notice_type, e.action, e.side) for e in case.timeline] == [
        ("rescue_request", Action.NOTICE, "VN"),
        ("receipt_ack", Action.NOTICE, "CN"),
    ]


# One order for everybody.


def test_two_messages_at_one_log_index_are_refused() -> None:
    log = CaseLog()
    first = log.request_verification(VN_POLICE, CN_PSB)
    clash = dataclasses.replace(log.request_verification(VN_POLICE, CN_PSB), log_index=1)
    with pytest.raises(ConflictingLogOrder) as raised:
        derive([first, clash])
    assert raised.value.code == "conflicting_log_order"
    assert isinstance(raised.value, ValueError)


def test_redelivered_and_shuffled_notices_derive_the_same_cases() -> None:
    log = scenario_log()
    expected = derive(log.events)
    shuffled = log.events + log.events[3:7]
    random.Random(5).shuffle(shuffled)
    assert derive(shuffled) == expected
    assert [e.message_id for e in log_order(shuffled)] == [e.message_id for e in log.events]


def test_three_officers_clients_derive_the_same_state() -> None:
    """A Vietnamese police officer, a Chinese PSB officer and a Vietnamese border guard each
    sync the same log in their own batches and order; every derived value is equal."""
    log = scenario_log()
    viewpoints = []
    for seed, batch in ((1, 3), (2, 5), (3, 7)):
        arrived = list(log.events)
        random.Random(seed).shuffle(arrived)
        batches = [arrived[i : i + batch] for i in range(0, len(arrived), batch)]
        received: list[LoggedNotice] = []
        for chunk in batches:
            received.extend(chunk)
            received.extend(chunk[:1])  # a batch re-delivered after a dropped connection
        viewpoints.append(derive(received))
    assert viewpoints[0] == viewpoints[1] == viewpoints[2]
    case = viewpoints[0][log.case_ref]
    assert case.verification.status is VerificationStatus.CONFIRMED
    assert [h.state for h in case.handovers.values()] == [
        HandoverState.COMPLETED,
        HandoverState.CANCELLED,
    ]


def _summary(case: Case) -> object:
    return (
        case.verification.status,
        [
            (h.handover_id, h.state, h.slot, h.place, h.sequence, h.last_agreed)
            for h in case.handovers.values()
        ],
        [(e.message_id, e.action, e.superseded, e.state_after) for e in case.timeline],
    )


def _three_independent_cases() -> list[list[LoggedNotice]]:
    complete = scenario_log("QN-2026-0001").events
    crossing = CaseLog(case_ref="QN-2026-0002")
    proposal = crossing.propose(VN_POLICE, CN_PSB, at("2026-12-04 08:00", VN))
    crossing.accept(CN_PSB, VN_POLICE, proposal)
    crossing.accept(CN_PSB_2, VN_POLICE, proposal)
    crossing.cancel(VN_BORDER_GUARD, CN_PSB, proposal)
    pending = CaseLog(case_ref="QN-2026-0003")
    request = pending.request_verification(VN_POLICE, CN_PSB)
    pending.verification_result(CN_PSB, VN_POLICE, request, "pending")
    pending.propose(VN_POLICE, CN_PSB, at("2026-12-08 08:00", VN))
    return [complete, crossing.events, pending.events]


def _relog(order: list[int]) -> list[LoggedNotice]:
    """The events of INDEPENDENT with fresh log indexes, cases interleaved as `order` says."""
    cursors = [0] * len(INDEPENDENT)
    relogged = []
    for position, which in enumerate(order, start=1):
        event = INDEPENDENT[which][cursors[which]]
        cursors[which] += 1
        relogged.append(dataclasses.replace(event, log_index=position))
    return relogged


INDEPENDENT = _three_independent_cases()
ONE_AFTER_ANOTHER = [i for i, case in enumerate(INDEPENDENT) for _ in case]
REFERENCE = {ref: _summary(case) for ref, case in derive(_relog(ONE_AFTER_ANOTHER)).items()}


@settings(max_examples=40, deadline=None)
@given(st.permutations(ONE_AFTER_ANOTHER))
def test_interleaving_independent_cases_in_the_log_changes_no_case(order: list[int]) -> None:
    """The log may interleave cases in any way; each case's own order is all that counts."""
    relogged = _relog(order)
    random.Random(len(order)).shuffle(relogged)
    derived = derive(relogged)
    assert {ref: _summary(case) for ref, case in derived.items()} == REFERENCE


def test_side_function_is_a_parameter() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_BORDER_GUARD, CN_PSB, proposal)
    by_agency = derive_cases(
        log.events, verify_countersignature=verify_countersignature, side_of=lambda code: code
    )
    # With agencies as sides, the border guard is not a party to a police-to-PSB handover.
    (handover,) = by_agency[log.case_ref].handovers.values()
    assert handover.state is HandoverState.PROPOSED
    assert handover.timeline[-1].superseded is SupersededReason.NOT_A_PARTY
    assert country_side("cn-gx-dxga") == "CN"


def test_case_json_is_plain_json_without_person_names_and_equal_for_every_viewpoint() -> None:
    log = scenario_log()
    shuffled = list(log.events)
    random.Random(9).shuffle(shuffled)
    texts = [
        json.dumps(case_to_json(derive(events)[log.case_ref]), sort_keys=True, ensure_ascii=False)
        for events in (log.events, shuffled)
    ]
    assert texts[0] == texts[1]
    assert "Person 0" not in texts[0]
    view = json.loads(texts[0])
    assert view["verification"]["status"] == "confirmed"
    first = view["handovers"][0]
    assert (first["state"], first["persons"], first["open_offer_id"]) == ("completed", 2, None)
    assert first["offer"]["slot"] == at("2026-12-05 09:00", VN)
    superseded = [e["superseded"] for e in view["timeline"] if e["superseded"]]
    assert superseded == ["offer_already_accepted", "handover_cancelled"]


def test_find_handover_looks_in_every_case() -> None:
    log = scenario_log()
    other = CaseLog(case_ref="QN-2026-0100", first_index=500)
    wanted = other.propose(VN_POLICE, CN_PSB, at("2026-12-09 09:00", VN))
    cases = derive(log.events + other.events)
    found = find_handover(cases, wanted.message_id)
    assert found is not None and found.case_ref == "QN-2026-0100"
    assert find_handover(cases, "m-unknown-000") is None
