"""The notice of one handover step (propose, accept, counter, reschedule, cancel, complete,
countersign), built and checked from typed input before anything is sealed.

The command line (`liaison handover`) and the desk both build their steps here: each reads
its own input (arguments, files, a form) into a `StepRequest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from liaison.client import cases as case_ops
from liaison.client.errors import ClientError
from liaison.domain.case_events import CHINA_ZONE, VIETNAM_ZONE, Slot, country_side
from liaison.domain.handover import (
    accept_fields,
    cancel_fields,
    counter_fields,
    countersign_fields,
    record_fields,
    reschedule_fields,
)
from liaison.domain.notices import FORMAT_VERSION, parse_notice
from liaison.domain.warnings import warnings_for_handover, warnings_for_proposal
from liaison.i18n import _

if TYPE_CHECKING:
    from crypto.keys import DeviceKeys
    from liaison.client.cases import CaseBook
    from liaison.domain.case_events import LoggedNotice
    from liaison.domain.handover import Handover
    from liaison.domain.notices import Notice
    from liaison.domain.warnings import SchedulingWarning


@dataclass(frozen=True)
class StepRequest:
    """What the officer asks for one step. Times are wall-clock "YYYY-MM-DD HH:MM" on `tz`
    (the device's own country's clock when None); places `gate:PAIR[:vn|cn]`, `marker:NUMBER`
    or `point:NAME[@LAT,LON]`; teams `Name[/service number]`. `language` (vi, zh, en) is the
    language the officer writes free text in (reasons, vehicle, a point's name)."""

    step: str
    language: str
    handover: str | None = None  # every step but propose
    case: str | None = None  # propose
    to: str | None = None  # propose: the recipient agency
    at: str | None = None
    tz: str | None = None
    place: str | None = None
    # propose: the persons, or how many of those the case's verification request names
    persons: int | Sequence[Mapping[str, Any]] = 1
    escort: Sequence[str] = ()
    vehicle: str | None = None
    reception: Sequence[str] = ()
    reason_code: str | None = None
    reason: str | None = None
    record: Mapping[str, Any] | None = None  # complete: the record's fields
    handling: str = "H1"
    copy: Sequence[str] = field(default_factory=tuple)


@dataclass
class PreparedStep:
    """A checked notice for one step, who gets it, and the warnings to show before sending."""

    notice: Notice
    addresses: list[str]
    warnings: list[SchedulingWarning]
    handover_id: str | None  # None for a proposal: its own message id becomes the handover id


# --- Reading the officer's input --------------------------------------------------------------
def _error(message: str, code: str = "bad_input") -> ClientError:
    return ClientError(message, code=code)


def default_zone(agency: str) -> str:
    return CHINA_ZONE if country_side(agency) == "CN" else VIETNAM_ZONE


def parse_slot(at: str, tz: str) -> Slot:
    """A slot from wall-clock `at` ("2026-12-03 09:00") on the clock of `tz`."""
    try:
        moment = datetime.strptime(at.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise _error(
            _("Not a date and time: {value}; write YYYY-MM-DD HH:MM.").format(value=at)
        ) from None
    return Slot(moment.replace(tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC")), tz)


_POINT = re.compile(r"^(?P<name>.+?)(?:@(?P<lat>-?[0-9.]+),(?P<lon>-?[0-9.]+))?$")


def parse_place(text: str, language: str) -> dict[str, Any]:
    """`gate:mong-cai--dongxing[:vn|cn]`, `marker:450` or `point:NAME[@LAT,LON]` (the point's
    name written in `language`)."""
    kind, _sep, rest = text.strip().partition(":")
    rest = rest.strip()
    place: dict[str, Any]
    if kind == "gate" and rest:
        gate, _sep, side = rest.partition(":")
        place = {"kind": "gate", "gate": gate}
        if side:
            place["side"] = side
    elif kind == "marker" and rest:
        place = {"kind": "marker", "number": rest}
    elif kind == "point" and rest:
        match = _POINT.match(rest)
        assert match is not None
        place = {"kind": "point", "name": {"text": match["name"], "lang": language[:2]}}
        if match["lat"] is not None:
            place["lat"], place["lon"] = float(match["lat"]), float(match["lon"])
    else:
        raise _error(
            _("Not a place: {value}; write gate:PAIR, marker:NUMBER or point:NAME.").format(
                value=text
            )
        )
    return place


def parse_team(values: Sequence[str]) -> list[dict[str, str]]:
    """`Name[/service number]` per officer."""
    team = []
    for value in values:
        name, _sep, officer_id = value.partition("/")
        member = {"name": name.strip()}
        if officer_id.strip():
            member["officer_id"] = officer_id.strip()
        if member["name"]:
            team.append(member)
    return team


def persons_for(persons: int | Sequence[Mapping[str, Any]], case: Any) -> list[Any]:
    """The persons given, or the first N named in the case's verification request: a proposal
    names the real persons, so placeholders are never sent to the other side."""
    if not isinstance(persons, int):
        return list(persons)  # the notice's own check refuses a block that is not a person
    named: list[Any] = []
    request_id = case.verification.request_id if case is not None else None
    for event in case.notices if case is not None else []:
        if event.message_id == request_id and isinstance(event.fields.get("persons"), list):
            named = [dict(p) for p in event.fields["persons"]]
    if persons < 1 or persons > len(named):
        raise _error(
            _(
                "The case's verification request names {named} persons, not {count}: "
                "give the persons in a JSON file with --persons FILE."
            ).format(named=len(named), count=persons)
        )
    return named[:persons]


def _free_text(text: str | None, language: str) -> dict[str, str] | None:
    return {"text": text, "lang": language[:2]} if text else None


# --- Building the notice ----------------------------------------------------------------------
def build_notice(
    book: CaseBook,
    notice_type: str,
    fields: Mapping[str, Any],
    *,
    case_ref: str,
    recipient: str,
    handling: str,
    answering: LoggedNotice | None = None,
    now: int,
) -> Notice:
    """The notice of `notice_type` from this device's agency (NoticeError when it is not valid)."""
    header: dict[str, Any] = {
        "our_ref": f"{book.agency}/{case_ref[:60]}/{now}",  # within the 100 characters
        "sender_unit": book.agency,
        "recipient_unit": recipient,
        "case_ref": case_ref,
        "handling": handling,
        "priority": "normal",
    }
    if answering is not None and isinstance(answering.header.get("our_ref"), str):
        header["their_ref"] = answering.header["our_ref"]
    return parse_notice(
        {
            "liaison_notice": FORMAT_VERSION,
            "type": notice_type,
            "header": header,
            "fields": dict(fields),
        }
    )


def counterpart(book: CaseBook, handover: Handover) -> LoggedNotice | None:
    """The latest effective notice of this handover from the other side (what this answers)."""
    own = book.side
    latest = None
    for entry in handover.timeline:
        if entry.side != own and entry.effective:
            latest = book.event(entry.message_id)
    if latest is None:
        latest = book.event(handover.handover_id)
    return latest


def recipient_of(book: CaseBook, handover: Handover) -> str:
    answered = counterpart(book, handover)
    if answered is not None and country_side(answered.sender_agency) != book.side:
        return answered.sender_agency
    proposal = book.event(handover.handover_id)
    recipient = proposal.header.get("recipient_unit") if proposal is not None else None
    return str(recipient or "")


def _zone(request: StepRequest, book: CaseBook) -> str:
    return str(request.tz or default_zone(book.agency))


def build_step(
    request: StepRequest, book: CaseBook, keys: DeviceKeys, now: int
) -> tuple[str, dict[str, Any], str, str, LoggedNotice | None, list[SchedulingWarning]]:
    """(notice type, fields, case ref, recipient, notice answered, warnings) for the step.

    A step the handover's state does not allow raises HandoverActionRefused; bad input
    ClientError."""
    side = book.side
    step = request.step
    if step == "propose":
        case_ref = str(request.case)
        fields: dict[str, Any] = {
            "slot": parse_slot(str(request.at), _zone(request, book)).to_notice(),
            "place": parse_place(str(request.place), request.language),
            "persons": persons_for(request.persons, book.case(case_ref)),
            "escorts": parse_team(request.escort),
        }
        if request.vehicle:
            fields["vehicle"] = _free_text(request.vehicle, request.language)
        warnings = warnings_for_proposal(
            fields, case_ref=case_ref, cases=book.cases, now=now, sender_agency=book.agency
        )
        return "handover_proposal", fields, case_ref, str(request.to), None, warnings
    handover = book.handover(str(request.handover))
    answered = counterpart(book, handover)
    recipient = recipient_of(book, handover)
    reason = _free_text(request.reason, request.language)
    # Required by both forms; an empty code is refused by the notice's own check.
    reason_code = request.reason_code or ""
    if step == "accept":
        fields = accept_fields(handover, side=side, reception_team=parse_team(request.reception))
        warnings = warnings_for_handover(handover, cases=book.cases, now=now)
        return "handover_response", fields, handover.case_ref, recipient, answered, warnings
    if step == "counter":
        slot = parse_slot(request.at, _zone(request, book)) if request.at else None
        place = parse_place(request.place, request.language) if request.place else None
        if slot is None and place is None:
            raise _error(_("A counter-proposal needs --at or --place (or both)."))
        fields = counter_fields(
            handover,
            side=side,
            slot=slot,
            place=place,
            reception_team=parse_team(request.reception),
        )
        warnings = _moved_warnings(book, handover, slot, place, now)
        return "handover_response", fields, handover.case_ref, recipient, answered, warnings
    if step == "reschedule":
        slot = parse_slot(str(request.at), _zone(request, book))
        fields = reschedule_fields(
            handover, side=side, new_slot=slot, reason_code=reason_code, reason=reason
        )
        warnings = _moved_warnings(book, handover, slot, None, now)
        return "reschedule_cancellation", fields, handover.case_ref, recipient, answered, warnings
    if step == "cancel":
        fields = cancel_fields(handover, side=side, reason_code=reason_code, reason=reason)
        return "reschedule_cancellation", fields, handover.case_ref, recipient, answered, []
    if step == "complete":
        fields = record_fields(handover, side=side, record=request.record or {})
        return "handover_record", fields, handover.case_ref, recipient, answered, []
    if step == "countersign":
        record_event = book.event(handover.record_id or "")
        if record_event is None:
            raise _error(_("No handover record to countersign yet."), code="not_recorded")
        digest, signature = case_ops.countersign_record(keys, record_event)
        received_at = Slot.from_timestamp(now, default_zone(book.agency))
        fields = countersign_fields(
            handover,
            side=side,
            received_at=received_at,
            record_hash=digest,
            countersignature=signature,
        )
        recipient = record_event.sender_agency
        return "receipt_ack", fields, handover.case_ref, recipient, record_event, []
    raise _error(step)


def _moved_warnings(
    book: CaseBook,
    handover: Handover,
    slot: Slot | None,
    place: Mapping[str, Any] | None,
    now: int,
) -> list[SchedulingWarning]:
    fields = {
        "slot": (slot or handover.slot).to_notice(),
        "place": dict(place or handover.place),
        "escorts": [
            {"name": e.name, **({"officer_id": e.officer_id} if e.officer_id else {})}
            for e in handover.escorts
            if e.side == book.side
        ],
    }
    return warnings_for_proposal(
        fields,
        case_ref=handover.case_ref,
        cases=book.cases,
        now=now,
        sender_agency=book.agency,
        exclude_handover=handover.handover_id,
    )


def prepare_step(request: StepRequest, book: CaseBook, keys: DeviceKeys, now: int) -> PreparedStep:
    """Everything a step needs before sending; refusals (HandoverActionRefused, NoticeError,
    ClientError for bad input) are raised here, so nothing leaves the device when the step is
    not possible."""
    notice_type, fields, case_ref, recipient, answered, warnings = build_step(
        request, book, keys, now
    )
    notice = build_notice(
        book,
        notice_type,
        fields,
        case_ref=case_ref,
        recipient=recipient,
        handling=request.handling,
        answering=answered,
        now=now,
    )
    # Every agency that holds the case gets the notice, so every party derives the same state.
    known = case_ops.case_agencies(book, book.case(case_ref), exclude=book.agency)
    addresses = sorted({recipient, *known} - {book.agency} | set(request.copy))
    handover_id = (
        None if request.step == "propose" else book.handover(str(request.handover)).handover_id
    )
    return PreparedStep(notice, addresses, warnings, handover_id)
