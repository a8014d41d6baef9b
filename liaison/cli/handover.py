"""`liaison handover`: propose, answer, move, cancel, record and countersign a handover; .ics."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from liaison.client.handover_steps import PreparedStep, StepRequest
    from liaison.client.session import OfficerSession
    from liaison.domain.handover import Handover, HandoverActionRefused
    from liaison.domain.notices import Notice


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


# --- From the command line to a step ---------------------------------------------------------
def _error(message: str, code: str = "bad_input") -> Exception:
    return CommandError(message, code=code)


def _load_json(path: str) -> Any:
    try:
        return json.loads(read_input(path))
    except ValueError:
        raise _error(_("{path} is not a JSON file.").format(path=path)) from None


def _persons(value: str) -> int | list[dict[str, Any]]:
    """`--persons`: how many of the persons the verification request names, or a JSON file."""
    if value.isdigit():
        return int(value)
    loaded = _load_json(value)
    if isinstance(loaded, Mapping):
        loaded = loaded.get("persons")
    if not isinstance(loaded, list):
        raise _error(_("{path} must hold a list of person blocks.").format(path=value))
    return loaded


def _record(args: argparse.Namespace) -> Mapping[str, Any]:
    """`--record FILE`: the handover record's fields."""
    # Library callers (the demo) may give the fields themselves instead of a file.
    record = getattr(args, "record_fields", None) or _load_json(args.record)
    if isinstance(record, Mapping) and isinstance(record.get("fields"), Mapping):
        record = record["fields"]
    if not isinstance(record, Mapping):
        raise _error(_("{path} must hold the record's fields.").format(path=args.record))
    return record


def step_request(args: argparse.Namespace) -> StepRequest:
    """The step the arguments ask for; files named in them are read here. Library callers
    (the demo, tests) give only the arguments their step uses."""
    from liaison.client.handover_steps import StepRequest

    def given(name: str, default: Any = None) -> Any:
        return getattr(args, name, default)

    return StepRequest(
        step=args.step,
        language=current_language(),
        handover=given("handover"),
        case=given("case"),
        to=given("to"),
        at=given("at"),
        tz=given("tz"),
        place=given("place"),
        persons=_persons(given("persons", "1")) if args.step == "propose" else 1,
        escort=tuple(given("escort", None) or ()),
        vehicle=given("vehicle"),
        reception=tuple(given("reception", None) or ()),
        reason_code=given("reason_code"),
        reason=given("reason"),
        record=_record(args) if args.step == "complete" else None,
        handling=given("handling", "H1"),
        copy=tuple(given("copy", None) or ()),
    )


def _refused(exc: HandoverActionRefused) -> Exception:
    return _error(translate(exc.message, current_language()), code=exc.reason.value)


def _find(book: CaseBook, args: argparse.Namespace) -> Handover:
    try:
        return book.handover(args.handover)
    except ClientError as exc:
        raise _error(str(exc), code=exc.code) from None


def prepare_step(
    args: argparse.Namespace, book: CaseBook, keys: DeviceKeys, now: int
) -> PreparedStep:
    """Everything a step needs before sending (`liaison.client.handover_steps.prepare_step`);
    its refusals come back as CommandError, so nothing leaves the device."""
    from liaison.client import handover_steps
    from liaison.domain.handover import HandoverActionRefused

    request = step_request(args)
    try:
        with notice_refusals():
            return handover_steps.prepare_step(request, book, keys, now)
    except HandoverActionRefused as exc:
        raise _refused(exc) from None
    except ClientError as exc:
        raise _error(str(exc), code=exc.code) from None


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
