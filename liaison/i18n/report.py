"""The statistics report in words: figure labels, the bilingual table, CSV, JSON, explanations,
the side-by-side reconciliation and the refusals of `liaison report`."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from liaison.domain.places import gate_pair
from liaison.domain.statistics import (
    PLACE_PREFIX,
    Reconciliation,
    StatisticsError,
    StatisticsReport,
)
from liaison.i18n import LANGUAGE_ALIASES, N_, gettext_for
from liaison.i18n.dates import format_official_date

# "both" is the border's pair: Vietnamese and Chinese side by side.
LANGUAGE_SETS = {"both": ("vi", "zh"), "vi": ("vi",), "zh": ("zh",), "en": ("en",)}

FIGURE_LABELS = {
    "received": N_("Persons received by the Vietnamese side"),
    "received.sex.female": N_("Received: female"),
    "received.sex.male": N_("Received: male"),
    "received.sex.unknown": N_("Received: sex unknown"),
    "received.age.0-13": N_("Received: children under 14"),
    "received.age.14-17": N_("Received: aged 14 to 17"),
    "received.age.18+": N_("Received: adults (18 and over)"),
    "received.age.unknown": N_("Received: age unknown"),
    "received.age.estimated": N_("Received: age band from a year-only or estimated birth date"),
    "handed_over": N_("Persons handed over across the border"),
    "handed_over.cn_to_vn": N_("Handed over: China to Vietnam"),
    "handed_over.vn_to_cn": N_("Handed over: Vietnam to China"),
    "self_returned": N_("Persons who returned by themselves"),
    "verified.confirmed": N_("Verification: confirmed"),
    "verified.not_confirmed": N_("Verification: not confirmed"),
    "verified.pending": N_("Verification: pending"),
    "identified": N_("Identified as victims (received, identity confirmed)"),
    "referred": N_("Persons referred"),
    "shelter": N_("Persons in temporary shelter"),
    "support.open": N_("Support periods open at the end of the period"),
    "support.closed": N_("Support periods closed in the period"),
}
_HANDED_OVER_AT = N_("Handed over at {place}")
_MARKER = N_("Border marker {number}")
_POINT = N_("a named point")

STATE_LABELS = {
    "proposed": N_("awaiting reconciliation"),
    "agreed": N_("reconciled, figures agree"),
    "disputed": N_("figures differ"),
}

ERROR_MESSAGES = {
    "bad_date": N_("Not a date in the form YYYY-MM-DD: {value}"),
    "period_reversed": N_("The period ends ({end}) before it starts ({start})."),
    "unknown_figure": N_("No figure {figure} in this report. Figures: {known}"),
    "not_statistics": N_("Message {message_id} is a {type} notice, not periodic statistics."),
    "period_mismatch": N_(
        "The counterpart's statistics cover {theirs}, this report {ours}: compare the same period."
    ),
    "too_many_cases": N_(
        "The {cases} cases of this period do not fit in one statistics notice ({chars} of "
        "{limit} characters): split the period."
    ),
}


def languages(choice: str) -> tuple[str, ...]:
    return LANGUAGE_SETS.get(choice, ("vi", "zh"))


def _t(language: str, msgid: str) -> str:
    return gettext_for(LANGUAGE_ALIASES.get(language, language), msgid)


def error_message(error: StatisticsError, language: str) -> str:
    params = dict(error.params)
    if "known" in params:
        params["known"] = ", ".join(params["known"])
    return _t(language, ERROR_MESSAGES[error.code]).format(**params)


def place_label(key: str, language: str) -> str:
    """A handover place category (gate pair id, marker-N, point) in `language`."""
    pair = gate_pair(key)
    lang = LANGUAGE_ALIASES.get(language, language)
    if pair is not None:
        return f"{pair.vn.name(lang)} – {pair.cn.name(lang)}"
    if key.startswith("marker-"):
        return _t(language, _MARKER).format(number=key[len("marker-") :])
    if key == "point":
        return _t(language, _POINT)
    return key


def figure_label(code: str, language: str) -> str:
    if code.startswith(PLACE_PREFIX):
        place = place_label(code[len(PLACE_PREFIX) :], language)
        return _t(language, _HANDED_OVER_AT).format(place=place)
    msgid = FIGURE_LABELS.get(code)
    return _t(language, msgid) if msgid else code


def state_label(state: str, language: str) -> str:
    return _t(language, STATE_LABELS[state])


def _both(msgid: str, langs: Sequence[str], **params: Any) -> str:
    return " / ".join(_t(lang, msgid).format(**params) for lang in langs)


def _period_line(report_period: Any, langs: Sequence[str]) -> str:
    parts = []
    for lang in langs:
        start = format_official_date(report_period.start, LANGUAGE_ALIASES[lang])
        end = format_official_date(report_period.end, LANGUAGE_ALIASES[lang])
        parts.append(_t(lang, N_("Period: {start} to {end}")).format(start=start, end=end))
    zone = _both(N_("days counted in the time zone {zone}"), langs, zone=report_period.zone)
    return " / ".join(parts) + f" ({zone})"


def _width(text: str) -> int:
    """Terminal columns: Chinese characters and full-width punctuation take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(row) for row in rows]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            cells.append(pad + cell if cell.isdigit() else cell + pad)
        out.append("  ".join(cells).rstrip())
    return out


# --- The report -------------------------------------------------------------------------------
def render_report_text(report: StatisticsReport, langs: Sequence[str]) -> str:
    lines = [_both(N_("Periodic statistics from the cases on this device"), langs)]
    lines.append(_period_line(report.period, langs))
    if report.agency:
        lines.append(_both(N_("Cases of agency {agency}"), langs, agency=report.agency))
    header = [_t(lang, N_("Figure")) for lang in langs]
    header += [
        _both(N_("Persons"), langs),
        _both(N_("Number of cases"), langs),
        _both(N_("Code"), langs),
    ]
    rows = [header]
    for code, figure in report.figures.items():
        labels = [figure_label(code, lang) for lang in langs]
        rows.append([*labels, str(figure.count), str(figure.case_count), code])
    lines += _table(rows)
    lines.append(
        _both(N_("Show the cases behind a figure: liaison report … --explain FIGURE"), langs)
    )
    return "\n".join(lines) + "\n"


def report_json(report: StatisticsReport) -> dict[str, Any]:
    return {
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "zone": report.period.zone,
        },
        "agency": report.agency,
        "figures": [
            {
                "figure": code,
                "labels": {lang: figure_label(code, lang) for lang in ("vi", "zh", "en")},
                "persons": figure.count,
                "cases": [{"case_ref": ref, "persons": n} for ref, n in figure.cases().items()],
            }
            for code, figure in report.figures.items()
        ],
        "monthly": report.monthly,
    }


def report_csv(report: StatisticsReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["figure", "label_vi", "label_zh", "label_en", "persons", "cases"])
    for code, figure in report.figures.items():
        labels = [figure_label(code, lang) for lang in ("vi", "zh", "en")]
        cases = " ".join(figure.cases())
        writer.writerow([code, *labels, figure.count, cases])
    return buffer.getvalue()


def render_explain_text(report: StatisticsReport, code: str, langs: Sequence[str]) -> str:
    figure = report.figure(code)
    cases = figure.cases()
    lines = [" / ".join(figure_label(code, lang) for lang in langs) + f" [{code}]"]
    lines.append(_period_line(report.period, langs))
    lines.append(
        _both(
            N_("{persons} persons in {cases} cases (by case reference on this device):"),
            langs,
            persons=figure.count,
            cases=len(cases),
        )
    )
    rows = [[_both(N_("Case reference"), langs), _both(N_("Persons"), langs)]]
    rows += [[ref, str(n)] for ref, n in cases.items()]
    lines += ["  " + line for line in _table(rows)]
    return "\n".join(lines) + "\n"


def explain_json(report: StatisticsReport, code: str) -> dict[str, Any]:
    figure = report.figure(code)
    return {
        "figure": code,
        "labels": {lang: figure_label(code, lang) for lang in ("vi", "zh", "en")},
        "persons": figure.count,
        "cases": [{"case_ref": ref, "persons": n} for ref, n in figure.cases().items()],
    }


# --- Reconciliation ---------------------------------------------------------------------------
def render_reconciliation_text(result: Reconciliation, langs: Sequence[str]) -> str:
    lines = [
        _both(
            N_("Data synchronisation with {agency} (message {message_id})"),
            langs,
            agency=result.counterpart,
            message_id=result.message_id,
        )
    ]
    header = [_t(lang, N_("Figure")) for lang in langs]
    header += [_both(N_("This side"), langs), _both(N_("Counterpart"), langs)]
    header += [_t(lang, N_("State")) for lang in langs]
    rows = [header]
    for f in result.figures:
        theirs = "-" if f.theirs is None else str(f.theirs)
        states = [state_label(f.state, lang) for lang in langs]
        rows.append([*(figure_label(f.code, lang) for lang in langs), str(f.ours), theirs, *states])
    lines += _table(rows)
    for f in result.figures:
        if f.state != "disputed":
            continue
        labels = " / ".join(figure_label(f.code, lang) for lang in langs)
        lines.append(f"{labels} [{f.code}]: {f.ours} ≠ {f.theirs}")
        if f.only_ours:
            lines.append(
                "  "
                + _both(N_("only this side counts: {cases}"), langs, cases=", ".join(f.only_ours))
            )
        if f.different:
            lines.append(
                "  "
                + _both(
                    N_("both count, under different categories: {cases}"),
                    langs,
                    cases=", ".join(f.different),
                )
            )
    if not result.coverage_known:
        lines.append(
            _both(
                N_("The counterpart's notice names no cases: differences cannot be traced."),
                langs,
            )
        )
    if result.only_theirs_held:
        lines.append(
            _both(
                N_("Only the counterpart counts these cases held here: {cases}"),
                langs,
                cases=", ".join(result.only_theirs_held),
            )
        )
    if result.only_theirs_unknown:
        lines.append(
            _both(
                N_(
                    "Only the counterpart counts cases this device does not hold "
                    "(case tags): {tags}"
                ),
                langs,
                tags=" ".join(result.only_theirs_unknown),
            )
        )
    if result.boundary:
        lines.append(
            _both(
                N_("On the period's edge in the counterpart's time zone: {cases}"),
                langs,
                cases=", ".join(result.boundary),
            )
        )
    overall = "agreed" if result.agreed else "disputed"
    lines.append(" / ".join(state_label(overall, lang) for lang in langs))
    return "\n".join(lines) + "\n"


def reconciliation_json(result: Reconciliation) -> dict[str, Any]:
    return {
        "message_id": result.message_id,
        "counterpart": result.counterpart,
        "period": {
            "start": result.stated.period_start.isoformat(),
            "end": result.stated.period_end.isoformat(),
            "zone": result.stated.zone,
        },
        "state": "agreed" if result.agreed else "disputed",
        "figures": [
            {
                "figure": f.code,
                "labels": {lang: figure_label(f.code, lang) for lang in ("vi", "zh", "en")},
                "ours": f.ours,
                "theirs": f.theirs,
                "state": f.state,
                "only_ours": list(f.only_ours),
                "different": list(f.different),
            }
            for f in result.figures
        ],
        "coverage_known": result.coverage_known,
        "only_ours": list(result.only_ours),
        "only_theirs_held": list(result.only_theirs_held),
        "only_theirs_unknown": list(result.only_theirs_unknown),
        "different": list(result.different),
        "boundary": list(result.boundary),
    }


def reconciliation_csv(result: Reconciliation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["figure", "label_vi", "label_zh", "ours", "theirs", "state", "only_ours", "different"]
    )
    for f in result.figures:
        writer.writerow(
            [
                f.code,
                figure_label(f.code, "vi"),
                figure_label(f.code, "zh"),
                f.ours,
                "" if f.theirs is None else f.theirs,
                f.state,
                " ".join(f.only_ours),
                " ".join(f.different),
            ]
        )
    return buffer.getvalue()
