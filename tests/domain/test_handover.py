"""The handover state machine replayed from notices: the issue 5 scenario and every refusal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from liaison.domain.case_events import Action, SupersededReason
from liaison.domain.cases import Case, VerificationStatus, derive_cases
from liaison.domain.handover import (
    SEQUENCE_ACTIONS,
    TRANSITIONS,
    Handover,
    HandoverState,
)
from liaison.i18n import translate
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    CN_PSB_2,
    MARKER_450,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    VN_POLICE_2,
    CaseLog,
    Officer,
    at,
    verify_countersignature,
)

S = HandoverState
IOM = Officer("IOM-VN", "iom-observer", "dev-iom-01")


def derive(log: CaseLog) -> Case:
    return derive_cases(log.events, verify_countersignature=verify_countersignature)[log.case_ref]


def only_handover(log: CaseLog) -> Handover:
    (handover,) = derive(log).handovers.values()
    return handover


def test_issue_scenario_reaches_completed_with_every_step_in_the_timeline() -> None:
    log = CaseLog()
    request = log.request_verification(VN_POLICE, CN_PSB)
    log.verification_result(CN_PSB, VN_POLICE, request, "confirmed")
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    counter = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 09:30", VN))
    log.accept(CN_PSB, VN_POLICE, counter)
    reschedule = log.reschedule(VN_BORDER_GUARD, CN_PSB, proposal, at("2026-12-05 09:00", VN))
    log.accept(CN_PSB_2, VN_BORDER_GUARD, reschedule)
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record)

    case = derive(log)
    handover = case.handovers[proposal.message_id]
    assert case.verification.status is VerificationStatus.CONFIRMED
    assert handover.state is S.COMPLETED
    assert handover.slot.utc == datetime(2026, 12, 5, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert handover.last_agreed is not None
    assert handover.last_agreed.message_id == reschedule.message_id
    assert handover.place == {"kind": "gate", "gate": "mong-cai--dongxing"}
    assert handover.record_id == record.message_id
    assert [(e.action, e.state_after, e.sender_officer) for e in handover.timeline] == [
        (Action.PROPOSE, "proposed", CN_PSB.officer),
        (Action.COUNTER, "countered", VN_POLICE.officer),
        (Action.ACCEPT, "confirmed", CN_PSB.officer),
        (Action.RESCHEDULE, "rescheduled", VN_BORDER_GUARD.officer),
        (Action.ACCEPT, "confirmed", CN_PSB_2.officer),
        (Action.RECORD, "recorded", CN_PSB.officer),
        (Action.COUNTERSIGN, "completed", VN_POLICE.officer),
    ]
    assert all(entry.effective for entry in case.timeline)
    assert [e.action for e in case.timeline][:2] == [
        Action.REQUEST_VERIFICATION,
        Action.REPORT_VERIFICATION,
    ]


def test_state_and_sequence_after_each_step_of_the_scenario() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    seen = [(only_handover(log).state, only_handover(log).sequence)]
    counter = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 09:30", VN))
    seen.append((only_handover(log).state, only_handover(log).sequence))
    log.accept(CN_PSB, VN_POLICE, counter)
    seen.append((only_handover(log).state, only_handover(log).sequence))
    reschedule = log.reschedule(VN_POLICE, CN_PSB, proposal, at("2026-12-05 09:00", VN))
    seen.append((only_handover(log).state, only_handover(log).sequence))
    log.accept(CN_PSB, VN_POLICE, reschedule)
    seen.append((only_handover(log).state, only_handover(log).sequence))
    assert seen == [
        (S.PROPOSED, 0),
        (S.COUNTERED, 1),
        (S.CONFIRMED, 2),
        (S.RESCHEDULED, 3),
        (S.CONFIRMED, 4),
    ]


def test_counter_may_change_only_the_place_and_keeps_the_slot() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.counter(VN_POLICE, CN_PSB, proposal, place=MARKER_450)
    handover = only_handover(log)
    assert handover.state is S.COUNTERED
    assert handover.place == MARKER_450
    assert handover.slot.utc == datetime(2026, 12, 3, 2, 0, tzinfo=ZoneInfo("UTC"))


def test_counter_of_a_counter_is_answered_by_the_first_side() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    first = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 14:00", VN))
    second = log.counter(CN_PSB, VN_POLICE, first, slot=at("2026-12-04 10:00", CN))
    log.accept(VN_BORDER_GUARD, CN_PSB, second)
    handover = only_handover(log)
    assert handover.state is S.CONFIRMED
    assert handover.last_agreed is not None
    assert handover.last_agreed.message_id == second.message_id


def test_rescheduled_handover_can_be_countered_by_the_other_side() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    reschedule = log.reschedule(CN_PSB, VN_POLICE, proposal, at("2026-12-06 10:00", CN))
    log.counter(VN_POLICE, CN_PSB, reschedule, slot=at("2026-12-07 09:00", VN))
    handover = only_handover(log)
    assert handover.state is S.COUNTERED
    assert handover.awaiting_side == "CN"


def test_side_may_revise_its_own_open_offer_by_rescheduling_it() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    revision = log.reschedule(CN_PSB_2, VN_POLICE, proposal, at("2026-12-03 15:00", CN))
    stale = log.accept(VN_POLICE, CN_PSB, proposal)
    handover = only_handover(log)
    assert handover.state is S.PROPOSED
    assert handover.offer.message_id == revision.message_id
    assert handover.timeline[-1].message_id == stale.message_id
    assert handover.timeline[-1].superseded is SupersededReason.OFFER_REPLACED


def test_reschedule_by_the_side_that_must_answer_is_superseded() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.reschedule(VN_POLICE, CN_PSB, proposal, at("2026-12-04 09:00", VN))
    handover = only_handover(log)
    assert handover.state is S.PROPOSED
    assert handover.timeline[-1].superseded is SupersededReason.OFFER_AWAITS_ANSWER


def test_same_side_cannot_accept_its_own_proposal() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(CN_PSB_2, VN_POLICE, proposal)
    handover = only_handover(log)
    assert handover.state is S.PROPOSED
    assert handover.timeline[-1].superseded is SupersededReason.OWN_OFFER
    assert handover.sequence == 0


def test_accept_of_a_replaced_offer_is_superseded() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    counter = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 14:00", VN))
    log.counter(CN_PSB, VN_POLICE, counter, slot=at("2026-12-04 10:00", CN))
    log.accept(CN_PSB_2, VN_POLICE, counter)
    handover = only_handover(log)
    assert handover.state is S.COUNTERED
    assert handover.timeline[-1].superseded is SupersededReason.OFFER_REPLACED


def test_accept_of_a_superseded_counter_says_so() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    own_counter = log.counter(CN_PSB_2, VN_POLICE, proposal, slot=at("2026-12-04 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, own_counter)
    handover = only_handover(log)
    assert handover.timeline[1].superseded is SupersededReason.OWN_OFFER
    assert handover.timeline[2].superseded is SupersededReason.REPLIES_TO_SUPERSEDED
    assert handover.state is S.PROPOSED


def test_sender_outside_both_sides_cannot_act() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(IOM, VN_POLICE, proposal)
    log.cancel(IOM, VN_POLICE, proposal)
    handover = only_handover(log)
    assert handover.state is S.PROPOSED
    assert [e.superseded for e in handover.timeline[1:]] == [SupersededReason.NOT_A_PARTY] * 2


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
def test_cancel_is_possible_from_every_state_before_the_record(steps: int) -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    offer = proposal
    if steps >= 1:
        offer = log.counter(VN_POLICE, CN_PSB, proposal, slot=at("2026-12-03 14:00", VN))
    if steps >= 2:
        log.accept(CN_PSB, VN_POLICE, offer)
    if steps >= 3:
        log.reschedule(CN_PSB, VN_POLICE, proposal, at("2026-12-06 10:00", CN))
    before = only_handover(log)
    log.cancel(VN_POLICE, CN_PSB, proposal, reason_code="security")
    handover = only_handover(log)
    assert handover.state is S.CANCELLED
    assert handover.cancel_reason == "security"
    assert handover.sequence == before.sequence + 1
    assert handover.timeline[-1].reason_code == "security"


def test_nothing_changes_a_cancelled_handover() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.cancel(CN_PSB, VN_POLICE, proposal)
    log.accept(VN_POLICE, CN_PSB, proposal)
    log.reschedule(VN_POLICE, CN_PSB, proposal, at("2026-12-04 09:00", VN))
    log.record(VN_POLICE, CN_PSB, proposal)
    handover = only_handover(log)
    assert handover.state is S.CANCELLED
    assert {e.superseded for e in handover.timeline[2:]} == {SupersededReason.HANDOVER_CANCELLED}


def test_record_before_confirmation_is_superseded_and_cannot_be_countersigned() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record)
    handover = only_handover(log)
    assert handover.state is S.PROPOSED
    assert handover.timeline[1].superseded is SupersededReason.NOT_CONFIRMED
    assert handover.timeline[2].superseded is SupersededReason.REPLIES_TO_SUPERSEDED


def confirmed_log() -> tuple[CaseLog, object]:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    return log, proposal


def test_record_alone_does_not_complete_the_handover() -> None:
    log, proposal = confirmed_log()
    log.record(CN_PSB, VN_POLICE, proposal)
    handover = only_handover(log)
    assert handover.state is S.RECORDED
    assert handover.awaiting_side == "VN"
    assert not handover.active


def test_countersignature_by_the_recording_side_is_refused() -> None:
    log, proposal = confirmed_log()
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(CN_PSB_2, VN_POLICE, record)
    handover = only_handover(log)
    assert handover.state is S.RECORDED
    assert handover.timeline[-1].superseded is SupersededReason.OWN_RECORD


def test_countersignature_made_by_another_device_does_not_verify() -> None:
    log, proposal = confirmed_log()
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record, signer=VN_POLICE_2)
    handover = only_handover(log)
    assert handover.state is S.RECORDED
    assert handover.timeline[-1].superseded is SupersededReason.COUNTERSIGNATURE_INVALID


def test_countersignature_over_another_record_hash_does_not_verify() -> None:
    log, proposal = confirmed_log()
    record = log.record(CN_PSB, VN_POLICE, proposal)
    ack = log.countersign(VN_POLICE, CN_PSB, record)
    tampered = dict(ack.fields)
    tampered["record_hash"] = tampered["record_hash"][:-4] + "AAA="
    log.events[-1] = type(ack)(**{**_as_dict(ack), "notice": {**ack.notice, "fields": tampered}})
    assert only_handover(log).state is S.RECORDED


def _as_dict(event: object) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__slots__}  # type: ignore[attr-defined]


def test_corrected_record_replaces_the_first_and_only_it_completes() -> None:
    log, proposal = confirmed_log()
    first = log.record(CN_PSB, VN_POLICE, proposal, condition="good")
    second = log.record(CN_PSB_2, VN_POLICE, proposal, condition="good, one minor injury")
    log.countersign(VN_POLICE, CN_PSB, first)
    assert only_handover(log).timeline[-1].superseded is SupersededReason.RECORD_REPLACED
    log.countersign(VN_POLICE, CN_PSB, second)
    handover = only_handover(log)
    assert handover.state is S.COMPLETED
    assert handover.record_id == second.message_id


def test_record_from_the_other_side_while_one_awaits_countersignature_is_superseded() -> None:
    log, proposal = confirmed_log()
    log.record(CN_PSB, VN_POLICE, proposal)
    log.record(VN_POLICE, CN_PSB, proposal)
    log.cancel(VN_POLICE, CN_PSB, proposal)
    handover = only_handover(log)
    assert handover.state is S.RECORDED
    assert [e.superseded for e in handover.timeline[-2:]] == [
        SupersededReason.ALREADY_RECORDED,
        SupersededReason.ALREADY_RECORDED,
    ]


def test_completed_handover_refuses_everything_after() -> None:
    log, proposal = confirmed_log()
    record = log.record(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_POLICE, CN_PSB, record)
    log.cancel(CN_PSB, VN_POLICE, proposal)
    log.countersign(VN_BORDER_GUARD, CN_PSB, record)
    handover = only_handover(log)
    assert handover.state is S.COMPLETED
    assert {e.superseded for e in handover.timeline[-2:]} == {SupersededReason.HANDOVER_COMPLETED}


# Concurrency: two officers act on the same state; the first in log order wins.


def test_two_concurrent_acceptances_first_in_log_wins() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    first = log.accept(VN_POLICE, CN_PSB, proposal)
    second = log.accept(VN_BORDER_GUARD, CN_PSB, proposal)
    handover = only_handover(log)
    assert handover.state is S.CONFIRMED
    assert handover.sequence == 1
    by_id = {e.message_id: e for e in handover.timeline}
    assert by_id[first.message_id].effective
    assert by_id[second.message_id].superseded is SupersededReason.OFFER_ALREADY_ACCEPTED


def test_acceptance_crossing_a_cancellation_loses_when_logged_second() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.cancel(CN_PSB_2, VN_POLICE, proposal)
    log.accept(VN_POLICE, CN_PSB, proposal)
    handover = only_handover(log)
    assert handover.state is S.CANCELLED
    assert handover.timeline[-1].superseded is SupersededReason.HANDOVER_CANCELLED


def test_cancellation_crossing_an_acceptance_still_cancels_when_logged_second() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    log.cancel(CN_PSB_2, VN_POLICE, proposal)
    handover = only_handover(log)
    assert handover.state is S.CANCELLED
    assert all(e.effective for e in handover.timeline)


def test_acceptance_crossing_a_counter_from_the_same_side() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.accept(VN_POLICE, CN_PSB, proposal)
    log.counter(VN_BORDER_GUARD, CN_PSB, proposal, slot=at("2026-12-03 15:00", VN))
    handover = only_handover(log)
    assert handover.state is S.CONFIRMED
    assert handover.timeline[-1].superseded is SupersededReason.OFFER_ALREADY_ACCEPTED
    assert handover.slot.local(CN).hour == 10


def test_two_crossing_reschedules_keep_the_first() -> None:
    log, proposal = confirmed_log()
    first = log.reschedule(CN_PSB, VN_POLICE, proposal, at("2026-12-06 10:00", CN))
    log.reschedule(VN_POLICE, CN_PSB, proposal, at("2026-12-07 09:00", VN))
    handover = only_handover(log)
    assert handover.state is S.RESCHEDULED
    assert handover.offer.message_id == first.message_id
    assert handover.timeline[-1].superseded is SupersededReason.OFFER_AWAITS_ANSWER


@pytest.mark.parametrize("language", ["vi", "zh", "en"])
def test_every_superseded_reason_has_a_message_with_its_code(language: str) -> None:
    for reason in SupersededReason:
        assert translate(reason.message, language).strip()
        assert reason.value == reason.value.lower()


def test_transition_table_covers_every_state_and_only_terminal_states_are_dead_ends() -> None:
    sources = {state for state, _action in TRANSITIONS if state is not None}
    targets = set(TRANSITIONS.values())
    assert targets == set(HandoverState)
    assert set(HandoverState) - sources == {S.CANCELLED, S.COMPLETED}
    assert SEQUENCE_ACTIONS <= {action for _state, action in TRANSITIONS}
