"""Cases derived from notices replayed in log order: verification status, handovers, timeline."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from liaison.domain.case_events import (
    Action,
    ConflictingLogOrder,
    LoggedNotice,
    MalformedValue,
    SideOf,
    SupersededReason,
    TimelineEntry,
    country_side,
)
from liaison.domain.handover import CountersignatureCheck, Handover, HandoverReplay


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

    @property
    def sides(self) -> frozenset[str]:
        return frozenset(entry.side for entry in self.timeline)


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
