"""Invariants of handover replay over arbitrary notice sequences from any officer."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.case_events import Action, LoggedNotice, country_side
from liaison.domain.cases import derive_cases
from liaison.domain.handover import (
    SEQUENCE_ACTIONS,
    TRANSITIONS,
    Handover,
    HandoverState,
    refusal_for,
)
from tests.domain.case_builders import (
    CN,
    CN_PSB,
    CN_PSB_2,
    VN,
    VN_BORDER_GUARD,
    VN_POLICE,
    CaseLog,
    Officer,
    at,
    verify_countersignature,
)

HANDOVER_STEPS = {action for _state, action in TRANSITIONS} - {Action.PROPOSE}

OFFICERS = (VN_POLICE, VN_BORDER_GUARD, CN_PSB, CN_PSB_2, Officer("IOM-VN", "iom", "dev-iom"))
KINDS = ("accept", "counter", "reschedule", "cancel", "record", "countersign", "propose")
# Weighted towards the steps of a real negotiation; cancel and propose are rarer.
KINDS = KINDS[:3] * 2 + KINDS

steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, len(OFFICERS) - 1),
        st.integers(0, 9),  # 0..6: the notice an officer would name; 7..9: an older one
        st.integers(0, 72),
    ),
    max_size=14,
)


def _latest(log: CaseLog, types: tuple[str, ...]) -> LoggedNotice | None:
    return next((e for e in reversed(log.events) if e.type in types), None)


def _target(log: CaseLog, kind: str, stale: int) -> LoggedNotice:
    """What the acting officer names: the latest offer to answer, the handover to move or
    close, the latest record to countersign; or, to model a stale view, an older notice."""
    if stale >= 7:
        return log.events[(stale * 7) % len(log.events)]
    if kind in ("accept", "counter"):
        latest = _latest(log, ("handover_proposal", "handover_response", "reschedule_cancellation"))
        if latest is not None and latest.type == "handover_response":
            latest = log.events[0] if latest.fields.get("decision") == "accept" else latest
    elif kind == "countersign":
        latest = _latest(log, ("handover_record",))
    else:
        latest = _latest(log, ("handover_proposal",))
    return latest or log.events[0]


def build(plan: list[tuple[str, int, int, int]], start: int = 0) -> CaseLog:
    """The plan's notices after a proposal that `start` takes 0, 1 or 2 steps further."""
    log = CaseLog()
    proposal = log.propose(CN_PSB, VN_POLICE, at("2026-12-03 10:00", CN))
    if start >= 1:
        log.accept(VN_POLICE, CN_PSB, proposal)
    if start >= 2:
        log.record(CN_PSB, VN_POLICE, proposal)
    for kind, who, stale, hours in plan:
        officer = OFFICERS[who]
        to = CN_PSB if officer.agency.startswith("VN") else VN_POLICE
        earlier = _target(log, kind, stale)
        slot = at(f"2026-12-{4 + hours // 24:02d} {hours % 24:02d}:00", VN)
        if kind == "accept":
            log.accept(officer, to, earlier)
        elif kind == "counter":
            log.counter(officer, to, earlier, slot=slot)
        elif kind == "reschedule":
            log.reschedule(officer, to, earlier, slot)
        elif kind == "cancel":
            log.cancel(officer, to, earlier)
        elif kind == "record":
            log.record(officer, to, earlier)
        elif kind == "countersign":
            log.countersign(officer, to, earlier)
        else:
            log.propose(officer, to, slot)
    return log


@settings(max_examples=200, deadline=None)
@given(steps, st.integers(0, 2))
def test_state_sequence_and_timeline_always_agree(
    plan: list[tuple[str, int, int, int]], start: int
) -> None:
    log = build(plan, start)
    case = derive_cases(log.events, verify_countersignature=verify_countersignature)[log.case_ref]
    assert len(case.timeline) == len(log.events)
    for handover in case.handovers.values():
        effective = [e for e in handover.timeline if e.effective]
        # The state is the fold of the effective actions through the transition table.
        state = None
        for entry in effective:
            state = TRANSITIONS[(state, entry.action)]
            assert entry.state_after == state.value
        assert state is handover.state
        assert handover.sequence == sum(e.action in SEQUENCE_ACTIONS for e in effective)
        # Nothing is applied after a terminal state, and only the two parties ever act.
        terminal_at = next(
            (i for i, e in enumerate(effective) if e.state_after in ("cancelled", "completed")),
            None,
        )
        if terminal_at is not None:
            assert terminal_at == len(effective) - 1
        assert {e.side for e in effective} <= handover.parties
        if handover.state is HandoverState.COMPLETED:
            record, countersign = effective[-2], effective[-1]
            assert record.message_id == handover.record_id
            assert record.side != countersign.side
        if handover.last_agreed is not None:
            assert handover.last_agreed.side in handover.parties


@settings(max_examples=40, deadline=None)
@given(steps, st.integers(0, 2**32 - 1))
def test_delivery_order_never_changes_the_derived_case(
    plan: list[tuple[str, int, int, int]], seed: int
) -> None:
    log = build(plan)
    shuffled = list(log.events)
    random.Random(seed).shuffle(shuffled)
    derive = derive_cases
    assert derive(shuffled, verify_countersignature=verify_countersignature) == derive(
        log.events, verify_countersignature=verify_countersignature
    )


def _step(log: CaseLog, handover: Handover, action: Action, officer: Officer) -> None:
    """Append the notice for `action`, naming the right offer or record, as a client would."""
    to = CN_PSB if officer.agency.startswith("VN") else VN_POLICE
    proposal = log.events[0]
    later = at("2026-12-20 09:00", VN)
    if action is Action.ACCEPT:
        log.notice(
            officer,
            "handover_response",
            {"in_reply_to": handover.offer.message_id, "decision": "accept"},
            to=to,
        )
    elif action is Action.COUNTER:
        fields = {"in_reply_to": handover.offer.message_id, "decision": "counter", "slot": later}
        log.notice(officer, "handover_response", fields, to=to)
    elif action is Action.RESCHEDULE:
        log.reschedule(officer, to, proposal, later)
    elif action is Action.CANCEL:
        log.cancel(officer, to, proposal)
    elif action is Action.RECORD:
        log.record(officer, to, proposal)
    else:
        record = next(e for e in log.events if e.message_id == handover.record_id)
        log.countersign(officer, to, record)


@settings(max_examples=60, deadline=None)
@given(
    steps,
    st.integers(0, 2),
    st.sampled_from(sorted(HANDOVER_STEPS, key=lambda a: a.value)),
    st.integers(0, len(OFFICERS) - 1),
)
def test_early_refusal_predicts_what_replay_does(
    plan: list[tuple[str, int, int, int]], start: int, action: Action, who: int
) -> None:
    log = build(plan, start)
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    handover = cases[log.case_ref].handovers[log.events[0].message_id]
    officer = OFFICERS[who]
    if action is Action.COUNTERSIGN and handover.record_id is None:
        return  # there is no record to name
    predicted = refusal_for(handover, action, country_side(officer.agency))
    _step(log, handover, action, officer)
    cases = derive_cases(log.events, verify_countersignature=verify_countersignature)
    entry = cases[log.case_ref].timeline[-1]
    assert entry.superseded is predicted
