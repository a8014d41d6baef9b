"""Awaiting my reply: the notices of other agencies the workflow asks this agency to answer."""

from __future__ import annotations

from liaison.domain.case_events import LoggedNotice
from liaison.domain.cases import Case, derive_cases
from liaison.domain.replies import awaiting_reply
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    VN_POLICE_2,
    CaseLog,
    at,
    verify_countersignature,
)

REPLY_BY = at("2026-12-02 17:00", VN)


def _awaiting(log: CaseLog, agency: str) -> set[str]:
    cases: dict[str, Case] = derive_cases(
        log.events, verify_countersignature=verify_countersignature
    )
    return set(awaiting_reply(log.events, cases.values(), agency=agency))


def _ids(*notices: LoggedNotice) -> set[str]:
    return {notice.message_id for notice in notices}


def test_a_verification_request_awaits_its_result_not_an_acknowledgement() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    assert _awaiting(log, CN_PSB.agency) == _ids(request)
    assert _awaiting(log, VN_POLICE.agency) == set()  # the requester awaits nothing of itself
    log.notice(
        CN_PSB,
        "receipt_ack",
        {"in_reply_to": request.message_id, "received": "message"},
        to=VN_POLICE,
    )
    assert _awaiting(log, CN_PSB.agency) == _ids(request)
    log.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    assert _awaiting(log, CN_PSB.agency) == set()


def test_a_result_naming_the_request_by_reference_answers_it() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.notice(
        CN_PSB,
        "verification_result",
        {"outcome": "confirmed", "verifying_unit": CN_PSB.agency},
        to=VN_POLICE,
        header={"their_ref": request.header["our_ref"]},
    )
    assert _awaiting(log, CN_PSB.agency) == set()


def test_a_reply_by_deadline_asks_for_any_reply_and_a_colleague_asks_nothing() -> None:
    log = CaseLog()
    status = log.referral_status(VN_POLICE, CN_PSB, 30)
    asked = log.notice(
        VN_POLICE,
        "referral_status",
        dict(status.fields),
        to=CN_PSB,
        header={"reply_by": REPLY_BY},
    )
    colleague = log.notice(VN_POLICE_2, "rescue_request", {"urgency": "high"}, to=VN_POLICE)
    assert _awaiting(log, CN_PSB.agency) == _ids(asked)  # the one without reply_by asks nothing
    assert colleague.message_id not in _awaiting(log, VN_POLICE.agency)
    copy = log.notice(CN_PSB, "rescue_request", {"urgency": "high"}, to=VN_BORDER_GUARD)
    assert copy.message_id not in _awaiting(log, VN_POLICE.agency)  # addressed to another unit
    assert copy.message_id in _awaiting(log, VN_BORDER_GUARD.agency)
    log.notice(
        CN_PSB,
        "receipt_ack",
        {"in_reply_to": asked.message_id, "received": "message"},
        to=VN_POLICE,
    )
    assert _awaiting(log, CN_PSB.agency) == set()


def test_a_handover_awaits_the_side_it_waits_for_and_follows_its_state() -> None:
    log = CaseLog()
    proposal = log.propose(VN_POLICE, CN_PSB, at("2026-12-03 23:30", VN))
    assert _awaiting(log, CN_PSB.agency) == _ids(proposal)
    assert _awaiting(log, VN_POLICE.agency) == set()
    counter = log.counter(CN_PSB, VN_POLICE, proposal, slot=at("2026-12-04 10:00", CN))
    # The proposal is answered; the counter-proposal now awaits Vietnam.
    assert _awaiting(log, CN_PSB.agency) == set()
    assert _awaiting(log, VN_POLICE.agency) == _ids(counter)
    log.accept(VN_POLICE, CN_PSB, counter)
    assert _awaiting(log, VN_POLICE.agency) == set() == _awaiting(log, CN_PSB.agency)
    record = log.record(VN_POLICE, CN_PSB, proposal)
    assert _awaiting(log, CN_PSB.agency) == _ids(record)  # awaits the countersignature
    log.countersign(CN_PSB, VN_POLICE, record)
    assert _awaiting(log, CN_PSB.agency) == set()


def test_a_cancelled_proposal_awaits_nothing() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    assert _awaiting(log, VN_POLICE.agency) == _ids(proposal)
    log.cancel(CN_PSB, VN_POLICE, proposal)
    assert _awaiting(log, VN_POLICE.agency) == set()
