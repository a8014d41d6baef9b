"""The desk's statistics pages: the period's figures from the cases this device holds (the same
computation as `liaison report`), the cases behind each figure, and a counterpart's statistics
notice set beside them. The charts are the `--svg` charts, inline SVG (no script)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from markupsafe import Markup

from liaison.client.cases import CaseBook
from liaison.desk.language import request_language, translate
from liaison.desk.state import DESK
from liaison.desk.views import render
from liaison.domain.agencies import AGENCY_CODE
from liaison.domain.statistics import (
    Period,
    StatisticsError,
    StatisticsReport,
    compute_statistics,
    parse_day,
    read_statistics,
    reconcile,
    zone_of,
)
from liaison.i18n import N_
from liaison.i18n import report as words
from liaison.i18n.charts import report_charts

# The table's languages: the officer's first, then the rest of the border's pair (as the command
# line's default `--lang both`); English readers get both border languages beside theirs.
DESK_REPORT_LANGUAGES = {"vi": ("vi", "zh"), "zh": ("zh", "vi"), "en": ("en", "vi", "zh")}
# The charts' order on the page.
CHART_NAMES = ("months.svg", "gates.svg", "categories.svg")
_NOT_AN_AGENCY = N_("Not an agency code such as VN-QN-CA: {code}")


def _charts(svgs: dict[str, str]) -> dict[str, Markup]:
    """The charts as markup to place inline: report_charts escapes every label it draws."""
    return {name: Markup(svg) for name, svg in svgs.items()}  # noqa: S704


def _labels(code: str, langs: tuple[str, ...]) -> list[str]:
    return [words.figure_label(code, lang) for lang in langs]


def _period_query(report: StatisticsReport) -> dict[str, str]:
    query = {"from": report.period.start.isoformat(), "to": report.period.end.isoformat()}
    if report.agency:
        query["agency"] = report.agency
    return query


def _received_statistics(book: CaseBook) -> list[Any]:
    """The counterparts' statistics notices on this device, newest first."""
    return sorted(
        (e for e in book.events if e.type == "statistics" and e.sender_agency != book.agency),
        key=lambda e: e.log_index,
        reverse=True,
    )


def _period_form(request: web.Request) -> tuple[dict[str, str], date | None, date | None, str]:
    """The form's values, the period's days (None when not given) and an error ("" if none)."""
    values = {key: request.query.get(key, "").strip()[:40] for key in ("from", "to", "agency")}
    language = request_language(request)
    if not values["from"] and not values["to"]:
        return values, None, None, ""
    try:
        start, end = parse_day(values["from"]), parse_day(values["to"])
        if end < start:
            raise StatisticsError("period_reversed", start=start, end=end)
    except StatisticsError as exc:
        return values, None, None, words.error_message(exc, language)
    if values["agency"] and not AGENCY_CODE.match(values["agency"]):
        return values, None, None, translate(language, _NOT_AN_AGENCY).format(code=values["agency"])
    return values, start, end, ""


def _compute(book: CaseBook, start: date, end: date, agency: str) -> StatisticsReport:
    period = Period(start, end, zone_of(agency or book.agency))
    return compute_statistics(book.cases.values(), period, agency=agency or None)


async def statistics(request: web.Request) -> web.StreamResponse:
    """GET /statistics?from=YYYY-MM-DD&to=YYYY-MM-DD[&agency=CODE] — the period's figures, each
    with a link to its cases, and the charts; the received statistics notices to compare."""
    language = request_language(request)
    langs = DESK_REPORT_LANGUAGES[language]
    book = await request.app[DESK].officer.case_book()
    values, start, end, error = _period_form(request)
    report = None
    if start is not None and end is not None:
        report = _compute(book, start, end, values["agency"])
    return render(
        request,
        "statistics.html",
        status=400 if error else 200,
        values=values,
        error=error,
        report=report,
        langs=langs,
        labels=lambda code: _labels(code, langs),
        query=_period_query(report) if report is not None else {},
        charts=_charts(report_charts(report, None, langs)) if report is not None else {},
        chart_names=CHART_NAMES,
        received=_received_statistics(book),
    )


async def explain(request: web.Request) -> web.StreamResponse:
    """GET /statistics/explain?figure=CODE&from=…&to=…[&agency=…] — the cases behind a figure
    (`liaison report --explain`), each linking to its case page."""
    language = request_language(request)
    langs = DESK_REPORT_LANGUAGES[language]
    values, start, end, error = _period_form(request)
    if start is None or end is None:
        raise web.HTTPSeeOther("/statistics")
    book = await request.app[DESK].officer.case_book()
    report = _compute(book, start, end, values["agency"])
    code = request.query.get("figure", "")
    try:
        figure = report.figure(code)
    except StatisticsError:
        raise web.HTTPNotFound() from None
    return render(
        request,
        "statistics_explain.html",
        report=report,
        code=code,
        labels=_labels(code, langs),
        figure=figure,
        cases=figure.cases(),
        query=_period_query(report),
    )


async def compare(request: web.Request) -> web.StreamResponse:
    """GET /statistics/compare/{message_id} — a counterpart's statistics notice beside this
    device's figures for the same period, the differences marked and traced to cases."""
    language = request_language(request)
    langs = DESK_REPORT_LANGUAGES[language]
    book = await request.app[DESK].officer.case_book()
    event = book.event(request.match_info["message_id"])
    if event is None or event.type != "statistics":
        raise web.HTTPNotFound()
    try:
        stated = read_statistics(event)
        report = _compute(book, stated.period_start, stated.period_end, "")
        result = reconcile(report, event)
    except StatisticsError as exc:
        return render(
            request,
            "refused.html",
            status=400,
            reason=words.error_message(exc, language),
        )
    return render(
        request,
        "statistics_compare.html",
        report=report,
        result=result,
        langs=langs,
        labels=lambda code: _labels(code, langs),
        state_label=lambda state: words.state_label(state, language),
        query=_period_query(report),
        chart=_charts(report_charts(report, result, langs))["compare.svg"],
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/statistics", statistics)
    app.router.add_get("/statistics/explain", explain)
    app.router.add_get("/statistics/compare/{message_id}", compare)
