"""Cases derived from notices replayed in log order: verification status, handovers, timeline."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liaison.domain.case_events import (
    Action,
    ConflictingLogOrder,
    LoggedNotice,
    MalformedValue,
    SideOf,
    Slot,
    SupersededReason,
    TimelineEntry,
    country_side,
)
from liaison.domain.handover import CountersignatureCheck, Handover, HandoverReplay, Offer


class VerificationStatus(enum.Enum):
    """What is known of the identity and nationality verification; the value is the code."""

    NONE = "none"  # nobody asked and nobody answered
    REQUESTED = "requested"  # asked; no result since the latest request
    PENDING = "pending"  # the asked side answered that verification is under way
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"


_OUTCOMES = {
    "pending": VerificationStatus.PENDING,
    "confirmed": VerificationStatus.CONFIRMED,
    "not_confirmed": VerificationStatus.NOT_CONFIRMED,
}


@dataclass(slots=True)
class Verification:
    """The latest effective verification request and result of a case."""

    status: VerificationStatus = VerificationStatus.NONE
    request_id: str | None = None
    requested_by: str | None = None
    result_id: str | None = None
    answered_by: str | None = None


@dataclass(slots=True)
class Case:
    """Everything a case's notices say, as every party holding them derives it."""

    case_ref: str
    verification: Verification = field(default_factory=Verification)
    handovers: dict[str, Handover] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    notices: list[LoggedNotice] = field(default_factory=list)


def log_order(events: Iterable[LoggedNotice]) -> list[LoggedNotice]:
    """Events sorted by log index, each message once (a re-delivered copy is dropped).

    Raises `ConflictingLogOrder` when two different messages claim one log index: the shared
    order that makes every party agree no longer exists, so nothing is derived.
    """
    by_index: dict[int, LoggedNotice] = {}
    for event in events:
        known = by_index.setdefault(event.log_index, event)
        if known.message_id != event.message_id:
            raise ConflictingLogOrder(f"log index {event.log_index} holds two messages")
    seen: set[str] = set()
    ordered = []
    for index in sorted(by_index):
        event = by_index[index]
        # The crypto layer refuses replayed message ids; should one slip through, the first
        # position in the log is the one everybody keeps.
        if event.message_id not in seen:
            seen.add(event.message_id)
            ordered.append(event)
    return ordered


class _CaseReplay:
    """Routes one case's notices to its verification and to the handover each one names."""

    def __init__(
        self, case_ref: str, side_of: SideOf, verify_countersignature: CountersignatureCheck
    ) -> None:
        self.case = Case(case_ref)
        self._side_of = side_of
        self._verify = verify_countersignature
        self._replays: dict[str, HandoverReplay] = {}
        self._offers: dict[str, str] = {}  # offer message id -> handover id
        self._records: dict[str, str] = {}  # record message id -> handover id
        self._requests: dict[str, str] = {}  # verification request id -> requesting side

    def apply(self, event: LoggedNotice) -> None:
        self.case.notices.append(event)
        self.case.timeline.append(self._entry(event))

    def _entry(self, event: LoggedNotice) -> TimelineEntry:
        kind = event.type
        if kind == "handover_proposal":
            return self._propose(event)
        if kind == "handover_response":
            replay = self._replay_for(self._offers, event.in_reply_to)
            if replay is None:
                return self._unknown(event, Action.ACCEPT)
            if event.fields.get("decision") == "counter":
                self._offers[event.message_id] = replay.handover.handover_id
            return replay.respond(event)
        if kind == "reschedule_cancellation":
            replay = self._replay_for(self._offers, event.in_reply_to)
            action = Action.CANCEL if event.fields.get("action") == "cancel" else Action.RESCHEDULE
            if replay is None:
                return self._unknown(event, action)
            self._offers[event.message_id] = replay.handover.handover_id
            return replay.reschedule_or_cancel(event)
        if kind == "handover_record":
            replay = self._replay_for(self._offers, event.in_reply_to)
            if replay is None:
                return self._unknown(event, Action.RECORD)
            self._records[event.message_id] = replay.handover.handover_id
            return replay.record(event)
        if kind == "receipt_ack":
            replay = self._replay_for(self._records, event.in_reply_to)
            if replay is not None:
                return replay.countersign(event)
        if kind == "verification_request":
            return self._request_verification(event)
        if kind == "verification_result":
            return self._report_verification(event)
        return TimelineEntry.of(event, Action.NOTICE, self._side_of(event.sender_agency))

    def _replay_for(self, index: dict[str, str], message_id: str | None) -> HandoverReplay | None:
        handover_id = index.get(message_id or "")
        return self._replays.get(handover_id) if handover_id else None

    def _unknown(self, event: LoggedNotice, action: Action) -> TimelineEntry:
        side = self._side_of(event.sender_agency)
        return TimelineEntry.of(event, action, side, superseded=SupersededReason.UNKNOWN_REFERENCE)

    def _propose(self, event: LoggedNotice) -> TimelineEntry:
        try:
            replay = HandoverReplay(
                event, side_of=self._side_of, verify_countersignature=self._verify
            )
        except MalformedValue:
            side = self._side_of(event.sender_agency)
            return TimelineEntry.of(
                event, Action.PROPOSE, side, superseded=SupersededReason.MALFORMED
            )
        handover = replay.handover
        self._replays[handover.handover_id] = replay
        self._offers[handover.handover_id] = handover.handover_id
        self.case.handovers[handover.handover_id] = handover
        return handover.timeline[-1]

    def _request_verification(self, event: LoggedNotice) -> TimelineEntry:
        side = self._side_of(event.sender_agency)
        verification = self.case.verification
        self._requests[event.message_id] = side
        verification.status = VerificationStatus.REQUESTED
        verification.request_id = event.message_id
        verification.requested_by = side
        return TimelineEntry.of(
            event, Action.REQUEST_VERIFICATION, side, state_after=verification.status.value
        )

    def _report_verification(self, event: LoggedNotice) -> TimelineEntry:
        side = self._side_of(event.sender_agency)
        verification = self.case.verification
        request_id = event.in_reply_to
        refusal: SupersededReason | None = None
        outcome = _OUTCOMES.get(str(event.fields.get("outcome")))
        if request_id is not None and request_id not in self._requests:
            refusal = SupersededReason.UNKNOWN_REFERENCE
        elif self._requests.get(request_id or verification.request_id or "") == side:
            refusal = SupersededReason.OWN_REQUEST
        elif outcome is None:
            refusal = SupersededReason.MALFORMED
        if refusal is not None or outcome is None:
            return TimelineEntry.of(event, Action.REPORT_VERIFICATION, side, superseded=refusal)
        verification.status = outcome
        verification.result_id = event.message_id
        verification.answered_by = side
        return TimelineEntry.of(event, Action.REPORT_VERIFICATION, side, state_after=outcome.value)


def derive_cases(
    events: Iterable[LoggedNotice],
    *,
    verify_countersignature: CountersignatureCheck,
    side_of: SideOf = country_side,
) -> dict[str, Case]:
    """Every case the events mention, by case reference, in order of first appearance.

    `events` may arrive in any order and with re-delivered copies; they are replayed in log
    order, so every party holding the same notices derives equal cases. Notices without a case
    reference (statistics) are not part of any case. `verify_countersignature(record, ack)`
    checks the countersignature cryptographically; a handover completes only when it says yes.
    """
    replays: dict[str, _CaseReplay] = {}
    for event in log_order(events):
        case_ref = event.case_ref
        if case_ref is None:
            continue
        replay = replays.get(case_ref)
        if replay is None:
            replay = replays[case_ref] = _CaseReplay(case_ref, side_of, verify_countersignature)
        replay.apply(event)
    return {case_ref: replay.case for case_ref, replay in replays.items()}


def all_handovers(cases: Iterable[Case]) -> list[Handover]:
    """Every handover of `cases`, in case order then proposal order."""
    return [handover for case in cases for handover in case.handovers.values()]


def find_handover(cases: Mapping[str, Case], handover_id: str) -> Handover | None:
    """The handover whose first proposal has message id `handover_id`, in any case."""
    for case in cases.values():
        handover = case.handovers.get(handover_id)
        if handover is not None:
            return handover
    return None


# JSON views for `--json` listings. Persons are given as a count: names stay in the notices.


def _slot_json(slot: Slot | None) -> dict[str, str] | None:
    return slot.to_notice() if slot is not None else None


def _offer_json(offer: Offer | None) -> dict[str, Any] | None:
    if offer is None:
        return None
    return {
        "message_id": offer.message_id,
        "side": offer.side,
        "slot": offer.slot.to_notice(),
        "place": dict(offer.place),
    }


def timeline_entry_to_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "log_index": entry.log_index,
        "message_id": entry.message_id,
        "sent_at": entry.sent_at,
        "type": entry.notice_type,
        "action": entry.action.value,
        "sender_agency": entry.sender_agency,
        "sender_officer": entry.sender_officer,
        "side": entry.side,
        "handover_id": entry.handover_id,
        "slot": _slot_json(entry.slot),
        "place": dict(entry.place) if entry.place is not None else None,
        "reason_code": entry.reason_code,
        "superseded": entry.superseded.value if entry.superseded else None,
        "state_after": entry.state_after,
    }


def handover_to_json(handover: Handover) -> dict[str, Any]:
    return {
        "handover_id": handover.handover_id,
        "case_ref": handover.case_ref,
        "state": handover.state.value,
        "parties": sorted(handover.parties),
        "proposer_side": handover.proposer_side,
        "offer": _offer_json(handover.offer),
        "open_offer_id": handover.open_offer_id,
        "awaiting_side": handover.awaiting_side,
        "last_agreed": _offer_json(handover.last_agreed),
        "persons": len(handover.persons),
        "escorts": [
            {"name": e.name, "officer_id": e.officer_id, "side": e.side} for e in handover.escorts
        ],
        "sequence": handover.sequence,
        "record_id": handover.record_id,
        "countersignature_id": handover.countersignature_id,
        "cancel_reason": handover.cancel_reason,
        "timeline": [timeline_entry_to_json(entry) for entry in handover.timeline],
    }


def case_to_json(case: Case) -> dict[str, Any]:
    """A case as plain JSON values; equal cases give equal JSON."""
    verification = case.verification
    return {
        "case_ref": case.case_ref,
        "verification": {
            "status": verification.status.value,
            "request_id": verification.request_id,
            "requested_by": verification.requested_by,
            "result_id": verification.result_id,
            "answered_by": verification.answered_by,
        },
        "handovers": [handover_to_json(h) for h in case.handovers.values()],
        "timeline": [timeline_entry_to_json(entry) for entry in case.timeline],
    }
