"""Notice fields for each handover step, built from the derived state, and early refusals."""

from __future__ import annotations

import pytest

from crypto.encoding import b64e
from liaison.domain.case_events import MalformedValue, Slot, SupersededReason
from liaison.domain.cases import derive_cases
from liaison.domain.handover import (
    Handover,
    HandoverActionRefused,
    HandoverState,
    accept_fields,
    cancel_fields,
    counter_fields,
    countersign_fields,
    record_fields,
    reschedule_fields,
)
from liaison.domain.notices import parse_notice
from liaison.i18n import translate
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    MARKER_450,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    CaseLog,
    at,
    countersignature,
    record_hash,
    verify_countersignature,
)


def current(log: CaseLog) -> Handover:
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    (handover,) = cases[log.case_ref].handovers.values()
    return handover


RECORD = {
    "completed_at": at("2026-12-05 09:40", VN),
    "place": dict(MARKER_450),
    "persons": [{"name": "Person 0", "sex": "female"}],
    "belongings": [],
    "documents": [],
    "condition": {"text": "good", "lang": "en"},
    "signatories": [
        {"side": "cn", "name": "Wang Wei", "agency": CN_PSB.agency},
        {"side": "vn", "name": "Nguyen Van An", "agency": VN_POLICE.agency},
    ],
}


def test_scenario_driven_by_the_builders_completes_and_every_notice_validates() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    fields = counter_fields(
        current(log), side="VN", slot=Slot.from_notice(at("2026-12-03 09:30", VN))
    )
    log.notice(VN_POLICE, "handover_response", fields, to=CN_PSB)
    assert current(log).state is HandoverState.COUNTERED
    log.notice(CN_PSB, "handover_response", accept_fields(current(log), side="CN"), to=VN_POLICE)
    assert current(log).state is HandoverState.CONFIRMED
    fields = reschedule_fields(
        current(log),
        side="VN",
        new_slot=Slot.from_notice(at("2026-12-05 09:00", VN)),
        reason_code="weather",
    )
    log.notice(VN_BORDER_GUARD, "reschedule_cancellation", fields, to=CN_PSB)
    assert current(log).state is HandoverState.RESCHEDULED
    log.notice(CN_PSB, "handover_response", accept_fields(current(log), side="CN"), to=VN_POLICE)
    fields = record_fields(current(log), side="CN", record=RECORD)
    record = log.notice(CN_PSB, "handover_record", fields, to=VN_POLICE)
    assert current(log).state is HandoverState.RECORDED
    fields = countersign_fields(
        current(log),
        side="VN",
        received_at=Slot.from_notice(at("2026-12-05 10:00", VN)),
        record_hash=b64e(record_hash(record)),
        countersignature=countersignature(VN_POLICE, record),
    )
    log.notice(VN_POLICE, "receipt_ack", fields, to=CN_PSB)

    handover = current(log)
    assert handover.state is HandoverState.COMPLETED
    assert all(entry.effective for entry in handover.timeline)
    for event in log.events[:-1]:
        assert parse_notice(event.notice).type == event.type


def test_counter_needs_a_slot_or_a_place() -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    with pytest.raises(MalformedValue):
        counter_fields(current(log), side="VN")
    assert counter_fields(current(log), side="VN", place=MARKER_450)["place"] == MARKER_450


@pytest.mark.parametrize(
    ("build", "side", "reason"),
    [
        (lambda h: accept_fields(h, side="CN"), "CN", SupersededReason.OWN_OFFER),
        (lambda h: accept_fields(h, side="UN"), "UN", SupersededReason.NOT_A_PARTY),
        (
            lambda h: reschedule_fields(h, side="VN", new_slot=h.slot, reason_code="weather"),
            "VN",
            SupersededReason.OFFER_AWAITS_ANSWER,
        ),
        (
            lambda h: record_fields(h, side="CN", record=RECORD),
            "CN",
            SupersededReason.NOT_CONFIRMED,
        ),
    ],
)
def test_step_that_replay_would_supersede_is_refused_before_sending(
    build: object, side: str, reason: SupersededReason
) -> None:
    log = CaseLog()
    log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    with pytest.raises(HandoverActionRefused) as raised:
        build(current(log))  # type: ignore[operator]
    assert raised.value.reason is reason
    assert raised.value.code == "handover_action_refused"
    assert isinstance(raised.value, ValueError)
    assert translate(raised.value.message, "en") == translate(reason.message, "en")


def test_nothing_can_be_built_for_a_cancelled_handover() -> None:
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    log.cancel(CN_PSB, VN_POLICE, proposal)
    with pytest.raises(HandoverActionRefused) as raised:
        cancel_fields(current(log), side="VN", reason_code="other")
    assert raised.value.reason is SupersededReason.HANDOVER_CANCELLED
