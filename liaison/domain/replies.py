"""Which received notices still await an agency's reply, by the workflow of the notices.

A notice awaits a reply when the workflow asks its recipient for one and the recipient's agency
has not given it yet:

- a handover's open offer (a proposal, a counter-proposal, a reschedule) awaits the side the
  handover waits for (`Handover.awaiting_side`), and a handover record awaits the other side's
  countersignature; a superseded or cancelled one awaits nothing any more. The handover's
  derived state decides, so a cancelled proposal or an offer already countered drops out;
- a verification request awaits a verification result (an acknowledgement of receipt alone
  does not answer it: the result is what the requester needs);
- a rescue or assistance request awaits any notice naming it;
- any other notice that sets a reply-by deadline awaits any notice naming it.

"Naming it" is the reply's `in_reply_to` being the notice's message id, or its recipient's
reference (`their_ref`) being the notice's own reference (`our_ref`). Only notices from other
agencies whose recipient unit is this agency count: a colleague's notice within the agency, or
a copy sent for information to another agency, asks nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from liaison.domain.case_events import LoggedNotice, SideOf, country_side
from liaison.domain.cases import Case
from liaison.domain.handover import HandoverState
from liaison.domain.notices import NOTICE_TYPES

ANY_NOTICE = frozenset(NOTICE_TYPES)
# Notice types a handover's state decides (an offer, a record, what answers them).
HANDOVER_TYPES = frozenset(
    {"handover_proposal", "handover_response", "reschedule_cancellation", "handover_record"}
)
# What answers a request, by the request's type (the workflow of DOMAIN.md).
ANSWERED_BY: dict[str, frozenset[str]] = {
    "verification_request": frozenset({"verification_result"}),
    "rescue_request": ANY_NOTICE,
}


def answering_types(notice: LoggedNotice) -> frozenset[str]:
    """The notice types that answer `notice` outside a handover; empty when it asks none."""
    if notice.type in ANSWERED_BY:
        return ANSWERED_BY[notice.type]
    if "reply_by" in notice.header:
        return ANY_NOTICE
    return frozenset()


def answers(reply: LoggedNotice, notice: LoggedNotice) -> bool:
    """Whether `reply` answers `notice`: an answering type that names it, sent after it."""
    if reply.log_index <= notice.log_index or reply.type not in answering_types(notice):
        return False
    if reply.in_reply_to == notice.message_id:
        return True
    our_ref = notice.header.get("our_ref")
    return isinstance(our_ref, str) and bool(our_ref) and reply.header.get("their_ref") == our_ref


def _handover_waits_on(cases: Iterable[Case], side: str) -> set[str]:
    """The offers and records whose handover waits for `side`'s answer."""
    waiting: set[str] = set()
    for case in cases:
        for handover in case.handovers.values():
            if handover.awaiting_side != side:
                continue
            if handover.open_offer_id is not None:
                waiting.add(handover.open_offer_id)
            elif handover.state is HandoverState.RECORDED and handover.record_id:
                waiting.add(handover.record_id)
    return waiting


def _addressed_to(notice: LoggedNotice, agency: str) -> bool:
    """The notice's recipient unit is `agency` (a copy to another agency asks it nothing)."""
    unit = notice.header.get("recipient_unit")
    return not isinstance(unit, str) or not unit or unit == agency


def awaiting_reply(
    notices: Iterable[LoggedNotice],
    cases: Iterable[Case],
    *,
    agency: str,
    side_of: SideOf = country_side,
) -> frozenset[str]:
    """The message ids of the notices from other agencies that await `agency`'s reply.

    `notices` are every notice the agency's device holds, sent and received (its replies are
    among them); `cases` are the cases derived from them (for the handovers' states).
    """
    ordered = sorted(notices, key=lambda notice: notice.log_index)
    own = [notice for notice in ordered if notice.sender_agency == agency]
    handover_waits = _handover_waits_on(cases, side_of(agency))
    waiting: set[str] = set()
    for notice in ordered:
        if notice.sender_agency == agency or not _addressed_to(notice, agency):
            continue
        if notice.type in HANDOVER_TYPES:
            if notice.message_id in handover_waits:
                waiting.add(notice.message_id)
            continue
        if answering_types(notice) and not any(answers(reply, notice) for reply in own):
            waiting.add(notice.message_id)
    return frozenset(waiting)
