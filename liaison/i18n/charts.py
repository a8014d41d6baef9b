"""Server-rendered SVG charts of the statistics report: plain SVG text, no script, every label
escaped; the desk and the PDF embed the same files."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from liaison.domain.statistics import (
    AGE_BANDS,
    OUTCOMES,
    PLACE_PREFIX,
    SEXES,
    Reconciliation,
    StatisticsReport,
)
from liaison.i18n import LANGUAGE_ALIASES, N_, gettext_for
from liaison.i18n.report import figure_label, state_label

OURS_COLOUR = "#1f5f9e"
THEIRS_COLOUR = "#d98c1f"
DIFFERENCE_COLOUR = "#c0202a"
_MONTH = N_("{month}/{year}")
_ROW = 18  # pixels per text line
_BAR_WIDTH = 300


@dataclass(frozen=True)
class Series:
    labels: tuple[str, ...]  # the series' name, one per language
    colour: str


@dataclass(frozen=True)
class Row:
    labels: tuple[str, ...]  # one line per language
    values: tuple[int | None, ...]  # one per series; None: not stated
    marked: bool = False  # a difference between the series


def _t(language: str, msgid: str) -> str:
    return gettext_for(LANGUAGE_ALIASES.get(language, language), msgid)


def _text(x: int, y: int, value: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v, quote=True)}"' for k, v in attrs.items())
    return f'<text x="{x}" y="{y}"{extra}>{escape(value, quote=False)}</text>'


def _text_width(text: str) -> int:
    """Pixels a label needs at 13 px sans-serif: Chinese characters are twice as wide."""
    return sum(13 if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in text)


def bar_chart(title: Sequence[str], series: Sequence[Series], rows: Sequence[Row]) -> str:
    """Horizontal bars, one group per row, every label in each language on its own line."""
    label_width = max([_text_width(line) for r in rows for line in r.labels] + [120]) + 16
    top = _ROW * (len(title) + 1) + _ROW * len(series) * max(len(s.labels) for s in series)
    lines_per_row = max([len(r.labels) for r in rows] + [len(series)])
    row_height = _ROW * lines_per_row + 8
    height = top + row_height * max(len(rows), 1) + _ROW
    width = label_width + _BAR_WIDTH + 100
    largest = max([v for r in rows for v in r.values if v is not None] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13" role="img">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    y = _ROW
    for line in title:
        parts.append(_text(8, y, line, font_weight="bold"))
        y += _ROW
    y += 4
    for s in series:
        parts.append(f'<rect x="8" y="{y - 11}" width="12" height="12" fill="{s.colour}"/>')
        for label in s.labels:
            parts.append(_text(26, y, label))
            y += _ROW
    y = top
    bar_height = max((row_height - 8) // max(len(series), 1) - 2, 6)
    for row in rows:
        for i, label in enumerate(row.labels):
            colour = {"fill": DIFFERENCE_COLOUR} if row.marked else {}
            parts.append(_text(8, y + 13 + i * _ROW, label, **colour))
        for k, (value, s) in enumerate(zip(row.values, series, strict=True)):
            bar_y = y + k * (bar_height + 2)
            length = 0 if value is None else round(_BAR_WIDTH * value / largest)
            parts.append(
                f'<rect x="{label_width}" y="{bar_y}" width="{length}" height="{bar_height}" '
                f'fill="{s.colour}"/>'
            )
            shown = "–" if value is None else str(value)
            parts.append(_text(label_width + length + 4, bar_y + bar_height - 2, shown))
        if row.marked:
            parts.append(
                f'<rect x="{label_width - 2}" y="{y - 2}" width="{_BAR_WIDTH + 70}" '
                f'height="{row_height - 4}" fill="none" stroke="{DIFFERENCE_COLOUR}" '
                'stroke-width="2" stroke-dasharray="4 2"/>'
            )
            mark_x = label_width + _BAR_WIDTH + 76
            parts.append(_text(mark_x, y + 14, "≠", fill=DIFFERENCE_COLOUR, font_weight="bold"))
        y += row_height
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _both(msgid: str, langs: Sequence[str], **params: str) -> tuple[str, ...]:
    return tuple(_t(lang, msgid).format(**params) for lang in langs)


def _figure_rows(report: StatisticsReport, codes: Sequence[str], langs: Sequence[str]) -> list[Row]:
    return [
        Row(tuple(figure_label(code, lang) for lang in langs), (report.count(code),))
        for code in codes
    ]


def report_charts(
    report: StatisticsReport, result: Reconciliation | None, langs: Sequence[str]
) -> dict[str, str]:
    """File name -> SVG: per month, by gate or place, by category, and the comparison."""
    period = f"{report.period.start.isoformat()} – {report.period.end.isoformat()}"
    ours = Series(_both(N_("This side"), langs), OURS_COLOUR)
    received = Series(tuple(figure_label("received", lang) for lang in langs), OURS_COLOUR)
    handed = Series(tuple(figure_label("handed_over", lang) for lang in langs), THEIRS_COLOUR)
    months = [
        Row(
            _both(_MONTH, langs, month=month[5:], year=month[:4]),
            (
                report.monthly.get("received", {}).get(month, 0),
                report.monthly.get("handed_over", {}).get(month, 0),
            ),
        )
        for month in report.period.months
    ]
    charts = {
        "months.svg": bar_chart(
            (*_both(N_("Persons per month"), langs), period), (received, handed), months
        ),
        "gates.svg": bar_chart(
            (*_both(N_("Persons handed over by gate or place"), langs), period),
            (ours,),
            _figure_rows(report, [c for c in report.figures if c.startswith(PLACE_PREFIX)], langs),
        ),
        "categories.svg": bar_chart(
            (*_both(N_("Persons by category"), langs), period),
            (ours,),
            _figure_rows(
                report,
                [
                    *(f"received.sex.{sex}" for sex in SEXES),
                    *(f"received.age.{band}" for band in AGE_BANDS),
                    *(f"verified.{outcome}" for outcome in OUTCOMES),
                ],
                langs,
            ),
        ),
    }
    if result is not None:
        theirs = Series(
            _both(N_("Counterpart: {agency}"), langs, agency=result.counterpart), THEIRS_COLOUR
        )
        rows = [
            Row(
                tuple(
                    f"{figure_label(f.code, lang)} ({state_label(f.state, lang)})" for lang in langs
                ),
                (f.ours, f.theirs),
                marked=f.state == "disputed",
            )
            for f in result.figures
            if f.theirs is not None or f.ours
        ]
        charts["compare.svg"] = bar_chart(
            (*_both(N_("Data synchronisation"), langs), period), (ours, theirs), rows
        )
    return charts
