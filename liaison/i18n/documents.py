"""Signable bilingual documents: the handover record and the letter form, rendered from Jinja2
templates (liaison/i18n/templates/) out of plain mappings of already-formatted values, as HTML
or as A4 PDF.

The caller (the notice renderer) formats every value in its language; these templates hold only
the fixed legal wording of each column: the opening formula and closing of a handover record
("Hôm nay, hồi … giờ …" / "于……年……月……日……时"), the "Kính gửi" of a Vietnamese letter, the
主送机关 of a Chinese 公函, signature notes.

Values (see tests/i18n/test_documents.py for complete examples):

handover record: {"reference", "counterpart_reference"?, "message_id"?, "vi": column, "zh": column}
  column = {"issuing_unit", "subtitle"?, "handling"?, "counterpart_unit"? (with a counterpart
  reference), "time": {"date", "hour", "minute", "zone"}, "place",
  "sides": [{"heading", "members": [{"name", "position"?, "unit"?}]}],
  "persons": [{"name", "rows": [[label, value]]}], "sections": [{"heading", "items": [str]}],
  "signatures": [{"heading", "name", "position"?}]}
letter: {"reference", "counterpart_reference"?, "message_id"?, "vi": column, "zh": column}
  column = {"issuing_unit", "place", "date", "subject", "addressee", "handling"?,
  "body": [{"label"?, "items": [str]}], "signature": {"title", "name"}}
The lists of the two columns are parallel (row i of one is row i of the other).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from liaison.i18n.pdf import html_to_pdf

COLUMNS = ("vi", "zh")
# Keys whose lists must have as many rows in the Vietnamese column as in the Chinese one.
_PARALLEL = {
    "handover_record.html": ("sides", "persons", "sections", "signatures"),
    "letter.html": ("body",),
}


class DocumentValuesError(ValueError):
    """The values cannot make a document: a missing value or columns that do not match."""


def vi_document_date(value: date) -> str:
    """ "ngày 07 tháng 02 năm 2027": Decree 30/2020 puts a zero before days below 10 and before
    months 1 and 2 (so that nothing can be added in front of them), not before other months."""
    month = f"{value.month:02d}" if value.month < 3 else str(value.month)
    return f"ngày {value.day:02d} tháng {month} năm {value.year}"


def zh_document_date(value: date) -> str:
    """ "2027年2月7日": Chinese official documents write the date without leading zeros."""
    return f"{value.year}年{value.month}月{value.day}日"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("liaison.i18n", "templates"),
        # Every value is officer-supplied text: escaped, always.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> Markup:
    # The package's own stylesheet, not a value: it goes into <style> unescaped.
    text = resources.files("liaison.i18n").joinpath("templates/_document.css").read_text("utf-8")
    return Markup(text)  # noqa: S704 - our own file, never user input


def _render(template: str, values: Mapping[str, Any]) -> str:
    for column in COLUMNS:
        if not isinstance(values.get(column), Mapping):
            raise DocumentValuesError(f"the {column} column is missing")
    for key in _PARALLEL[template]:
        counts = {column: len(values[column].get(key, ())) for column in COLUMNS}
        if len(set(counts.values())) != 1:
            raise DocumentValuesError(f"{key}: the columns differ ({counts})")
    context = {"counterpart_reference": None, "message_id": None, **values, "css": _css()}
    for column in COLUMNS:
        # Optional values of a column default to absent rather than failing StrictUndefined.
        context[column] = {
            "handling": None,
            "subtitle": None,
            "counterpart_unit": "",
            **values[column],
        }
    try:
        return _environment().get_template(template).render(context)
    except jinja2.UndefinedError as exc:
        raise DocumentValuesError(str(exc)) from exc


def render_handover_record(values: Mapping[str, Any]) -> str:
    """The bilingual handover record both sides sign, as a complete HTML document."""
    return _render("handover_record.html", values)


def render_letter(values: Mapping[str, Any]) -> str:
    """A notice in the letter form of official correspondence, as a complete HTML document."""
    return _render("letter.html", values)


def page_reference(reference: str) -> str:
    """The line printed at the top of every page: the document number in both languages."""
    return f"Số: {reference}   ·   编号：{reference}"


def handover_record_pdf(values: Mapping[str, Any]) -> bytes:
    """The handover record as an A4 PDF (raises pdf.PdfUnavailable without WeasyPrint/fonts)."""
    return html_to_pdf(
        render_handover_record(values), reference=page_reference(values["reference"])
    )


def letter_pdf(values: Mapping[str, Any]) -> bytes:
    """A letter-form notice as an A4 PDF (raises pdf.PdfUnavailable without WeasyPrint/fonts)."""
    return html_to_pdf(render_letter(values), reference=page_reference(values["reference"]))
