"""The handover state machine: named states, its transition table, and replay of one handover."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from liaison.domain.case_events import (
    Action,
    CaseError,
    LoggedNotice,
    MalformedValue,
    SideOf,
    Slot,
    SupersededReason,
    TimelineEntry,
)
from liaison.domain.messages import N_, Message

# A handover record signed by one side and the countersigning notice of the other side. The
# client checks, with the sender's certified device key, that the countersignature covers the
# hash of exactly this record; the domain only asks. It must return a bool and not raise: a
# malformed countersignature is simply one that does not verify.
CountersignatureCheck = Callable[[LoggedNotice, LoggedNotice], bool]


class HandoverState(enum.Enum):
    """What both sides know about a handover; the value is the stable code."""

    PROPOSED = "proposed"  # one side offered a slot and place; the other has not answered
    COUNTERED = "countered"  # an answer offered another slot or place; awaits the other side
    CONFIRMED = "confirmed"  # both sides agreed on the current slot and place
    RESCHEDULED = "rescheduled"  # an agreed slot was withdrawn for a new one awaiting acceptance
    RECORDED = "recorded"  # one side signed the handover record; awaits the countersignature
    CANCELLED = "cancelled"  # terminal: either side called it off
    COMPLETED = "completed"  # terminal: record signed by one side and countersigned by the other

    @property
    def terminal(self) -> bool:
        return self in (HandoverState.CANCELLED, HandoverState.COMPLETED)

    @property
    def message(self) -> Message:
        """The state's name for the officer (`liaison.i18n.translate` puts it in a language)."""
        return Message(_STATE_LABELS[self])

    @property
    def open_offer(self) -> bool:
        """Whether a slot is on the table waiting for the other side's answer."""
        return self in _OFFER_STATES


_STATE_LABELS = {
    HandoverState.PROPOSED: N_("proposed, awaiting an answer"),
    HandoverState.COUNTERED: N_("counter-proposed, awaiting an answer"),
    HandoverState.CONFIRMED: N_("confirmed"),
    HandoverState.RESCHEDULED: N_("rescheduled, awaiting acceptance"),
    HandoverState.RECORDED: N_("record signed, awaiting countersignature"),
    HandoverState.CANCELLED: N_("cancelled"),
    HandoverState.COMPLETED: N_("completed"),
}

_OFFER_STATES = frozenset(
    {HandoverState.PROPOSED, HandoverState.COUNTERED, HandoverState.RESCHEDULED}
)

S = HandoverState
A = Action

# The one transition table: replay consults it, and docs/state-machines/make_diagram.py draws
# it. `None` is the state before the first proposal. Who may take a transition (which side,
# which notice it must answer) is checked in `HandoverReplay`, and a notice that fails a check
# or finds no row here is kept in the timeline as superseded.
TRANSITIONS: Mapping[tuple[HandoverState | None, Action], HandoverState] = {
    (None, A.PROPOSE): S.PROPOSED,
    (S.PROPOSED, A.ACCEPT): S.CONFIRMED,
    (S.PROPOSED, A.COUNTER): S.COUNTERED,
    (S.PROPOSED, A.RESCHEDULE): S.PROPOSED,  # the proposing side revises its own offer
    (S.PROPOSED, A.CANCEL): S.CANCELLED,
    (S.COUNTERED, A.ACCEPT): S.CONFIRMED,
    (S.COUNTERED, A.COUNTER): S.COUNTERED,
    (S.COUNTERED, A.RESCHEDULE): S.COUNTERED,  # the countering side revises its own offer
    (S.COUNTERED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.RESCHEDULE): S.RESCHEDULED,
    (S.CONFIRMED, A.RECORD): S.RECORDED,
    (S.CONFIRMED, A.CANCEL): S.CANCELLED,
    (S.RESCHEDULED, A.ACCEPT): S.CONFIRMED,
    (S.RESCHEDULED, A.COUNTER): S.COUNTERED,
    (S.RESCHEDULED, A.RESCHEDULE): S.RESCHEDULED,  # the rescheduling side revises its new slot
    (S.RESCHEDULED, A.CANCEL): S.CANCELLED,
    (S.RECORDED, A.RECORD): S.RECORDED,  # the recording side corrects its record
    (S.RECORDED, A.COUNTERSIGN): S.COMPLETED,
}

# Transitions that change what a calendar shows (slot, place or status): each raises the
# iCalendar SEQUENCE so calendar programs replace the event instead of adding a second one.
SEQUENCE_ACTIONS = frozenset({A.COUNTER, A.ACCEPT, A.RESCHEDULE, A.CANCEL})

# How long a handover occupies its escorts and the crossing, for double-booking checks and the
# calendar event's end; notices give a start time only.
DEFAULT_HANDOVER_DURATION = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Offer:
    """A slot and place put forward by one side: the proposal, a counter, or a reschedule."""

    message_id: str
    side: str
    slot: Slot
    place: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Escort:
    """An officer named to escort or receive the persons; `officer_id` when the notice gave it."""

    name: str
    officer_id: str | None
    side: str


@dataclass(slots=True)
class Handover:
    """One handover of a case, identified by the message id of its first proposal."""

    handover_id: str
    case_ref: str
    state: HandoverState
    parties: frozenset[str]
    proposer_side: str
    offer: Offer  # the slot on the table, or the one agreed when nothing is open
    last_agreed: Offer | None  # latest accepted offer; withdrawn while RESCHEDULED
    persons: tuple[Mapping[str, Any], ...]
    escorts: tuple[Escort, ...]
    sequence: int = 0
    record_id: str | None = None
    record_side: str | None = None
    countersignature_id: str | None = None
    cancel_reason: str | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def slot(self) -> Slot:
        return self.offer.slot

    @property
    def place(self) -> Mapping[str, Any]:
        return self.offer.place

    @property
    def open_offer_id(self) -> str | None:
        """The offer an accept or counter must name in `in_reply_to`, while one is open."""
        return self.offer.message_id if self.state.open_offer else None

    @property
    def awaiting_side(self) -> str | None:
        """The side whose answer the handover waits for, if any."""
        if self.state.open_offer:
            others = self.parties - {self.offer.side}
            return min(others) if others else None
        if self.state is HandoverState.RECORDED:
            others = self.parties - {self.record_side or ""}
            return min(others) if others else None
        return None

    @property
    def active(self) -> bool:
        """Still to take place: neither cancelled, completed, nor recorded as done."""
        return not self.state.terminal and self.state is not HandoverState.RECORDED


def _escorts(raw: object, side: str) -> tuple[Escort, ...]:
    if not isinstance(raw, list):
        return ()
    escorts = []
    for item in raw:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            officer_id = item.get("officer_id")
            escorts.append(
                Escort(item["name"], officer_id if isinstance(officer_id, str) else None, side)
            )
    return tuple(escorts)


class HandoverReplay:
    """Applies a case's handover notices, in log order, to one handover.

    Sans-I/O: it takes logged notices and returns timeline entries. Every check that can turn a
    notice away is a pure function of the handover's state and the notice, so every party that
    replays the same log derives the same handover. The constructor raises `MalformedValue` for
    a proposal whose slot or place does not parse (validated notices never do).
    """

    def __init__(
        self,
        proposal: LoggedNotice,
        *,
        side_of: SideOf,
        verify_countersignature: CountersignatureCheck,
    ) -> None:
        self._side_of = side_of
        self._verify = verify_countersignature
        self._records: dict[str, LoggedNotice] = {}
        self.superseded_ids: set[str] = set()
        self.accepted_offer_ids: set[str] = set()
        self.offer_ids: set[str] = set()
        self.replaced_record_ids: set[str] = set()
        side = side_of(proposal.sender_agency)
        recipient = proposal.header.get("recipient_unit")
        parties = {side}
        if isinstance(recipient, str) and recipient:
            parties.add(side_of(recipient))
        fields = proposal.fields
        offer = Offer(
            proposal.message_id,
            side,
            Slot.from_notice(fields.get("slot")),
            parse_place(fields.get("place")),
        )
        persons = fields.get("persons")
        self.handover = Handover(
            handover_id=proposal.message_id,
            case_ref=proposal.case_ref or "",
            state=TRANSITIONS[(None, Action.PROPOSE)],
            parties=frozenset(parties),
            proposer_side=side,
            offer=offer,
            last_agreed=None,
            persons=tuple(p for p in persons if isinstance(p, Mapping))
            if isinstance(persons, list)
            else (),
            escorts=_escorts(fields.get("escorts"), side),
        )
        self.offer_ids.add(proposal.message_id)
        self._keep(proposal, Action.PROPOSE, side, slot=offer.slot, place=offer.place)

    # The public entry points, one per notice type that can touch a handover.

    def respond(self, event: LoggedNotice) -> TimelineEntry:
        """A handover_response: accept or counter the offer named by `in_reply_to`."""
        fields = event.fields
        action = Action.COUNTER if fields.get("decision") == "counter" else Action.ACCEPT
        side = self._side_of(event.sender_agency)
        refusal = (
            _standing_refusal(self.handover, side)
            or self._offer_reference_refusal(event.in_reply_to)
            or refusal_for(self.handover, action, side)
        )
        if refusal is None and fields.get("decision") not in ("accept", "counter"):
            refusal = SupersededReason.MALFORMED
        if refusal is not None:
            return self._keep(event, action, side, superseded=refusal)
        handover = self.handover
        if action is Action.ACCEPT:
            self.accepted_offer_ids.add(handover.offer.message_id)
            handover.last_agreed = handover.offer
            handover.escorts += _escorts(fields.get("reception_team"), side)
            return self._advance(event, action, side)
        if "slot" not in fields and "place" not in fields:
            return self._keep(event, action, side, superseded=SupersededReason.MALFORMED)
        try:
            slot = Slot.from_notice(fields["slot"]) if "slot" in fields else handover.slot
            place = parse_place(fields["place"]) if "place" in fields else handover.place
        except MalformedValue:
            return self._keep(event, action, side, superseded=SupersededReason.MALFORMED)
        handover.escorts += _escorts(fields.get("reception_team"), side)
        return self._new_offer(event, action, side, slot, place)

    def reschedule_or_cancel(self, event: LoggedNotice) -> TimelineEntry:
        """A reschedule_cancellation naming this handover in `in_reply_to`."""
        fields = event.fields
        side = self._side_of(event.sender_agency)
        action = Action.CANCEL if fields.get("action") == "cancel" else Action.RESCHEDULE
        reason_code = fields.get("reason_code")
        reason = reason_code if isinstance(reason_code, str) else None
        refusal = refusal_for(self.handover, action, side)
        if refusal is None and fields.get("action") not in ("reschedule", "cancel"):
            refusal = SupersededReason.MALFORMED
        if refusal is not None:
            return self._keep(event, action, side, superseded=refusal, reason_code=reason)
        handover = self.handover
        if action is Action.CANCEL:
            handover.cancel_reason = reason
            return self._advance(event, action, side, reason_code=reason)
        try:
            slot = Slot.from_notice(fields.get("new_slot"))
        except MalformedValue:
            return self._keep(
                event, action, side, superseded=SupersededReason.MALFORMED, reason_code=reason
            )
        return self._new_offer(event, action, side, slot, handover.place, reason_code=reason)

    def record(self, event: LoggedNotice) -> TimelineEntry:
        """A handover_record naming this handover: one side's signed account of the handover."""
        side = self._side_of(event.sender_agency)
        handover = self.handover
        refusal = refusal_for(handover, Action.RECORD, side)
        if refusal is not None:
            return self._keep(event, Action.RECORD, side, superseded=refusal)
        if handover.record_id is not None:
            self.replaced_record_ids.add(handover.record_id)
        handover.record_id = event.message_id
        handover.record_side = side
        self._records[event.message_id] = event
        return self._advance(event, Action.RECORD, side)

    def countersign(self, event: LoggedNotice) -> TimelineEntry:
        """A receipt_ack over one of this handover's records: the other side's countersignature."""
        side = self._side_of(event.sender_agency)
        handover = self.handover
        record_id = event.in_reply_to or ""
        refusal = _standing_refusal(handover, side)
        if refusal is None and record_id != handover.record_id:
            refusal = (
                SupersededReason.RECORD_REPLACED
                if record_id in self.replaced_record_ids
                else SupersededReason.REPLIES_TO_SUPERSEDED
            )
        refusal = refusal or refusal_for(handover, Action.COUNTERSIGN, side)
        if refusal is None and not self._verify(self._records[record_id], event):
            refusal = SupersededReason.COUNTERSIGNATURE_INVALID
        if refusal is not None:
            return self._keep(event, Action.COUNTERSIGN, side, superseded=refusal)
        handover.countersignature_id = event.message_id
        return self._advance(event, Action.COUNTERSIGN, side)

    def _offer_reference_refusal(self, in_reply_to: str | None) -> SupersededReason | None:
        """Why an answer naming `in_reply_to` does not answer the offer now open, if it doesn't."""
        if in_reply_to in self.superseded_ids:
            return SupersededReason.REPLIES_TO_SUPERSEDED
        if in_reply_to == self.handover.offer.message_id:
            return None
        if in_reply_to in self.accepted_offer_ids:
            return SupersededReason.OFFER_ALREADY_ACCEPTED
        if in_reply_to in self.offer_ids:
            return SupersededReason.OFFER_REPLACED
        return SupersededReason.UNKNOWN_REFERENCE

    # State changes.

    def _new_offer(
        self,
        event: LoggedNotice,
        action: Action,
        side: str,
        slot: Slot,
        place: Mapping[str, Any],
        **kwargs: Any,
    ) -> TimelineEntry:
        self.offer_ids.add(event.message_id)
        self.handover.offer = Offer(event.message_id, side, slot, place)
        return self._advance(event, action, side, slot=slot, place=place, **kwargs)

    def _advance(
        self, event: LoggedNotice, action: Action, side: str, **kwargs: Any
    ) -> TimelineEntry:
        handover = self.handover
        handover.state = TRANSITIONS[(handover.state, action)]
        if action in SEQUENCE_ACTIONS:
            handover.sequence += 1
        return self._keep(event, action, side, **kwargs)

    def _keep(self, event: LoggedNotice, action: Action, side: str, **kwargs: Any) -> TimelineEntry:
        if kwargs.get("superseded") is not None:
            self.superseded_ids.add(event.message_id)
        entry = TimelineEntry.of(
            event,
            action,
            side,
            handover_id=self.handover.handover_id,
            state_after=self.handover.state.value,
            **kwargs,
        )
        self.handover.timeline.append(entry)
        return entry


def _standing_refusal(handover: Handover, side: str) -> SupersededReason | None:
    if handover.state is HandoverState.CANCELLED:
        return SupersededReason.HANDOVER_CANCELLED
    if handover.state is HandoverState.COMPLETED:
        return SupersededReason.HANDOVER_COMPLETED
    if side not in handover.parties:
        return SupersededReason.NOT_A_PARTY
    return None


def refusal_for(handover: Handover, action: Action, side: str) -> SupersededReason | None:
    """Why `side` may not take `action` on `handover` now, or None if it may.

    These are the checks replay applies to a notice that names the right offer or record
    (`open_offer_id`, the handover id, `record_id`), so a client can tell the officer before
    sending a notice that would only be kept as superseded.
    """
    state = handover.state
    refusal = _standing_refusal(handover, side)
    if refusal is not None:
        return refusal
    if action in (Action.ACCEPT, Action.COUNTER) and state.open_offer:
        if side == handover.offer.side:
            return SupersededReason.OWN_OFFER
    if (state, action) not in TRANSITIONS:
        if state is HandoverState.RECORDED:
            return SupersededReason.ALREADY_RECORDED
        if action in (Action.RECORD, Action.COUNTERSIGN):
            return SupersededReason.NOT_CONFIRMED
        # An answer that finds nothing open: the offer it answers was accepted just before.
        return SupersededReason.OFFER_ALREADY_ACCEPTED
    if action is Action.RESCHEDULE and state.open_offer and side != handover.offer.side:
        return SupersededReason.OFFER_AWAITS_ANSWER
    if action is Action.RECORD and state is HandoverState.RECORDED and side != handover.record_side:
        return SupersededReason.ALREADY_RECORDED
    if action is Action.COUNTERSIGN and side == handover.record_side:
        return SupersededReason.OWN_RECORD
    return None


def parse_place(value: object) -> Mapping[str, Any]:
    """A notice PLACE (gate, marker or point), or `MalformedValue`."""
    if not isinstance(value, Mapping) or value.get("kind") not in ("gate", "marker", "point"):
        raise MalformedValue("a PLACE must be a gate, a marker or a point")
    return dict(value)


# The fields of the notice that takes each step, for a client about to send it. Each builder
# names the right offer or record and refuses, before anything is sent, a step that replay
# would only keep as superseded.


class HandoverActionRefused(CaseError, ValueError):
    """The step is not possible in the handover's current state; `reason` says why."""

    code = "handover_action_refused"

    def __init__(self, reason: SupersededReason) -> None:
        self.reason = reason
        super().__init__(reason.value)

    @property
    def message(self) -> Message:
        return self.reason.message


def _ensure(handover: Handover, action: Action, side: str) -> None:
    reason = refusal_for(handover, action, side)
    if reason is not None:
        raise HandoverActionRefused(reason)


def _team(members: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(member) for member in members]


def accept_fields(
    handover: Handover, *, side: str, reception_team: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """A handover_response accepting the open offer."""
    _ensure(handover, Action.ACCEPT, side)
    fields: dict[str, Any] = {"in_reply_to": handover.offer.message_id, "decision": "accept"}
    if team := _team(reception_team):
        fields["reception_team"] = team
    return fields


def counter_fields(
    handover: Handover,
    *,
    side: str,
    slot: Slot | None = None,
    place: Mapping[str, Any] | None = None,
    reception_team: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A handover_response countering the open offer with another slot, place, or both."""
    if slot is None and place is None:
        raise MalformedValue("a counter-proposal needs a slot or a place")
    _ensure(handover, Action.COUNTER, side)
    fields: dict[str, Any] = {"in_reply_to": handover.offer.message_id, "decision": "counter"}
    if slot is not None:
        fields["slot"] = slot.to_notice()
    if place is not None:
        fields["place"] = dict(parse_place(place))
    if team := _team(reception_team):
        fields["reception_team"] = team
    return fields


def reschedule_fields(
    handover: Handover,
    *,
    side: str,
    new_slot: Slot,
    reason_code: str,
    reason: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A reschedule_cancellation moving the agreed slot (or this side's own open offer)."""
    _ensure(handover, Action.RESCHEDULE, side)
    fields: dict[str, Any] = {
        "in_reply_to": handover.handover_id,
        "action": "reschedule",
        "reason_code": reason_code,
        "new_slot": new_slot.to_notice(),
    }
    if reason is not None:
        fields["reason"] = dict(reason)
    return fields


def cancel_fields(
    handover: Handover, *, side: str, reason_code: str, reason: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A reschedule_cancellation calling the handover off."""
    _ensure(handover, Action.CANCEL, side)
    fields: dict[str, Any] = {
        "in_reply_to": handover.handover_id,
        "action": "cancel",
        "reason_code": reason_code,
    }
    if reason is not None:
        fields["reason"] = dict(reason)
    return fields


def record_fields(handover: Handover, *, side: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A handover_record: the officer's record fields (from a file) bound to this handover."""
    _ensure(handover, Action.RECORD, side)
    return {**record, "in_reply_to": handover.handover_id}


def countersign_fields(
    handover: Handover,
    *,
    side: str,
    received_at: Slot,
    record_hash: str,
    countersignature: str,
) -> dict[str, Any]:
    """A receipt_ack countersigning the current record; the client computes the two values
    (base64) with its device key, as docs/state-machines/handover.md describes."""
    _ensure(handover, Action.COUNTERSIGN, side)
    return {
        "in_reply_to": handover.record_id,
        "received": "message",
        "received_at": received_at.to_notice(),
        "record_hash": record_hash,
        "countersignature": countersignature,
    }
