"""`liaison report`: the period's figures from the cases on this device, their cases, a
pre-filled statistics notice, reconciliation with a counterpart's notice, and SVG charts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liaison.cli._common import CommandError, command, notice_refusals
from liaison.cli.cases import add_case_options
from liaison.i18n import _, current_language

if TYPE_CHECKING:
    from liaison.client.cases import CaseBook
    from liaison.domain.statistics import Reconciliation, StatisticsReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help=_("Periodic statistics from your cases, and reconciliation")
    )
    parser.add_argument("--from", dest="start", metavar="DATE", help=_("First day, YYYY-MM-DD"))
    parser.add_argument("--to", dest="end", metavar="DATE", help=_("Last day, YYYY-MM-DD"))
    parser.add_argument(
        "--agency",
        metavar="CODE",
        help=_("Count only the cases this agency sent or received notices of"),
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help=_("Print JSON"))
    output.add_argument("--csv", action="store_true", help=_("Print CSV"))
    parser.add_argument("--explain", metavar="FIGURE", help=_("List the cases behind one figure"))
    parser.add_argument(
        "--compare",
        metavar="MESSAGE_ID",
        help=_("Set your figures beside a counterpart's received statistics notice"),
    )
    parser.add_argument(
        "--notice",
        type=Path,
        metavar="FILE",
        help=_("Write a statistics notice (a reply with --compare) to check and send"),
    )
    parser.add_argument(
        "--recipient",
        metavar="CODE",
        help=_("Recipient agency of the notice (with --compare: the counterpart)"),
    )
    parser.add_argument("--svg", type=Path, metavar="DIR", help=_("Write SVG charts into DIR"))
    parser.add_argument(
        "--pdf",
        type=Path,
        metavar="FILE",
        help=_("Write the report as an A4 PDF (Vietnamese and Chinese, table and charts)"),
    )
    parser.add_argument(
        "--lang",
        default="both",
        choices=("vi", "zh", "en", "both"),
        help=_("Language of the table (default: Vietnamese and Chinese side by side)"),
    )
    add_case_options(parser)
    parser.set_defaults(func=cmd_report)


def _refuse(error: Exception) -> CommandError:
    from liaison.domain.statistics import StatisticsError
    from liaison.i18n.report import error_message

    if isinstance(error, StatisticsError):
        return CommandError(error_message(error, current_language()), code=error.code)
    return CommandError(str(error))


def _checked_options(args: argparse.Namespace) -> tuple[Any, Any]:
    """The period's days (None with --compare alone): refused before anything is loaded."""
    from liaison.domain.agencies import AGENCY_CODE
    from liaison.domain.statistics import StatisticsError, parse_day

    if args.compare is None and (args.start is None or args.end is None):
        raise CommandError(
            _("Give the period: --from YYYY-MM-DD --to YYYY-MM-DD (or --compare MESSAGE_ID)."),
            code="missing_period",
        )
    if (args.start is None) != (args.end is None):
        raise CommandError(_("Give both --from and --to."), code="missing_period")
    for code in (args.agency, args.recipient):
        if code is not None and not AGENCY_CODE.match(code):
            raise CommandError(
                _("Not an agency code such as VN-QN-CA: {code}").format(code=code[:40]),
                code="bad_agency",
            )
    if args.explain is not None and args.compare is not None:
        raise CommandError(_("Give --explain or --compare, not both."), code="bad_options")
    if args.notice is not None and args.explain is not None:
        raise CommandError(_("Give --explain or --notice, not both."), code="bad_options")
    if args.notice is not None and args.compare is None and args.recipient is None:
        raise CommandError(
            _("The notice needs its recipient: --recipient CODE."), code="missing_recipient"
        )
    if args.notice is not None and not args.notice.parent.is_dir():
        raise CommandError(
            _("No folder {path} for the notice.").format(path=args.notice.parent), code="bad_path"
        )
    if args.svg is not None and args.svg.exists() and not args.svg.is_dir():
        raise CommandError(
            _("{path} exists and is not a folder.").format(path=args.svg), code="bad_path"
        )
    if args.pdf is not None and not args.pdf.parent.is_dir():
        raise CommandError(
            _("No folder {path} for the PDF file.").format(path=args.pdf.parent), code="bad_path"
        )
    if args.explain is not None:
        _check_figure_code(args.explain)
    try:
        if args.start is None:
            return None, None
        start, end = parse_day(args.start), parse_day(args.end)
        if end < start:
            raise StatisticsError("period_reversed", start=start, end=end)
    except StatisticsError as exc:
        raise _refuse(exc) from None
    return start, end


def _check_figure_code(code: str) -> None:
    from liaison.domain.statistics import FIGURE_CODES, PLACE_PREFIX, StatisticsError

    if code not in FIGURE_CODES and not (code.startswith(PLACE_PREFIX) and len(code) < 120):
        known = (*FIGURE_CODES, PLACE_PREFIX + "…")
        raise _refuse(StatisticsError("unknown_figure", figure=code[:80], known=known))


def _case_book(args: argparse.Namespace) -> CaseBook:
    """The cases this device holds (syncing first unless --offline)."""
    from liaison.cli.cases import with_book

    book, _nothing = with_book(args)
    return book


@command
def cmd_report(args: argparse.Namespace) -> int:
    from liaison.domain.statistics import Period, StatisticsError, compute_statistics, zone_of
    from liaison.i18n import report as words

    start, end = _checked_options(args)
    book = _case_book(args)
    agency = args.agency or book.agency
    langs = words.languages(args.lang)
    try:
        counterpart = _counterpart(book, args.compare) if args.compare else None
        if counterpart is not None:
            stated_start, stated_end = _stated_period(counterpart)
            if start is None:
                start, end = stated_start, stated_end
        period = Period(start, end, zone_of(agency))
        report = compute_statistics(book.cases.values(), period, agency=args.agency)
        if args.explain is not None:
            report.figure(args.explain)  # an unknown place is refused before any output
        result = None
        if counterpart is not None:
            from liaison.domain.statistics import reconcile

            result = reconcile(report, counterpart)
        notice = _notice(book, report, result, args) if args.notice is not None else None
        charts = _charts(report, result, langs) if args.svg is not None else None
        pdf = _pdf(report, result) if args.pdf is not None else None
    except StatisticsError as exc:
        raise _refuse(exc) from None
    # Every check has passed: now the files, then the output.
    if charts is not None:
        args.svg.mkdir(parents=True, exist_ok=True)
        for name, svg in charts.items():
            (args.svg / name).write_text(svg, encoding="utf-8")
    if pdf is not None:
        args.pdf.write_bytes(pdf)
    if notice is not None:
        args.notice.write_text(notice, encoding="utf-8")
        print(
            _("Statistics notice written to {path}: check it, then send it.").format(
                path=args.notice
            ),
            file=sys.stderr,
        )
    _print(args, report, result, langs)
    return 0


def _print(
    args: argparse.Namespace,
    report: StatisticsReport,
    result: Reconciliation | None,
    langs: tuple[str, ...],
) -> None:
    from liaison.i18n import report as words

    if result is not None:
        if args.json:
            print(json.dumps(words.reconciliation_json(result), ensure_ascii=False, indent=2))
        elif args.csv:
            sys.stdout.write(words.reconciliation_csv(result))
        else:
            sys.stdout.write(words.render_reconciliation_text(result, langs))
        return
    if args.explain is not None:
        if args.json:
            print(
                json.dumps(words.explain_json(report, args.explain), ensure_ascii=False, indent=2)
            )
        elif args.csv:
            figure = report.figure(args.explain)
            sys.stdout.write("case_ref,persons\n")
            sys.stdout.writelines(f"{ref},{n}\n" for ref, n in figure.cases().items())
        else:
            sys.stdout.write(words.render_explain_text(report, args.explain, langs))
        return
    if args.json:
        print(json.dumps(words.report_json(report), ensure_ascii=False, indent=2))
    elif args.csv:
        sys.stdout.write(words.report_csv(report))
    else:
        sys.stdout.write(words.render_report_text(report, langs))


def _counterpart(book: CaseBook, message_id: str) -> Any:
    from liaison.domain.statistics import StatisticsError

    prefix = message_id.strip()
    found = [e for e in book.events if prefix and e.message_id.startswith(prefix)]
    if len(found) != 1:
        raise CommandError(
            _("No single notice {id} on this device: run `liaison inbox`.").format(id=prefix[:40]),
            code="unknown_message",
        )
    if found[0].type != "statistics":
        raise StatisticsError("not_statistics", message_id=found[0].message_id, type=found[0].type)
    return found[0]


def _stated_period(event: Any) -> tuple[Any, Any]:
    from liaison.domain.statistics import read_statistics

    stated = read_statistics(event)
    return stated.period_start, stated.period_end


def _notice(
    book: CaseBook,
    report: StatisticsReport,
    result: Reconciliation | None,
    args: argparse.Namespace,
) -> str:
    """The statistics notice (a reply when comparing), checked by the catalogue's own parser."""
    from liaison.domain.case_events import country_side
    from liaison.domain.notices import parse_notice
    from liaison.domain.statistics import period_reference, statistics_fields

    own = book.agency
    header: dict[str, Any] = {
        "our_ref": period_reference(report.period),
        "sender_unit": own,
        "recipient_unit": args.recipient or (result.counterpart if result else ""),
        "case_ref": period_reference(report.period),
        "handling": "H2",  # victims' data: not passed on without the provider's permission
        "priority": "normal",
    }
    lang = "zh" if country_side(own) == "CN" else "vi"
    if result is None:
        fields = statistics_fields(report, lang=lang)
    else:
        answered = book.event(result.message_id)
        their_ref = answered.header.get("our_ref") if answered is not None else None
        if isinstance(their_ref, str):
            header["their_ref"] = their_ref
        fields = statistics_fields(
            report,
            in_reply_to=result.message_id,
            reconciliation="agreed" if result.agreed else "disputed",
            states=result.states(),
            lang=lang,
        )
    document = {"liaison_notice": 1, "type": "statistics", "header": header, "fields": fields}
    with notice_refusals():  # what this command writes must pass `liaison notice check`
        parse_notice(document)
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _charts(
    report: StatisticsReport, result: Reconciliation | None, langs: tuple[str, ...]
) -> dict[str, str]:
    from liaison.i18n import charts

    return charts.report_charts(report, result, langs)


def _pdf(report: StatisticsReport, result: Reconciliation | None) -> bytes:
    """The report's A4 PDF, always in both border languages (a document both sides read)."""
    from liaison.i18n import report as words
    from liaison.i18n.errors import pdf_unavailable_text
    from liaison.i18n.pdf import INSTALL_HINT, PdfUnavailable
    from liaison.i18n.report_pdf import report_pdf

    langs = words.languages("both")
    try:
        return report_pdf(report, result, langs, _charts(report, result, langs))
    except PdfUnavailable as exc:
        raise CommandError(pdf_unavailable_text(INSTALL_HINT), code=exc.code) from None
