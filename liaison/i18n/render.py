"""Rendering of a notice as terminal text or printable HTML in vi, zh_Hans_CN, en or both."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

from liaison.domain.agencies import agency, reason_codes
from liaison.domain.code_lists import TRANSPORT_ROUTE, code_list
from liaison.domain.fields import (
    COUNT_DIMENSIONS,
    RETURN_DIRECTIONS,
    SIDE_CHOICES,
    TEXT_LANGUAGES,
    AgencyCode,
    Attachment,
    Block,
    Bool,
    Choice,
    Coded,
    Counts,
    DateTime,
    Field,
    Int,
    ListOf,
    NoticeError,
    Number,
    PartialDate,
    Place,
    ReasonCode,
    Text,
    coded_parts,
)
from liaison.domain.notices import HANDLING_CODES, HEADER_FIELDS, SEX, Notice
from liaison.domain.places import GateSide, gate_pair, named_point
from liaison.i18n import N_, gettext_for
from liaison.i18n.dates import ZONE_LABELS, format_both_zones, format_partial_date, parse_utc

RENDER_LANGUAGES = ("vi", "zh_Hans_CN", "en", "both")
# Autonyms head each half of a bilingual rendering; they are the same in every language.
AUTONYMS = {"vi": "Tiếng Việt", "zh_Hans_CN": "中文", "en": "English"}
TRANSLITERATION_MARK = "音"
# A transliteration typed with its marker ("阮氏花 (音)"): the label already carries it.
_MARK_SUFFIXES = ("(音)", "（音）")
NAME_UNVERIFIED = N_("name unverified")


@dataclass(frozen=True)
class Row:
    """One line of a rendering: a label, a value (None for a section heading), its depth.

    `text_lang` is set when the value is free text (shown with `lang_note`: as written, the
    text of record, or an officer's translation and by whom).
    """

    depth: int
    label: str
    value: str | None
    text_lang: str | None = None
    lang_note: str | None = None


def _languages(lang: str) -> tuple[str, ...]:
    normal = {"zh": "zh_Hans_CN"}.get(lang, lang)
    if normal == "both":
        return ("vi", "zh_Hans_CN")
    if normal not in RENDER_LANGUAGES:
        raise NoticeError(
            "bad_language",
            N_("Unknown language {language}: use vi, zh, en or both"),
            language=lang,
        )
    return (normal,)


def handling_banner(code: str, lang: str = "both") -> list[str]:
    """The handling code in Vietnamese and Chinese (and English for an English rendering)."""
    locales = ("vi", "zh_Hans_CN", "en") if lang == "en" else ("vi", "zh_Hans_CN")
    return [
        gettext_for(locale, N_("HANDLING {code}: {meaning}")).format(
            code=code, meaning=gettext_for(locale, HANDLING_CODES[code])
        )
        for locale in locales
    ]


def strip_transliteration_mark(value: str) -> str:
    """`value` without a trailing (音) an officer typed: the mark is printed once, by the label."""
    for suffix in _MARK_SUFFIXES:
        if value.endswith(suffix):
            return value[: -len(suffix)].rstrip()
    return value


def coded_display(list_name: str, value: str, locale: str) -> str:
    """A code-list value (code, or a name/alias it matches) by its name in `locale`; several
    values ("vi-zh") joined by a dash."""
    codes = coded_parts(list_name, value)
    if codes is None:
        return value
    return " – ".join(code_list(list_name).display(code, locale) or code for code in codes)


def message_attachments(meta: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], ...]:
    """The message's attachments as a rendering shows them (`name`, `size`, `media_type` each,
    in index order), from the message metadata's `attachments`; none when it has no such key."""
    return tuple((meta or {}).get("attachments") or ())


class NoticeRenderer:
    def __init__(
        self,
        locale: str,
        *,
        printed: bool = False,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.locale = locale
        # The message's files, by index: an attachment field shows the file its index names.
        self.attachments = tuple(attachments)
        # A printed page (HTML, signable document) is what both sides sign: it never carries
        # the "name unverified" flag, which stays in the data and the officer's terminal view.
        self.printed = printed
        self.rows: list[Row] = []
        self.zh = locale.startswith("zh")

    def t(self, message: str) -> str:
        return gettext_for(self.locale, message)

    def add(self, depth: int, label: str, value: str | None, **kw: Any) -> None:
        self.rows.append(Row(depth, label, value, **kw))

    def notice(self, notice: Notice, meta: Mapping[str, Any] | None) -> list[Row]:
        if meta and "attachments" in meta:
            self.attachments = message_attachments(meta)
        self.add(0, self.t(N_("Notice")), self.t(notice.title()))
        if meta:
            for key, label in (
                ("message_id", N_("Message id")),
                ("sender", N_("Sender")),
                ("sent_at", N_("Sent at")),
                ("received_at", N_("Received at")),
            ):
                if key in meta and meta[key] is not None:
                    value = meta[key]
                    if key.endswith("_at"):
                        value = format_both_zones(parse_utc(value), self.locale)
                    self.add(0, self.t(label), str(value))
        self.fields(HEADER_FIELDS, notice.header, 0)
        self.add(0, self.t(N_("Content")), None)
        self.fields(notice.spec().fields, notice.fields, 1)
        return self.rows

    def fields(self, spec: tuple[Field, ...], value: Mapping[str, Any], depth: int) -> None:
        for f in spec:
            if f.name in value:
                self.field(f, value[f.name], depth)

    def field(self, f: Field, value: Any, depth: int) -> None:
        label = self.t(f.label)
        kind = f.kind
        if isinstance(kind, ListOf):
            if not value:
                self.add(depth, label, self.t(N_("none")))
            for i, item in enumerate(value, 1):
                # Chinese takes full-width brackets: "相关人员（1/2）".
                count = f"{i}/{len(value)}"
                item_label = f"{label}（{count}）" if self.zh else f"{label} ({count})"
                self.value(kind.item, item, depth, item_label, f.name)
            return
        self.value(kind, value, depth, label, f.name)

    def value(self, kind: Any, value: Any, depth: int, label: str, name: str) -> None:
        t = self.t
        if isinstance(kind, Block) and not isinstance(kind, Attachment):
            self.add(depth, label, None)
            self.fields(kind.fields, value, depth + 1)
        elif isinstance(kind, Text):
            self.text(depth, label, value)
        elif isinstance(kind, Coded):
            self.add(depth, label, coded_display(kind.list_name, value, self.locale))
        elif isinstance(kind, Place):
            self.place(depth, label, value)
        elif isinstance(kind, Counts):
            self.add(depth, label, None)
            for dimension, table in value.items():
                for category, count in table.items():
                    shown = self.category(dimension, category)
                    colon = "：" if self.zh else ": "
                    self.add(
                        depth + 1,
                        f"{t(COUNT_DIMENSIONS[dimension])}{colon}{shown}",
                        format_decimal(count, locale=self.locale),
                    )
        elif isinstance(kind, ReasonCode):
            names = reason_codes().get(value, {})
            self.add(depth, label, f"{names.get(self.locale[:2]) or names.get('en', value)}")
        elif name == "handling":
            dash = "——" if self.zh else " — "
            self.add(depth, label, f"{value}{dash}{t(HANDLING_CODES[value])}")
        elif isinstance(kind, Choice):
            self.add(depth, label, t(kind.choices[value]))
        elif isinstance(kind, AgencyCode):
            self.add(depth, label, self.agency(value))
        elif isinstance(kind, DateTime):
            self.add(depth, label, format_both_zones(parse_utc(value), self.locale))
        elif isinstance(kind, PartialDate):
            self.add(depth, label, format_partial_date(value, self.locale))
        elif isinstance(kind, Bool):
            self.add(depth, label, t(N_("yes")) if value else t(N_("no")))
        elif isinstance(kind, Int | Number):
            self.add(depth, label, format_decimal(value, locale=self.locale))
        elif isinstance(kind, Attachment):
            self.add(depth, label, self.attachment(value))
        elif name == "name_zh":
            self.add(depth, label, strip_transliteration_mark(value))
        else:
            self.add(depth, label, str(value))

    def attachment(self, index: int) -> str:
        """An attachment index as the file it names, or as the bare index when the message's
        files are not known here (a notice file rendered on its own)."""
        if index >= len(self.attachments):
            return self.t(N_("attachment {index}")).format(index=index)
        file = self.attachments[index]
        return self.t(N_("{filename} ({media_type}, {size} bytes)")).format(
            filename=file["name"],
            media_type=file["media_type"],
            size=format_decimal(file["size"], locale=self.locale),
        )

    def text(self, depth: int, label: str, value: Mapping[str, Any]) -> None:
        language = self.t(TEXT_LANGUAGES[value["lang"]])
        translation = value.get("translation")
        if translation is None:
            note = self.t(N_("as written, in {language}")).format(language=language)
            self.add(depth, label, value["text"], text_lang=value["lang"], lang_note=note)
        elif translation["lang"] == self.locale[:2]:
            # The column in the translation's language shows the translation, marked as such.
            note = self.t(
                N_("translation by {by}; the original in {language} is the text of record")
            ).format(by=translation["by"], language=language)
            self.add(
                depth, label, translation["text"], text_lang=translation["lang"], lang_note=note
            )
        else:
            note = self.t(N_("as written, in {language}; text of record")).format(language=language)
            self.add(depth, label, value["text"], text_lang=value["lang"], lang_note=note)

    def agency(self, code: str) -> str:
        entry = agency(code)
        if entry is None:
            return code
        name = entry.name(self.locale)
        if not self.printed and not entry.name_verified(self.locale):
            name = f"{name} [{self.t(NAME_UNVERIFIED)}]"
        return f"{name}（{code}）" if self.zh else f"{name} ({code})"

    def category(self, dimension: str, category: str) -> str:
        if dimension == "sex" and category in SEX:
            return self.t(SEX[category])
        if dimension == "route":
            return coded_display(TRANSPORT_ROUTE, category, self.locale)
        if dimension == "direction" and category in RETURN_DIRECTIONS:
            return self.t(RETURN_DIRECTIONS[category])
        if dimension == "gate":
            pair = gate_pair(category)
            if pair is not None:
                return f"{self.gate_name(pair.vn)} – {self.gate_name(pair.cn)}"
        return category

    def gate_name(self, side: GateSide) -> str:
        name = side.name(self.locale)
        if not self.printed and not side.name_verified(self.locale):
            name = f"{name} [{self.t(NAME_UNVERIFIED)}]"
        return name

    def place(self, depth: int, label: str, value: Mapping[str, Any]) -> None:
        t = self.t
        if value["kind"] == "gate":
            pair = gate_pair(value["gate"])
            if pair is None:
                self.add(depth, label, value["gate"])
                return
            lang = self.locale[:2]
            shown = t(N_("Border gate pair {vn} ({vn_province}) – {cn} ({cn_province})")).format(
                vn=self.gate_name(pair.vn),
                vn_province=pair.vn.province.get(lang, ""),
                cn=self.gate_name(pair.cn),
                cn_province=pair.cn.province.get(lang, ""),
            )
            if "side" in value:
                shown += ("；" if self.zh else "; ") + t(SIDE_CHOICES[value["side"]])
            self.add(depth, label, shown)
            for side in (pair.vn, pair.cn):
                if side.hours is not None:
                    zone_label = t(ZONE_LABELS.get(side.tz, side.tz))
                    self.add(
                        depth + 1,
                        t(N_("Opening hours")),
                        t(N_("{gate}: {open}–{close} {zone}")).format(
                            gate=self.gate_name(side),
                            open=side.hours.open.strftime("%H:%M"),
                            close=side.hours.close.strftime("%H:%M"),
                            zone=zone_label,
                        ),
                    )
        elif value["kind"] == "marker":
            self.add(
                depth, label, t(N_("Border marker No. {number}")).format(number=value["number"])
            )
            if "note" in value:
                self.text(depth + 1, t(N_("Note")), value["note"])
        else:
            point = named_point(value["point"]) if "point" in value else None
            if point is not None:
                shown = point.name(self.locale)
                if not self.printed and not point.name_verified(self.locale):
                    shown = f"{shown} [{t(NAME_UNVERIFIED)}]"
                self.add(depth, label, shown)
                if "name" in value:
                    self.text(depth + 1, t(N_("Note")), value["name"])
            else:
                self.text(depth, label, value["name"])
            if "lat" in value:
                comma = "，" if self.zh else ", "
                self.add(depth + 1, t(N_("Coordinates")), f"{value['lat']}{comma}{value['lon']}")


def notice_rows(
    notice: Notice,
    locale: str,
    meta: Mapping[str, Any] | None = None,
    *,
    printed: bool = False,
) -> list[Row]:
    """The rows of `notice` in one catalogue language, in catalogue field order; `printed` for a
    page both sides sign (no "name unverified" flags)."""
    return NoticeRenderer(locale, printed=printed).notice(notice, meta)


def text_value(row: Row, indent: str, zh: bool) -> str:
    if row.value is None:
        return ""
    lines = row.value.split("\n")
    pad = "\n" + indent + "    "
    value = pad.join(lines) if len(lines) > 1 else lines[0]
    if row.text_lang is not None:
        # Chinese quotes and brackets are full-width.
        value = f"“{value}”（{row.lang_note}）" if zh else f"«{value}» [{row.lang_note}]"
    return value


def render_text(notice: Notice, lang: str, *, message_meta: Mapping[str, Any] | None = None) -> str:
    """The notice as terminal text; `both` gives Vietnamese then Chinese, same field order."""
    out: list[str] = []
    rule = "!" * 72
    out.append(rule)
    out.extend(f"!! {line}" for line in handling_banner(notice.handling, lang))
    out.append(rule)
    for locale in _languages(lang):
        out.append("")
        out.append(f"=== {AUTONYMS[locale]} ===")
        # Chinese typography takes the full-width colon, with no space after it.
        colon = "：" if locale.startswith("zh") else ": "
        for row in notice_rows(notice, locale, message_meta):
            indent = "  " * row.depth
            if row.value is None:
                out.append(f"{indent}{row.label}{colon.strip()}")
            else:
                value = text_value(row, indent, locale.startswith("zh"))
                out.append(f"{indent}{row.label}{colon}{value}")
    return "\n".join(out) + "\n"


_CSS = """
body { font-family: "Noto Sans", "Noto Sans SC", "Microsoft YaHei", sans-serif; margin: 1.5cm; }
.handling { border: 3px solid #a00; padding: .5em 1em; font-weight: bold; font-size: 1.15em; }
.handling.H0 { border-color: #555; }
table.notice { border-collapse: collapse; width: 100%; margin-top: 1em; }
table.notice td, table.notice th { border: 1px solid #999; padding: .25em .5em;
  vertical-align: top; text-align: left; }
td.label { font-weight: bold; width: 18%; }
tr.section td.label { background: #eee; }
.d1 { padding-left: 1.5em !important; } .d2 { padding-left: 3em !important; }
.d3 { padding-left: 4.5em !important; }
.free { white-space: pre-wrap; } .lang { color: #555; font-size: .85em; }
@media print { body { margin: 1cm; } }
"""


# BCP 47 tags for the lang attribute, so printers pick CJK or Vietnamese glyphs per cell.
_HTML_LANG = {"vi": "vi", "zh_Hans_CN": "zh-Hans-CN", "en": "en"}


def _html_cells(row: Row, locale: str) -> str:
    tag = _HTML_LANG[locale]
    label = f'<td class="label d{row.depth}" lang="{tag}">{html.escape(row.label)}</td>'
    if row.value is None:
        return label + "<td></td>"
    if row.text_lang is not None:
        note = html.escape(row.lang_note or "")
        note = f"（{note}）" if locale.startswith("zh") else f" [{note}]"
        value = (
            f'<span class="free" lang="{row.text_lang}">{html.escape(row.value)}</span>'
            f'<span class="lang">{note}</span>'
        )
    else:
        value = html.escape(row.value)
    return f'{label}<td lang="{tag}">{value}</td>'


def render_html(notice: Notice, lang: str, *, message_meta: Mapping[str, Any] | None = None) -> str:
    """The notice as a printable HTML page; `both` puts Vietnamese and Chinese side by side."""
    locales = _languages(lang)
    page_lang = "vi" if len(locales) > 1 else _HTML_LANG[locales[0]]
    title = " / ".join(gettext_for(loc, notice.title()) for loc in locales)
    columns = [notice_rows(notice, loc, message_meta, printed=True) for loc in locales]
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{page_lang}">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head>",
        "<body>",
        f'<div class="handling {notice.handling}">',
    ]
    out.extend(f"<div>{html.escape(line)}</div>" for line in handling_banner(notice.handling, lang))
    out.append("</div>")
    out.append(f"<h1>{html.escape(title)}</h1>")
    out.append('<table class="notice">')
    head = "".join(
        f'<th colspan="2" lang="{_HTML_LANG[loc]}">{AUTONYMS[loc]}</th>' for loc in locales
    )
    out.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for rows in zip(*columns, strict=True):
        cls = ' class="section"' if rows[0].value is None else ""
        cells = "".join(_html_cells(r, loc) for r, loc in zip(rows, locales, strict=True))
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
