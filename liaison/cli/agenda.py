"""`liaison agenda`: upcoming handovers in both local times, replies due, support windows."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from liaison.cli._common import CommandError, add_json_option, command, print_json, write_output
from liaison.cli.cases import add_case_options, add_lang_option, apply_lang, place_text, slot_text
from liaison.cli.cases import with_book as load_with_book
from liaison.i18n import _, current_language, translate, warning_json

if TYPE_CHECKING:
    from liaison.domain.agenda import Agenda


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agenda", help=_("Upcoming handovers, replies due and support windows")
    )
    parser.add_argument(
        "--days", type=int, default=7, help=_("How many days ahead to look (default 7)")
    )
    parser.add_argument(
        "--ics",
        action="store_true",
        help=_("Write every handover of your cases as an iCalendar file (with -o)"),
    )
    parser.add_argument("-o", "--output", metavar="FILE", help=_("Output file for --ics"))
    add_lang_option(parser)
    add_case_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=cmd_agenda)


def print_agenda(
    agenda: Agenda, warnings: Mapping[str, list[str]], say: Callable[[str], None] = print
) -> None:
    """The agenda as text in the officer's language (also used by `liaison demo`)."""
    say(_("Agenda for the next {days} days").format(days=agenda.days))
    say(_("Upcoming handovers:"))
    if not agenda.handovers:
        say("  " + _("none"))
    for item in agenda.handovers:
        say(
            "  "
            + _("{time} — case {case}, {place}, persons: {persons}, {state}").format(
                time=slot_text(item.slot.to_notice()),
                case=item.case_ref,
                place=place_text(item.place),
                persons=item.persons,
                state=translate(item.state.message, current_language()),
            )
        )
        say("    " + _("Handover {id}").format(id=item.handover_id))
        for line in warnings.get(item.handover_id, []):
            say("    " + _("Warning: {message}").format(message=line))
    say(_("Replies due:"))
    if not agenda.replies:
        say("  " + _("none"))
    for reply in agenda.replies:
        label = _("OVERDUE") if reply.overdue else _("due")
        say(
            "  "
            + _("{label}: {type} of case {case}, reply by {time}").format(
                label=label,
                type=reply.notice_type,
                case=reply.case_ref,
                time=slot_text(reply.reply_by.to_notice()),
            )
        )
    say(_("Support windows near their limit:"))
    if not agenda.support_windows:
        say("  " + _("none"))
    for window in agenda.support_windows:
        say(
            "  "
            + _("case {case}, {person}: {used} of {limit} days used, {left} left").format(
                case=window.case_ref,
                person=window.person or "—",
                used=window.days_used,
                limit=window.days_limit,
                left=window.days_left,
            )
        )


@command
def cmd_agenda(args: argparse.Namespace) -> int:
    from liaison.domain.agenda import agenda_to_json, build_agenda
    from liaison.domain.cases import all_handovers
    from liaison.domain.warnings import warnings_for_handover

    apply_lang(args)
    if args.ics and not args.output:
        raise CommandError(_("--ics needs -o FILE."), code="bad_input")
    book, _unused = load_with_book(args)
    now = int(time.time())
    if args.ics:
        from liaison.i18n.ical import agenda_to_ics  # slow to import; only --ics needs it

        data = agenda_to_ics(
            all_handovers(book.cases.values()),
            now=now,
            language=current_language(),
            place_label=place_text,
        )
        write_output(args.output, data)
        if args.output != "-":
            print(_("Written: {path}").format(path=args.output))
        return 0
    agenda = build_agenda(book.cases, now=now, days=args.days)
    handovers = {h.handover_id: h for h in all_handovers(book.cases.values())}
    warnings = {
        item.handover_id: warnings_for_handover(
            handovers[item.handover_id], cases=book.cases, now=now
        )
        for item in agenda.handovers
    }
    if args.json:
        value = agenda_to_json(agenda)
        for item in value["handovers"]:
            item["warnings"] = [
                warning_json(w, current_language()) for w in warnings[item["handover_id"]]
            ]
        print_json(value)
        return 0
    language = current_language()
    print_agenda(
        agenda,
        {key: [translate(w.message, language) for w in ws] for key, ws in warnings.items()},
    )
    return 0
