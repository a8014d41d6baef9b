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

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from liaison.domain.agencies import agency
from liaison.domain.code_lists import NATIONALITY, code_list
from liaison.domain.fields import Field, ListOf
from liaison.domain.notices import HEADER_FIELDS, PERSON_FIELDS, Notice
from liaison.i18n import N_, gettext_for
from liaison.i18n.dates import CN_ZONE, VN_ZONE, parse_utc, vi_document_date, zone_note
from liaison.i18n.pdf import html_to_pdf
from liaison.i18n.render import (
    NoticeRenderer,
    Row,
    handling_banner,
    message_attachments,
    strip_transliteration_mark,
    text_value,
)

COLUMNS = ("vi", "zh")
# Keys whose lists must have as many rows in the Vietnamese column as in the Chinese one.
_PARALLEL = {
    "handover_record.html": ("sides", "persons", "sections", "signatures"),
    "letter.html": ("body",),
}


class DocumentValuesError(ValueError):
    """The values cannot make a document: a missing value or columns that do not match."""


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
    context = {
        "counterpart_reference": None,
        "message_id": None,
        "reply_to_message_id": None,
        **values,
        "css": _css(),
    }
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


# --- From a notice to the two columns ------------------------------------------------------

# The column languages, as catalogue locales.
_COLUMN_LOCALES = {"vi": "vi", "zh": "zh_Hans_CN"}
# Header fields the letter frame itself prints (number, units, the counterpart's reference).
_FRAME_HEADER = ("our_ref", "their_ref", "sender_unit", "recipient_unit", "handling")
# Fields the handover record prints in its own places rather than as sections.
_RECORD_FRAME = ("in_reply_to", "completed_at", "place", "persons", "signatories")
SIDE_REPRESENTATIVES = {
    "vn": N_("Representatives of the Vietnamese side"),
    "cn": N_("Representatives of the Chinese side"),
}
HANDING_OVER = N_("handing over")
RECEIVING = N_("receiving")
RECORD_SUBTITLE = N_("On the handover and reception of persons")
HEAD_OF_UNIT = N_("Head of unit")


def _zone_of(locale: str) -> str:
    return CN_ZONE if locale.startswith("zh") else VN_ZONE


def _side_of_agency(code: str) -> str | None:
    prefix = code.split("-", 1)[0]
    return {"VN": "vn", "CN": "cn"}.get(prefix)


def handing_over_side(notice: Notice) -> str | None:
    """Which side hands the persons over: the persons go to the country of their nationality
    (VN → the Chinese side hands over, CN → the Vietnamese side); None when the persons'
    nationalities are unknown or mixed."""
    sides = set()
    for person in notice.fields.get("persons", ()):
        value = person.get("nationality")
        entry = code_list(NATIONALITY).find(value) if value else None
        sides.add({"VN": "cn", "CN": "vn"}.get(entry.code) if entry else None)
    if len(sides) == 1:
        return sides.pop()
    return None


def _text_in(value: Mapping[str, Any], locale: str) -> str:
    """Free text for a column: its translation into the column's language when there is one."""
    translation = value.get("translation")
    if translation is not None and translation["lang"] == locale[:2]:
        return str(translation["text"])
    return str(value["text"])


def _unit(code: str, locale: str) -> str:
    entry = agency(code)
    return entry.name(locale) if entry is not None else code


def _item(row: Row, locale: str) -> str:
    zh = locale.startswith("zh")
    colon = "：" if zh else ": "
    value = text_value(row, "", zh)
    indent = "\u00a0\u00a0" * max(row.depth - 1, 0)
    if row.value is None:
        return f"{indent}{row.label}{colon.strip()}"
    return f"{indent}{row.label}{colon}{value}"


def _field_rows(
    f: Field, value: Any, locale: str, attachments: Sequence[Mapping[str, Any]] = ()
) -> list[Row]:
    renderer = NoticeRenderer(locale, printed=True, attachments=attachments)
    renderer.field(f, value, 0)
    return renderer.rows


def _sections(
    spec: tuple[Field, ...],
    values: Mapping[str, Any],
    skip: tuple[str, ...],
    locale: str,
    *,
    merge_plain: bool = True,
    attachments: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """One section per field: a list or block under its label; plain fields together in a first
    section without a label (`merge_plain`) or each under its own label."""
    t = gettext_for
    sections: list[dict[str, Any]] = []
    plain: list[str] = []
    for f in spec:
        if f.name in skip or f.name not in values:
            continue
        rows = _field_rows(f, values[f.name], locale, attachments)
        if len(rows) == 1 and rows[0].value is not None and not isinstance(f.kind, ListOf):
            if merge_plain:
                plain.append(_item(rows[0], locale))
            else:
                value = text_value(rows[0], "", locale.startswith("zh"))
                sections.append({"label": t(locale, f.label), "items": [value]})
            continue
        zh = locale.startswith("zh")
        # The field's own row is the section's label: its value (a place) stands alone.
        # (a list of blocks keeps each item's "label (1/2)" heading when there are several).
        several = isinstance(f.kind, ListOf) and len(values[f.name]) > 1
        items = [
            text_value(row, "", zh)
            if row.depth == 0 and row.value is not None
            else _item(row, locale)
            for row in rows
            if row.depth > 0 or row.value is not None or several
        ]
        if isinstance(f.kind, ListOf) and all(row.depth == 0 for row in rows):
            # A list of plain values: the values alone under the field's label.
            items = [text_value(row, "", zh) for row in rows]
        sections.append({"label": t(locale, f.label), "items": items})
    if plain:
        sections.insert(0, {"items": plain})
    return sections


def _document_date(moment: datetime, column: str) -> str:
    local = moment.astimezone(ZoneInfo(_zone_of(_COLUMN_LOCALES[column])))
    return vi_document_date(local.date()) if column == "vi" else zh_document_date(local.date())


def _banner(notice: Notice, locale: str) -> str:
    return handling_banner(notice.handling)[0 if locale == "vi" else 1]


def _common(notice: Notice, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {"reference": notice.header["our_ref"]}
    if "their_ref" in notice.header:
        values["counterpart_reference"] = notice.header["their_ref"]
    if meta and meta.get("message_id"):
        values["message_id"] = meta["message_id"]
    if "in_reply_to" in notice.fields:
        values["reply_to_message_id"] = notice.fields["in_reply_to"]
    return values


def letter_values(notice: Notice, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The letter form of `notice` (any type but the handover record): both columns."""
    values = _common(notice, meta)
    attachments = message_attachments(meta)
    sent = parse_utc(meta["sent_at"]) if meta and meta.get("sent_at") else datetime.now(UTC)
    sender = agency(notice.header["sender_unit"])
    header_spec = tuple(f for f in HEADER_FIELDS if f.name not in _FRAME_HEADER)
    for column, locale in _COLUMN_LOCALES.items():
        body = _sections(header_spec, notice.header, (), locale)
        body += _sections(
            notice.spec().fields,
            notice.fields,
            ("in_reply_to",),
            locale,
            attachments=attachments,
        )
        values[column] = {
            "issuing_unit": _unit(notice.header["sender_unit"], locale),
            "place": sender.seat_name(locale) if sender is not None else "",
            "date": _document_date(sent, column),
            "subject": gettext_for(locale, notice.title()),
            "addressee": _unit(notice.header["recipient_unit"], locale),
            "handling": _banner(notice, locale),
            "body": body,
            "signature": {"title": gettext_for(locale, HEAD_OF_UNIT), "name": ""},
        }
    return values


def _side_heading(side: str, role: str | None, locale: str) -> str:
    heading = gettext_for(locale, SIDE_REPRESENTATIVES[side])
    if role is None:
        return heading
    role_text = gettext_for(locale, role)
    return f"{heading}（{role_text}）" if locale.startswith("zh") else f"{heading} ({role_text})"


def _person_block(
    person: Mapping[str, Any], locale: str, attachments: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    name = person["name"]
    if locale.startswith("zh") and "name_zh" in person:
        name = f"{name}（{strip_transliteration_mark(person['name_zh'])}，音）"
    rows = []
    for f in PERSON_FIELDS:
        if f.name in ("name", "name_zh") or f.name not in person:
            continue
        for row in _field_rows(f, person[f.name], locale, attachments):
            label = ("\u00a0\u00a0" * row.depth) + row.label
            rows.append([label, text_value(row, "", locale.startswith("zh"))])
    return {"name": name, "rows": rows}


def handover_record_values(notice: Notice, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The handover record both sides sign, from a handover_record notice: both columns."""
    values = _common(notice, meta)
    attachments = message_attachments(meta)
    fields = notice.fields
    completed = parse_utc(fields["completed_at"])
    giver = handing_over_side(notice)
    order = [giver, "vn" if giver == "cn" else "cn"] if giver else ["vn", "cn"]
    by_side: dict[str, list[Mapping[str, Any]]] = {"vn": [], "cn": []}
    for signatory in fields["signatories"]:
        by_side[signatory["side"]].append(signatory)
    place_field = next(f for f in notice.spec().fields if f.name == "place")
    for column, locale in _COLUMN_LOCALES.items():
        zh = locale.startswith("zh")
        local = completed.astimezone(ZoneInfo(_zone_of(locale)))
        place_rows = _field_rows(place_field, fields["place"], locale)
        sides = []
        signatures = []
        for side in order:
            role = None if giver is None else (HANDING_OVER if side == giver else RECEIVING)
            members = []
            for signatory in by_side[side]:
                member = {"name": signatory["name"], "unit": _unit(signatory["agency"], locale)}
                if "position" in signatory:
                    member["position"] = _text_in(signatory["position"], locale)
                members.append(member)
            sides.append({"heading": _side_heading(side, role, locale), "members": members})
            first = by_side[side][0] if by_side[side] else {}
            signature = {
                "heading": gettext_for(locale, SIDE_REPRESENTATIVES[side]),
                "name": first.get("name", ""),
            }
            if "position" in first:
                signature["position"] = _text_in(first["position"], locale)
            if not zh:
                signature["heading"] = signature["heading"].upper()
            signatures.append(signature)
        values[column] = {
            "issuing_unit": _unit(notice.header["sender_unit"], locale),
            "subtitle": gettext_for(locale, RECORD_SUBTITLE),
            "handling": _banner(notice, locale),
            "counterpart_unit": _unit(notice.header["recipient_unit"], locale),
            "time": {
                "date": _document_date(completed, column),
                "hour": f"{local:%H}",
                "minute": f"{local:%M}",
                "zone": zone_note(_zone_of(locale), locale)[1:-1],
            },
            "place": text_value(place_rows[0], "", zh),
            "sides": sides,
            "persons": [_person_block(p, locale, attachments) for p in fields["persons"]],
            "sections": [
                {"heading": s.get("label", ""), "items": s["items"]}
                for s in _sections(
                    notice.spec().fields,
                    fields,
                    _RECORD_FRAME,
                    locale,
                    merge_plain=False,
                    attachments=attachments,
                )
            ],
            "signatures": signatures,
        }
    return values


def notice_document(notice: Notice, meta: Mapping[str, Any] | None = None) -> str:
    """`notice` as the signable bilingual document (HTML): the handover record for a handover
    record, the letter form for every other type. H2 notices are refused by the caller."""
    if notice.type == "handover_record":
        return render_handover_record(handover_record_values(notice, meta))
    return render_letter(letter_values(notice, meta))


def notice_pdf(notice: Notice, meta: Mapping[str, Any] | None = None) -> bytes:
    """`notice` as an A4 PDF (raises pdf.PdfUnavailable without WeasyPrint/fonts)."""
    return html_to_pdf(
        notice_document(notice, meta), reference=page_reference(notice.header["our_ref"])
    )


def case_pdf(case_ref: str, documents: Sequence[tuple[Notice, Mapping[str, Any] | None]]) -> bytes:
    """The notices of a case, each as its signable document from a new page, in one A4 PDF with
    the case reference on every page. The caller refuses H2 notices, as for any export."""
    if not documents:
        raise DocumentValuesError("a case PDF needs at least one notice")
    pages = [notice_document(notice, meta) for notice, meta in documents]
    head = pages[0][: pages[0].index("<body>") + len("<body>")]
    bodies = [page[page.index("<body>") + len("<body>") : page.index("</body>")] for page in pages]
    html = head + '<div class="document-break"></div>'.join(bodies) + "</body>\n</html>\n"
    return html_to_pdf(html, reference=f"Hồ sơ: {case_ref}   ·   案件编号：{case_ref}")
