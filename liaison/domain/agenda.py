"""An officer's agenda at a given moment: upcoming handovers, replies due, support windows."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liaison.domain.case_events import (
    BORDER_ZONES,
    LoggedNotice,
    MalformedValue,
    SideOf,
    Slot,
    country_side,
)
from liaison.domain.cases import Case
from liaison.domain.handover import HandoverState

DAY = 86_400
# Shelter and essential-needs support lasts up to 120 days, extendable (Decree 162/2025).
SUPPORT_DAYS_LIMIT = 120
SUPPORT_NEARING_DAYS = 100


def local_times(
    slot: Slot, zones: Iterable[str] = BORDER_ZONES
) -> tuple[tuple[str, datetime], ...]:
    """The wall-clock time of `slot` in each zone, so both sides read it in their own time."""
    return tuple((zone, slot.local(zone)) for zone in zones)


@dataclass(frozen=True, slots=True)
class UpcomingHandover:
    case_ref: str
    handover_id: str
    state: HandoverState
    slot: Slot
    place: Mapping[str, Any]
    local_times: tuple[tuple[str, datetime], ...]
    persons: int
    awaiting_side: str | None  # whose answer the handover still needs, if anyone's
    sequence: int


@dataclass(frozen=True, slots=True)
class DueReply:
    """A notice that set a reply-by and has no reply from the counterpart yet."""

    case_ref: str
    message_id: str
    notice_type: str
    sender_side: str
    awaited_from: str | None  # the recipient unit's side, when the header names it
    reply_by: Slot
    local_times: tuple[tuple[str, datetime], ...]
    overdue: bool


@dataclass(frozen=True, slots=True)
class SupportWindow:
    """A person's shelter support as the latest referral status reports it, projected to now.

    `person` is the name of record from the referral notice ("" when it names nobody).
    """

    case_ref: str
    person: str
    message_id: str
    reported_days_used: int
    reported_at: int
    days_used: int
    days_limit: int

    @property
    def days_left(self) -> int:
        return self.days_limit - self.days_used


@dataclass(frozen=True, slots=True)
class Agenda:
    now: int
    days: int
    handovers: tuple[UpcomingHandover, ...]
    replies: tuple[DueReply, ...]
    support_windows: tuple[SupportWindow, ...]


def build_agenda(
    cases: Mapping[str, Case] | Iterable[Case],
    *,
    now: int,
    days: int = 7,
    zones: Iterable[str] = BORDER_ZONES,
    support_nearing_days: int = SUPPORT_NEARING_DAYS,
    side_of: SideOf = country_side,
) -> Agenda:
    """The agenda at `now` (unix seconds) looking `days` ahead.

    - handovers still to take place (not cancelled, recorded or completed) whose current slot
      falls between now and now + days, earliest first;
    - replies due by now + days and not yet given by the counterpart, overdue ones first;
    - shelter support windows (referral status `in_shelter`, per person) whose projected days
      used reach `support_nearing_days`; `days_limit` in the notice, when present, is an
      extension of the 120 days.
    """
    case_list = list(cases.values() if isinstance(cases, Mapping) else cases)
    zones = tuple(zones)
    horizon = now + days * DAY
    return Agenda(
        now=now,
        days=days,
        handovers=tuple(_upcoming(case_list, now, horizon, zones)),
        replies=tuple(_due_replies(case_list, now, horizon, zones, side_of)),
        support_windows=tuple(_support_windows(case_list, now, support_nearing_days)),
    )


def _upcoming(
    cases: list[Case], now: int, horizon: int, zones: tuple[str, ...]
) -> list[UpcomingHandover]:
    items = [
        UpcomingHandover(
            case_ref=case.case_ref,
            handover_id=handover.handover_id,
            state=handover.state,
            slot=handover.slot,
            place=handover.place,
            local_times=local_times(handover.slot, zones),
            persons=len(handover.persons),
            awaiting_side=handover.awaiting_side,
            sequence=handover.sequence,
        )
        for case in cases
        for handover in case.handovers.values()
        if handover.active and now <= handover.slot.timestamp <= horizon
    ]
    return sorted(items, key=lambda item: (item.slot.utc, item.handover_id))


def _is_reply(candidate: LoggedNotice, request: LoggedNotice, side_of: SideOf) -> bool:
    if side_of(candidate.sender_agency) == side_of(request.sender_agency):
        return False
    if candidate.in_reply_to == request.message_id:
        return True
    our_ref = request.header.get("our_ref")
    return bool(our_ref) and candidate.header.get("their_ref") == our_ref


def _due_replies(
    cases: list[Case], now: int, horizon: int, zones: tuple[str, ...], side_of: SideOf
) -> list[DueReply]:
    items = []
    for case in cases:
        notices = case.notices  # log order: a reply always comes after its request
        for position, request in enumerate(notices):
            if "reply_by" not in request.header:
                continue
            try:
                reply_by = Slot.from_notice(request.header["reply_by"])
            except MalformedValue:
                continue
            if reply_by.timestamp > horizon:
                continue
            if any(_is_reply(later, request, side_of) for later in notices[position + 1 :]):
                continue
            recipient = request.header.get("recipient_unit")
            items.append(
                DueReply(
                    case_ref=case.case_ref,
                    message_id=request.message_id,
                    notice_type=request.type,
                    sender_side=side_of(request.sender_agency),
                    awaited_from=side_of(recipient) if isinstance(recipient, str) else None,
                    reply_by=reply_by,
                    local_times=local_times(reply_by, zones),
                    overdue=reply_by.timestamp < now,
                )
            )
    return sorted(items, key=lambda item: (not item.overdue, item.reply_by.utc, item.message_id))


def _int_field(fields: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    value = fields.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _person_names(fields: Mapping[str, Any]) -> list[str]:
    persons = fields.get("persons")
    if not isinstance(persons, list):
        return []
    return [
        unicodedata.normalize("NFC", person["name"])
        for person in persons
        if isinstance(person, Mapping) and isinstance(person.get("name"), str)
    ]


def _support_windows(cases: list[Case], now: int, nearing: int) -> list[SupportWindow]:
    items = []
    for case in cases:
        # The latest referral status naming a person speaks for that person's support.
        latest: dict[str, LoggedNotice] = {}
        for notice in case.notices:
            if notice.type == "referral_status":
                for person in _person_names(notice.fields) or [""]:
                    latest[person] = notice
        for person, notice in latest.items():
            reported = _int_field(notice.fields, "days_used")
            if notice.fields.get("status") != "in_shelter" or reported is None:
                continue
            limit = _int_field(notice.fields, "days_limit", SUPPORT_DAYS_LIMIT)
            # Shelter support runs on after the report: add the whole days since it was sent.
            days_used = reported + max(0, (now - notice.sent_at) // DAY)
            if days_used >= nearing:
                items.append(
                    SupportWindow(
                        case_ref=case.case_ref,
                        person=person,
                        message_id=notice.message_id,
                        reported_days_used=reported,
                        reported_at=notice.sent_at,
                        days_used=days_used,
                        days_limit=limit or SUPPORT_DAYS_LIMIT,
                    )
                )
    return sorted(items, key=lambda item: (item.days_left, item.case_ref, item.person))


def _times_json(times: tuple[tuple[str, datetime], ...]) -> dict[str, str]:
    return {zone: moment.isoformat() for zone, moment in times}


def agenda_to_json(agenda: Agenda) -> dict[str, Any]:
    """The agenda as plain JSON values, local times as ISO 8601 with their offset."""
    return {
        "now": agenda.now,
        "days": agenda.days,
        "handovers": [
            {
                "case_ref": item.case_ref,
                "handover_id": item.handover_id,
                "state": item.state.value,
                "slot": item.slot.to_notice(),
                "local_times": _times_json(item.local_times),
                "place": dict(item.place),
                "persons": item.persons,
                "awaiting_side": item.awaiting_side,
                "sequence": item.sequence,
            }
            for item in agenda.handovers
        ],
        "replies": [
            {
                "case_ref": item.case_ref,
                "message_id": item.message_id,
                "type": item.notice_type,
                "sender_side": item.sender_side,
                "awaited_from": item.awaited_from,
                "reply_by": item.reply_by.to_notice(),
                "local_times": _times_json(item.local_times),
                "overdue": item.overdue,
            }
            for item in agenda.replies
        ],
        "support_windows": [
            {
                "case_ref": item.case_ref,
                "person": item.person,
                "message_id": item.message_id,
                "reported_days_used": item.reported_days_used,
                "reported_at": item.reported_at,
                "days_used": item.days_used,
                "days_limit": item.days_limit,
                "days_left": item.days_left,
            }
            for item in agenda.support_windows
        ],
    }
