"""The statistics report as an A4 PDF: the bilingual figures table (and, when comparing, the two
sides side by side), the same SVG charts as `liaison report --svg`, the period as the reference
on every page (liaison.i18n.pdf)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from liaison.domain.statistics import Reconciliation, StatisticsReport, period_reference
from liaison.i18n import N_
from liaison.i18n.pdf import html_to_pdf
from liaison.i18n.report import _both, _period_line, _t, figure_label, state_label

# The charts in the order they are printed.
CHART_ORDER = ("months.svg", "gates.svg", "categories.svg", "compare.svg")
_CSS = """
h1 { font-size: 14pt; margin: 0 0 4pt 0; }
p.period { margin: 0 0 8pt 0; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th, td { border: 0.5pt solid #777; padding: 2pt 4pt; text-align: left; vertical-align: top; }
td.number { text-align: right; }
tr.disputed td { background: #fde8e8; }
tr { page-break-inside: avoid; }
.chart { page-break-inside: avoid; margin-top: 10pt; }
.chart svg { max-width: 100%; height: auto; }
"""


def _cell(text: object, *, lang: str | None = None, number: bool = False) -> str:
    attrs = (f' lang="{lang}"' if lang else "") + (' class="number"' if number else "")
    return f"<td{attrs}>{escape(str(text))}</td>"


def _header(cells: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in cells) + "</tr>"


def _figures_table(report: StatisticsReport, langs: Sequence[str]) -> str:
    head = [_t(lang, N_("Figure")) for lang in langs]
    head += [_both(N_("Persons"), langs), _both(N_("Number of cases"), langs)]
    head.append(_both(N_("Code"), langs))
    rows = [_header(head)]
    for code, figure in report.figures.items():
        cells = [_cell(figure_label(code, lang), lang=lang) for lang in langs]
        cells += [
            _cell(figure.count, number=True),
            _cell(figure.case_count, number=True),
            _cell(code),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _comparison_table(result: Reconciliation, langs: Sequence[str]) -> str:
    head = [_t(lang, N_("Figure")) for lang in langs]
    head += [_both(N_("This side"), langs), _both(N_("Counterpart"), langs)]
    head += [_t(lang, N_("State")) for lang in langs]
    rows = [_header(head)]
    for f in result.figures:
        cells = [_cell(figure_label(f.code, lang), lang=lang) for lang in langs]
        cells += [_cell(f.ours, number=True), _cell("–" if f.theirs is None else f.theirs)]
        marked = "≠ " if f.state == "disputed" else ""
        cells += [_cell(marked + state_label(f.state, lang), lang=lang) for lang in langs]
        rows.append(f'<tr class="{f.state}">' + "".join(cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def report_html(
    report: StatisticsReport,
    result: Reconciliation | None,
    langs: Sequence[str],
    charts: Mapping[str, str],
) -> str:
    """The printable report: every value escaped; `charts` are report_charts' SVG (escaped
    by it) and go in as they are."""
    title = _both(N_("Periodic statistics from the cases on this device"), langs)
    parts = [
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="period">{escape(_period_line(report.period, langs))}</p>',
    ]
    if report.agency:
        line = _both(N_("Cases of agency {agency}"), langs, agency=report.agency)
        parts.append(f"<p>{escape(line)}</p>")
    parts.append(_figures_table(report, langs))
    if result is not None:
        heading = _both(
            N_("Data synchronisation with {agency} (message {message_id})"),
            langs,
            agency=result.counterpart,
            message_id=result.message_id,
        )
        parts.append(f"<h1>{escape(heading)}</h1>")
        parts.append(_comparison_table(result, langs))
    parts += [f'<div class="chart">{charts[name]}</div>' for name in CHART_ORDER if name in charts]
    parts.append("</body></html>")
    return "\n".join(parts)


def report_pdf(
    report: StatisticsReport,
    result: Reconciliation | None,
    langs: Sequence[str],
    charts: Mapping[str, str],
) -> bytes:
    """The A4 PDF of the report; raises PdfUnavailable when WeasyPrint or the fonts are missing."""
    reference = f"{period_reference(report.period)} · {report.period.zone}"
    return html_to_pdf(report_html(report, result, langs, charts), reference=reference)
