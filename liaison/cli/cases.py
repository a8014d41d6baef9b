"""`liaison cases` and `liaison case show`: cases derived on this device, and their timelines."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from liaison.cli._common import (
    CommandError,
    add_json_option,
    add_relay_options,
    command,
    home_from_args,
    notice_refusals,
    on_session,
    print_json,
    write_pdf,
)
from liaison.i18n import (
    LANGUAGE_ALIASES,
    _,
    current_language,
    set_language,
    translate,
    warning_json,
)
from liaison.i18n.dates import format_both_zones, format_local_datetime, parse_utc

if TYPE_CHECKING:
    from liaison.client.cases import CaseBook
    from liaison.client.session import OfficerSession
    from liaison.domain.case_events import TimelineEntry
    from liaison.domain.cases import Case
    from liaison.domain.handover import Handover

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser("cases", help=_("List the cases derived from your notices"))
    add_case_options(listing)
    add_json_option(listing)
    listing.set_defaults(func=cmd_cases)

    case = subparsers.add_parser("case", help=_("Show one case"))
    commands = case.add_subparsers(dest="case_command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", help=_("Show a case's timeline and handovers"))
    show.add_argument("case_ref", metavar="REF", help=_("Case reference"))
    add_lang_option(show)
    add_case_options(show)
    add_json_option(show)
    show.add_argument(
        "--pdf",
        metavar="FILE",
        help=_(
            "Write the case's notices as signable bilingual documents, one A4 PDF, to FILE "
            "(refused when a notice is H2)"
        ),
    )
    show.set_defaults(func=cmd_case_show)


# --- Shared by the case, handover and agenda commands -----------------------------------------
def add_case_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        help=_("Use the notices already on this device without contacting the server"),
    )
    add_relay_options(parser, json=False)


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang", choices=("vi", "zh", "en"), help=_("Language of the output (default: yours)")
    )


def apply_lang(args: argparse.Namespace) -> None:
    if getattr(args, "lang", None):
        set_language(LANGUAGE_ALIASES[args.lang])


def with_book(
    args: argparse.Namespace,
    then: Callable[[OfficerSession, CaseBook], Awaitable[T]] | None = None,
    *,
    now: int | None = None,
) -> tuple[CaseBook, T | None]:
    """Load the case book (syncing first unless --offline) and run `then` in the same session,
    so that a command reads the state and sends its notice in one go."""
    home = home_from_args(args)
    moment = int(time.time()) if now is None else now

    async def go(session: OfficerSession) -> tuple[CaseBook, T | None]:
        session.unlock()  # one passphrase prompt for the whole command
        book = await session.case_book(now=moment)
        if book.problems:
            # Cases derived without them may be incomplete: say so, never silently.
            print(
                _("{count} messages could not be opened and are left out: {ids}").format(
                    count=len(book.problems),
                    ids=", ".join(f"{mid[:12]} ({code})" for mid, code in book.problems),
                ),
                file=sys.stderr,
            )
        result = await then(session, book) if then is not None else None
        return book, result

    return on_session(args, go, offline=getattr(args, "offline", False), home=home)


def place_text(place: Mapping[str, Any]) -> str:
    # Imported here: the iCalendar library is slow to import and most commands never need it.
    from liaison.i18n.ical import default_place_label

    return default_place_label(place, current_language())


def slot_text(utc: Mapping[str, Any] | int) -> str:
    return format_both_zones(parse_utc(utc), current_language())


def state_text(handover: Handover) -> str:
    return translate(handover.state.message, current_language())


def reason_name(code: str) -> str:
    """A reason code's name in the officer's language (names are data: reason_codes.json)."""
    from liaison.domain.agencies import reason_codes

    names = reason_codes().get(code, {})
    return names.get(current_language()[:2]) or names.get("en") or code


def _entry_lines(entry: TimelineEntry, zone: str) -> list[str]:
    """One line for who did what (sent time on the viewer's clock), then the slot in both
    zones, the place, the reason and, for a superseded notice, why it changed nothing."""
    sent = format_local_datetime(parse_utc(entry.sent_at), zone, current_language())
    who = f"{entry.sender_agency}/{entry.sender_officer}"
    action = translate(entry.action.message, current_language())
    lines = [f"#{entry.log_index}  {sent} ({zone})  {who}: {action}"]
    details = []
    if entry.slot is not None:
        details.append(slot_text(entry.slot.to_notice()))
    if entry.place is not None and entry.action.value in ("propose", "counter"):
        details.append(place_text(entry.place))
    if entry.reason_code:
        details.append(_("reason: {code}").format(code=reason_name(entry.reason_code)))
    if details:
        lines.append("    " + " — ".join(details))
    if entry.superseded is not None:
        lines.append(
            "    "
            + _("SUPERSEDED ({code}): {reason}").format(
                code=entry.superseded.value,
                reason=translate(entry.superseded.message, current_language()),
            )
        )
    return lines


def _case_summary(case: Case) -> str:
    from liaison.domain.warnings import VERIFICATION_LABELS

    status = _(VERIFICATION_LABELS[case.verification.status])
    parts = [_("verification: {status}").format(status=status)]
    for handover in case.handovers.values():
        parts.append(
            _("handover {id}: {state}, {time}").format(
                id=handover.handover_id[:12],
                state=state_text(handover),
                time=slot_text(handover.slot.to_notice()),
            )
        )
    return "; ".join(parts)


@command
def cmd_cases(args: argparse.Namespace) -> int:
    from liaison.domain.cases import case_to_json

    book, _unused = with_book(args)
    if args.json:
        print_json([case_to_json(case) for case in book.cases.values()])
        return 0
    if not book.cases:
        print(_("No cases: no notice with a case reference on this device."))
    for case in book.cases.values():
        print(f"{case.case_ref}  {_case_summary(case)}")
    return 0


def _write_case_pdf(path: str, case: Case) -> None:
    """Every notice of `case` as its signable document; an H2 notice refuses the export."""
    from liaison.domain.notices import ensure_may_export, parse_notice
    from liaison.i18n.documents import case_pdf

    with notice_refusals():
        documents = []
        for event in case.notices:
            notice = parse_notice(event.notice)
            ensure_may_export(notice)
            documents.append((notice, {"message_id": event.message_id, "sent_at": event.sent_at}))
        write_pdf(path, lambda: case_pdf(case.case_ref, documents))


@command
def cmd_case_show(args: argparse.Namespace) -> int:
    from liaison.domain.case_events import CHINA_ZONE, VIETNAM_ZONE
    from liaison.domain.cases import case_to_json
    from liaison.domain.warnings import VERIFICATION_LABELS, warnings_for_handover

    apply_lang(args)
    book, _unused = with_book(args)
    case = book.case(args.case_ref)
    if case is None:
        raise CommandError(
            _("No case {ref} on this device: run `liaison cases`.").format(ref=args.case_ref),
            code="unknown_case",
        )
    now = int(time.time())
    if getattr(args, "pdf", None):
        _write_case_pdf(args.pdf, case)
        return 0
    if args.json:
        value = case_to_json(case)
        value["warnings"] = {
            h.handover_id: [
                warning_json(w, current_language())
                for w in warnings_for_handover(h, cases=book.cases, now=now)
            ]
            for h in case.handovers.values()
        }
        print_json(value)
        return 0
    print(_("Case {ref}").format(ref=case.case_ref))
    status = _(VERIFICATION_LABELS[case.verification.status])
    print(_("Verification: {status}").format(status=status))
    for handover in case.handovers.values():
        print()
        print(_("Handover {id}").format(id=handover.handover_id))
        print("  " + _("State: {state}").format(state=state_text(handover)))
        print("  " + _("Time: {time}").format(time=slot_text(handover.slot.to_notice())))
        print("  " + _("Place: {place}").format(place=place_text(handover.place)))
        print("  " + _("Persons: {count}").format(count=len(handover.persons)))
        if handover.awaiting_side:
            print("  " + _("Awaiting: side {side}").format(side=handover.awaiting_side))
        if handover.cancel_reason:
            reason = reason_name(handover.cancel_reason)
            print("  " + _("Cancelled, reason: {code}").format(code=reason))
        for warning in warnings_for_handover(handover, cases=book.cases, now=now):
            text = translate(warning.message, current_language())
            print("  " + _("Warning: {message}").format(message=text))
    print()
    print(_("Timeline"))
    zone = CHINA_ZONE if book.side == "CN" else VIETNAM_ZONE
    for entry in case.timeline:
        for line in _entry_lines(entry, zone):
            print("  " + line)
    return 0
