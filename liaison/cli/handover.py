"""`liaison handover`: propose, answer, move, cancel, record and countersign a handover; .ics."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from liaison.cli._common import (
    CommandError,
    add_json_option,
    add_pdf_option,
    command,
    notice_refusals,
    print_json,
    read_input,
    write_output,
    write_pdf,
)
from liaison.cli.cases import add_case_options, add_lang_option, apply_lang, place_text, slot_text
from liaison.cli.cases import with_book as load_with_book
from liaison.client.errors import ClientError
from liaison.i18n import _, current_language, translate, warning_json

if TYPE_CHECKING:
    from crypto.keys import DeviceKeys
    from liaison.client.cases import CaseBook
    from liaison.client.session import OfficerSession
    from liaison.domain.case_events import LoggedNotice, Slot
    from liaison.domain.handover import Handover, HandoverActionRefused
    from liaison.domain.notices import Notice
    from liaison.domain.warnings import SchedulingWarning


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Its choices (time zones, handling codes) come from the notice catalogue, which is slow to
    # import: the actions are added only when the command line reaches `handover`.
    subparsers.add_parser("handover", help=_("Schedule and record handovers"), options=_add_actions)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    from liaison.domain.fields import ZONES

    commands = parser.add_subparsers(dest="handover_command", metavar="COMMAND", required=True)

    propose = commands.add_parser("propose", help=_("Propose a handover for a case"))
    propose.add_argument("--case", required=True, metavar="REF", help=_("Case reference"))
    propose.add_argument(
        "--to", required=True, metavar="AGENCY", help=_("Agency the proposal is addressed to")
    )
    _slot_options(propose, required=True)
    propose.add_argument(
        "--persons",
        required=True,
        metavar="FILE|N",
        help=_(
            "A JSON file with the person blocks, or N: the first N persons named in the case's "
            "verification request"
        ),
    )
    propose.add_argument(
        "--escort",
        action="append",
        default=[],
        metavar="NAME[/ID]",
        help=_("Escorting officer, with service number; repeat for several"),
    )
    propose.add_argument("--vehicle", help=_("Vehicle and plate number"))
    _step_options(propose, "propose")

    accept = commands.add_parser("accept", help=_("Accept the offer awaiting your answer"))
    _handover_argument(accept)
    _reception_option(accept)
    _step_options(accept, "accept")

    counter = commands.add_parser("counter", help=_("Answer with another time or place"))
    _handover_argument(counter)
    _slot_options(counter, required=False)
    _reception_option(counter)
    _step_options(counter, "counter")

    reschedule = commands.add_parser("reschedule", help=_("Move an agreed handover"))
    _handover_argument(reschedule)
    _slot_options(reschedule, required=True, place=False)
    _reason_options(reschedule, required=True)
    _step_options(reschedule, "reschedule")

    cancel = commands.add_parser("cancel", help=_("Call a handover off"))
    _handover_argument(cancel)
    _reason_options(cancel, required=True)
    _step_options(cancel, "cancel")

    complete = commands.add_parser("complete", help=_("Send the signed handover record"))
    _handover_argument(complete)
    complete.add_argument(
        "--record",
        required=True,
        metavar="FILE",
        help=_("JSON file with the record's fields (persons, belongings, signatories…)"),
    )
    # With --dry-run: the record to print and sign before it is sent.
    add_pdf_option(complete)
    _step_options(complete, "complete")

    countersign = commands.add_parser(
        "countersign", help=_("Countersign the other side's handover record")
    )
    _handover_argument(countersign)
    _step_options(countersign, "countersign")

    ics = commands.add_parser("ics", help=_("Write a handover as an iCalendar file"))
    _handover_argument(ics)
    ics.add_argument("-o", "--output", required=True, metavar="FILE", help=_("Output file"))
    ics.add_argument("--tz", choices=ZONES, help=_("Time zone of the event's start"))
    add_case_options(ics)
    ics.set_defaults(func=cmd_ics)


def _handover_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handover", metavar="ID", help=_("Handover id (or its first digits)"))


def _slot_options(parser: argparse.ArgumentParser, *, required: bool, place: bool = True) -> None:
    parser.add_argument(
        "--at",
        required=required,
        metavar='"YYYY-MM-DD HH:MM"',
        help=_("Date and time on the clock of --tz"),
    )
    from liaison.domain.fields import ZONES

    parser.add_argument(
        "--tz",
        choices=ZONES,
        help=_("Time zone of --at (default: your country's)"),
    )
    if place:
        parser.add_argument(
            "--place",
            required=required,
            metavar="PLACE",
            help=_("gate:GATE-PAIR[:vn|cn], marker:NUMBER, or point:NAME[@LAT,LON]"),
        )


def _reception_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reception",
        action="append",
        default=[],
        metavar="NAME[/ID]",
        help=_("Officer of your reception team; repeat for several"),
    )


def _reason_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--reason-code",
        required=required,
        metavar="CODE",
        help=_("weather, documents, health, security, transport or other"),
    )
    parser.add_argument("--reason", metavar="TEXT", help=_("The reason in words"))


def _step_options(parser: argparse.ArgumentParser, action: str) -> None:
    from liaison.domain.notices import HANDLING_CODES

    parser.add_argument(
        "--copy",
        action="append",
        default=[],
        metavar="AGENCY",
        help=_("Another agency to send the notice to; repeat for several"),
    )
    parser.add_argument(
        "--handling",
        choices=tuple(HANDLING_CODES),
        default="H2",
        help=_("Handling code of the notice (default H2)"),
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=_("Check and show the warnings without sending"),
    )
    add_lang_option(parser)
    add_case_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=cmd_step, step=action)


# --- Parsing the officer's input --------------------------------------------------------------
def _error(message: str, code: str = "bad_input") -> Exception:
    return CommandError(message, code=code)


def default_zone(agency: str) -> str:
    from liaison.domain.case_events import CHINA_ZONE, VIETNAM_ZONE, country_side

    return CHINA_ZONE if country_side(agency) == "CN" else VIETNAM_ZONE


def parse_slot(at: str, tz: str) -> Slot:
    """A slot from wall-clock `at` ("2026-12-03 09:00") on the clock of `tz`."""
    from liaison.domain.case_events import Slot

    try:
        moment = datetime.strptime(at.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise _error(
            _("Not a date and time: {value}; write YYYY-MM-DD HH:MM.").format(value=at)
        ) from None
    return Slot(moment.replace(tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC")), tz)


_POINT = re.compile(r"^(?P<name>.+?)(?:@(?P<lat>-?[0-9.]+),(?P<lon>-?[0-9.]+))?$")


def parse_place(text: str) -> dict[str, Any]:
    """`gate:mong-cai--dongxing[:vn|cn]`, `marker:450` or `point:NAME[@LAT,LON]`."""
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
        language = current_language()[:2]
        place = {"kind": "point", "name": {"text": match["name"], "lang": language}}
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


def _load_json(path: str) -> Any:
    try:
        return json.loads(read_input(path))
    except ValueError:
        raise _error(_("{path} is not a JSON file.").format(path=path)) from None


def persons_for(value: str, case: Any) -> list[dict[str, Any]]:
    """Persons from a JSON file, or the first N named in the case's verification request: a
    proposal names the real persons, so placeholders are never sent to the other side."""
    if value.isdigit():
        count = int(value)
        named: list[dict[str, Any]] = []
        request_id = case.verification.request_id if case is not None else None
        for event in case.notices if case is not None else []:
            if event.message_id == request_id and isinstance(event.fields.get("persons"), list):
                named = [dict(p) for p in event.fields["persons"]]
        if count < 1 or count > len(named):
            raise _error(
                _(
                    "The case's verification request names {named} persons, not {count}: "
                    "give the persons in a JSON file with --persons FILE."
                ).format(named=len(named), count=count)
            )
        return named[:count]
    loaded = _load_json(value)
    if isinstance(loaded, Mapping):
        loaded = loaded.get("persons")
    if not isinstance(loaded, list):
        raise _error(_("{path} must hold a list of person blocks.").format(path=value))
    return loaded


def reason_text(args: argparse.Namespace) -> dict[str, str] | None:
    if not args.reason:
        return None
    return {"text": args.reason, "lang": current_language()[:2]}


# --- Building, checking and sending the notice ------------------------------------------------
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
    from liaison.domain.notices import FORMAT_VERSION, parse_notice

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
    value = {
        "liaison_notice": FORMAT_VERSION,
        "type": notice_type,
        "header": header,
        "fields": dict(fields),
    }
    with notice_refusals():
        notice = parse_notice(value)
    return notice


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
    from liaison.domain.case_events import country_side

    answered = counterpart(book, handover)
    if answered is not None and country_side(answered.sender_agency) != book.side:
        return answered.sender_agency
    proposal = book.event(handover.handover_id)
    recipient = proposal.header.get("recipient_unit") if proposal is not None else None
    return str(recipient or "")


def _refused(exc: HandoverActionRefused) -> Exception:
    return _error(translate(exc.message, current_language()), code=exc.reason.value)


def _find(book: CaseBook, args: argparse.Namespace) -> Handover:
    try:
        return book.handover(args.handover)
    except ClientError as exc:
        raise _error(str(exc), code=exc.code) from None


def _zone(args: argparse.Namespace, book: CaseBook) -> str:
    return str(args.tz or default_zone(book.agency))


def build_step(
    args: argparse.Namespace, book: CaseBook, keys: DeviceKeys, now: int
) -> tuple[str, dict[str, Any], str, str, LoggedNotice | None, list[SchedulingWarning]]:
    """(notice type, fields, case ref, recipient, notice answered, warnings) for `args.step`."""
    from liaison.client import cases as case_ops
    from liaison.domain.case_events import Slot
    from liaison.domain.handover import (
        HandoverActionRefused,
        accept_fields,
        cancel_fields,
        counter_fields,
        countersign_fields,
        record_fields,
        reschedule_fields,
    )
    from liaison.domain.warnings import warnings_for_handover, warnings_for_proposal

    side = book.side
    step = args.step
    if step == "propose":
        case = book.case(args.case)
        fields: dict[str, Any] = {
            "slot": parse_slot(args.at, _zone(args, book)).to_notice(),
            "place": parse_place(args.place),
            "persons": persons_for(args.persons, case),
            "escorts": parse_team(args.escort),
        }
        if args.vehicle:
            fields["vehicle"] = {"text": args.vehicle, "lang": current_language()[:2]}
        warnings = warnings_for_proposal(
            fields, case_ref=args.case, cases=book.cases, now=now, sender_agency=book.agency
        )
        return "handover_proposal", fields, args.case, args.to, None, warnings
    handover = _find(book, args)
    answered = counterpart(book, handover)
    recipient = recipient_of(book, handover)
    try:
        if step == "accept":
            fields = accept_fields(handover, side=side, reception_team=parse_team(args.reception))
            warnings = warnings_for_handover(handover, cases=book.cases, now=now)
            return "handover_response", fields, handover.case_ref, recipient, answered, warnings
        if step == "counter":
            slot = parse_slot(args.at, _zone(args, book)) if args.at else None
            place = parse_place(args.place) if args.place else None
            if slot is None and place is None:
                raise _error(_("A counter-proposal needs --at or --place (or both)."))
            fields = counter_fields(
                handover,
                side=side,
                slot=slot,
                place=place,
                reception_team=parse_team(args.reception),
            )
            warnings = _moved_warnings(book, handover, slot, place, now)
            return "handover_response", fields, handover.case_ref, recipient, answered, warnings
        if step == "reschedule":
            slot = parse_slot(args.at, _zone(args, book))
            fields = reschedule_fields(
                handover,
                side=side,
                new_slot=slot,
                reason_code=args.reason_code,
                reason=reason_text(args),
            )
            warnings = _moved_warnings(book, handover, slot, None, now)
            return (
                "reschedule_cancellation",
                fields,
                handover.case_ref,
                recipient,
                answered,
                warnings,
            )
        if step == "cancel":
            fields = cancel_fields(
                handover, side=side, reason_code=args.reason_code, reason=reason_text(args)
            )
            return "reschedule_cancellation", fields, handover.case_ref, recipient, answered, []
        if step == "complete":
            # Library callers (the demo) may give the fields themselves instead of a file.
            record = getattr(args, "record_fields", None) or _load_json(args.record)
            if isinstance(record, Mapping) and isinstance(record.get("fields"), Mapping):
                record = record["fields"]
            if not isinstance(record, Mapping):
                raise _error(_("{path} must hold the record's fields.").format(path=args.record))
            fields = record_fields(handover, side=side, record=record)
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
    except HandoverActionRefused as exc:
        raise _refused(exc) from None
    raise _error(step)


def _moved_warnings(
    book: CaseBook,
    handover: Handover,
    slot: Slot | None,
    place: Mapping[str, Any] | None,
    now: int,
) -> list[SchedulingWarning]:
    from liaison.domain.warnings import warnings_for_proposal

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


@dataclass
class PreparedStep:
    """A checked notice for one step, who gets it, and the warnings to show before sending."""

    notice: Notice
    addresses: list[str]
    warnings: list[SchedulingWarning]
    handover_id: str | None  # None for a proposal: its own message id becomes the handover id


def prepare_step(
    args: argparse.Namespace, book: CaseBook, keys: DeviceKeys, now: int
) -> PreparedStep:
    """Everything a step needs before sending; refusals (HandoverActionRefused, bad input) are
    raised here, so nothing leaves the device when the step is not possible."""
    from liaison.client import cases as case_ops

    notice_type, fields, case_ref, recipient, answered, warnings = build_step(args, book, keys, now)
    notice = build_notice(
        book,
        notice_type,
        fields,
        case_ref=case_ref,
        recipient=recipient,
        handling=args.handling,
        answering=answered,
        now=now,
    )
    # Every agency that holds the case gets the notice, so every party derives the same state.
    known = case_ops.case_agencies(book, book.case(case_ref), exclude=book.agency)
    addresses = sorted({recipient, *known} - {book.agency} | set(args.copy))
    handover_id = None if args.step == "propose" else _find(book, args).handover_id
    return PreparedStep(notice, addresses, warnings, handover_id)


@command
def cmd_step(args: argparse.Namespace) -> int:
    apply_lang(args)
    now = int(time.time())
    outcome: dict[str, Any] = {}

    async def act(session: OfficerSession, book: CaseBook) -> None:
        prepared = prepare_step(args, book, session.unlock(), now)
        outcome["prepared"] = prepared
        if not args.json:
            for warning in prepared.warnings:
                text = translate(warning.message, current_language())
                print(_("Warning: {message}").format(message=text), file=sys.stderr)
        if args.dry_run or session.offline:
            return
        sent, event = await session.send_notice(prepared.notice, prepared.addresses, now=now)
        outcome["sent"] = sent
        outcome["handover_id"] = prepared.handover_id or event.message_id

    if args.offline and not args.dry_run:
        raise _error(_("Sending needs the server: leave out --offline."))
    load_with_book(args, act, now=now)
    prepared: PreparedStep = outcome["prepared"]
    warnings = prepared.warnings
    sent = outcome.get("sent")
    if getattr(args, "pdf", None):
        _write_record_pdf(args.pdf, prepared.notice, sent, now)
    if args.json:
        value: dict[str, Any] = {
            "warnings": [warning_json(w, current_language()) for w in warnings],
            "sent": False,
        }
        if sent is not None:
            value.update(
                sent=True,
                message_id=sent.message_id,
                log_index=sent.log_index,
                handover_id=outcome["handover_id"],
                to=prepared.addresses,
            )
        print_json(value)
        return 0
    if sent is None:
        print(_("Checked; nothing sent (--dry-run)."))
        return 0
    print(
        _("Sent {id} to {to} (log entry {index}).").format(
            id=sent.message_id, to=", ".join(prepared.addresses), index=sent.log_index
        )
    )
    if args.step == "propose":
        print(_("Handover id: {id}").format(id=sent.message_id))
    return 0


def _write_record_pdf(path: str, notice: Notice, sent: Any, now: int) -> None:
    """The handover record both sides sign, as an A4 PDF (refused for H2, as every export)."""
    from liaison.client import notices as notice_ops

    meta = {"message_id": sent.message_id, "sent_at": now} if sent is not None else {"sent_at": now}
    with notice_refusals():
        write_pdf(path, lambda: notice_ops.export_bytes(notice, "pdf", "both", meta))


@command
def cmd_ics(args: argparse.Namespace) -> int:
    book, _unused = load_with_book(args)
    from liaison.i18n.ical import handover_to_ics  # slow to import; only this command needs it

    handover = _find(book, args)
    now = int(time.time())
    data = handover_to_ics(
        handover, now=now, language=current_language(), zone=args.tz, place_label=place_text
    )
    write_output(args.output, data)
    if args.output != "-":
        print(
            _("Written: {path} ({state}, {time}).").format(
                path=Path(args.output),
                state=translate(handover.state.message, current_language()),
                time=slot_text(handover.slot.to_notice()),
            )
        )
    return 0
