"""Notice forms generated from the catalogue's field declarations, and read back into notices.

Each input is named by the field's dotted JSON path (`fields.persons[0].name`), so a NoticeError
from `parse_notice` (the check `liaison notice check` runs) lands next to the field it names.
Repeatable blocks grow with an "add" button that re-renders the form, so no script is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from liaison.domain import fields as kinds
from liaison.domain.agencies import reason_codes
from liaison.domain.notices import CATALOGUE, HEADER_FIELDS, Notice
from liaison.domain.places import CN_ZONE, VN_ZONE, gate_pairs

FormData = MultiMapping[str]
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# The header fields an officer fills; `forwarded_from` is set by forwarding alone.
FORM_HEADER_FIELDS = tuple(f for f in HEADER_FIELDS if f.name != "forwarded_from")
MAX_REPEAT = 50


@dataclass
class FormField:
    """One control (or group of controls) of a notice form, with what the officer typed."""

    path: str
    label: str
    help: str
    required: bool
    widget: str
    value: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    children: list[FormField] = field(default_factory=list)
    items: list[list[FormField]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        return "f-" + "".join(ch if ch.isalnum() else "-" for ch in self.path)

    @property
    def filled(self) -> bool:
        """Whether the officer typed or chose anything in this control (or inside it)."""
        if self.value or self.selected:
            return True
        if self.widget == "place" and self.extra.get("kind"):
            return True
        if self.widget == "date" and self.extra.get("year"):
            return True
        if self.widget == "list" and self.items:
            return True
        return any(c.filled for c in self.children)

    def holds(self, path: str | None) -> bool:
        """Whether the dotted `path` (of an error) is this control's or inside it."""
        return bool(path) and (
            path == self.path or str(path).startswith((self.path + ".", self.path + "["))
        )


def _choices(kind: kinds.Choice, language: str) -> list[tuple[str, str]]:
    """(value, label msgid) pairs; reason codes carry their names by language in the data."""
    if isinstance(kind, kinds.ReasonCode):
        codes = reason_codes()
        return [(code, str(codes[code].get(language[:2], code))) for code in kind.codes()]
    return list(kind.choices.items())


def other_zone(zone: str) -> str:
    return CN_ZONE if zone == VN_ZONE else VN_ZONE


def local_to_utc(local: str, zone: str) -> datetime | None:
    try:
        naive = datetime.strptime(local, _LOCAL_FORMAT)
        return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ValueError, KeyError):
        return None


def other_country_time(local: str, zone: str) -> str:
    """`local` (entered in `zone`) as the other country's wall-clock time, e.g. 00:30 next day."""
    moment = local_to_utc(local, zone) if zone in kinds.ZONES else None
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(other_zone(zone))).strftime("%Y-%m-%d %H:%M")


def _utc_to_local(value: Mapping[str, str]) -> tuple[str, str]:
    zone = value.get("tz", VN_ZONE)
    try:
        moment = datetime.strptime(value["utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(zone)).strftime(_LOCAL_FORMAT), zone
    except (KeyError, ValueError):
        return "", zone


def _count(form: FormData, path: str, minimum: int) -> int:
    try:
        count = int(form.get(f"{path}.count", ""))
    except ValueError:
        count = max(minimum, 1) if minimum else 0
    if form.get("add") == path:
        count += 1
    if form.get("remove") == path and count > minimum:
        count -= 1
    return max(minimum, min(count, MAX_REPEAT))


def build(
    spec: Sequence[kinds.Field], form: FormData, prefix: str, language: str
) -> list[FormField]:
    """The controls for `spec` under `prefix`, holding the values of `form`."""
    return [_control(f, form, f"{prefix}.{f.name}", language) for f in spec]


def _control(f: kinds.Field, form: FormData, path: str, language: str) -> FormField:
    kind = f.kind
    out = FormField(path, f.label, f.help, f.required, "text", value=form.get(path, ""))
    if isinstance(kind, kinds.Text):
        out.widget = "freetext"
        out.value = form.get(f"{path}.text", "")
        out.extra["lang"] = form.get(f"{path}.lang", "")
        out.choices = list(kinds.TEXT_LANGUAGES.items())
    elif isinstance(kind, kinds.Choice):
        out.widget = "select"
        out.choices = _choices(kind, language)
    elif isinstance(kind, kinds.Bool):
        out.widget = "checkbox"
    elif isinstance(kind, kinds.Int | kinds.Number):
        out.widget = "number"
    elif isinstance(kind, kinds.PartialDate):
        out.widget = "date"
        out.value = form.get(f"{path}.date", "")
        out.extra = {
            "year": form.get(f"{path}.year", ""),
            "estimated": form.get(f"{path}.estimated", ""),
        }
    elif isinstance(kind, kinds.DateTime):
        out.widget = "datetime"
        out.value = form.get(f"{path}.local", "")
        zone = form.get(f"{path}.tz", "")
        out.extra = {"tz": zone, "other": other_country_time(out.value, zone or VN_ZONE)}
        out.choices = [(z, z) for z in kinds.ZONES]
    elif isinstance(kind, kinds.Place):
        out.widget = "place"
        out.extra = {
            "kind": form.get(f"{path}.kind", ""),
            "gate": form.get(f"{path}.gate", ""),
            "side": form.get(f"{path}.side", ""),
            "number": form.get(f"{path}.number", ""),
            "name": form.get(f"{path}.name.text", ""),
            "name_lang": form.get(f"{path}.name.lang", ""),
        }
        out.choices = [(gate_id, gate_id) for gate_id in gate_pairs()]
    elif isinstance(kind, kinds.Attachment):
        out.widget = "attachment"
    elif isinstance(kind, kinds.Counts):
        out.widget = "json"
    elif isinstance(kind, kinds.Block):
        out.widget = "block"
        out.children = build(kind.fields, form, path, language)
    elif isinstance(kind, kinds.ListOf):
        item = kind.item
        if isinstance(item, kinds.Block):
            out.widget = "list"
            count = _count(form, path, kind.min_items)
            out.extra["count"] = str(count)
            out.items = [build(item.fields, form, f"{path}[{i}]", language) for i in range(count)]
        elif isinstance(item, kinds.Choice):
            out.widget = "multi"
            out.choices = _choices(item, language)
            out.selected = list(form.getall(path, []))
        elif isinstance(item, kinds.Attachment):
            out.widget = "attachment"
        elif isinstance(item, kinds.Text):
            out.widget = "textlines"
            out.extra["lang"] = form.get(f"{path}.lang", "")
            out.choices = list(kinds.TEXT_LANGUAGES.items())
        else:
            out.widget = "lines"
    return out


def new_form_values(own_agency: str, notice_type: str) -> dict[str, str]:
    """What a fresh form starts with: this officer's agency, H1, normal priority."""
    values = {"header.sender_unit": own_agency, "header.handling": "H1"}
    values["header.priority"] = "normal"
    for zone_path in _datetime_paths(notice_type):
        values[f"{zone_path}.tz"] = VN_ZONE if own_agency.startswith("VN") else CN_ZONE
    for list_path, minimum in _list_minimums(notice_type):
        values[f"{list_path}.count"] = str(minimum)
    return values


def _datetime_paths(notice_type: str) -> list[str]:
    spec = [("header", FORM_HEADER_FIELDS), ("fields", CATALOGUE[notice_type].fields)]
    return [
        f"{prefix}.{f.name}"
        for prefix, fields_ in spec
        for f in fields_
        if isinstance(f.kind, kinds.DateTime)
    ]


def _list_minimums(notice_type: str) -> list[tuple[str, int]]:
    return [
        (f"fields.{f.name}", max(f.kind.min_items, 1 if f.required else 0))
        for f in CATALOGUE[notice_type].fields
        if isinstance(f.kind, kinds.ListOf) and isinstance(f.kind.item, kinds.Block)
    ]


# The notice types that answer each type (the case page takes the handover steps).
REPLY_TYPES: dict[str, tuple[str, ...]] = {
    "rescue_request": ("receipt_ack", "self_return"),
    "verification_request": ("verification_result", "receipt_ack"),
    "verification_result": ("receipt_ack", "verification_request"),
    "handover_proposal": ("receipt_ack",),
    "handover_record": ("receipt_ack",),
    "self_return": ("verification_request", "receipt_ack"),
    "referral_status": ("receipt_ack",),
    "statistics": ("statistics", "receipt_ack"),
}


def reply_values(original: Notice, message_id: str, notice_type: str) -> dict[str, str]:
    """What a reply to `original` (message `message_id`) starts with."""
    values = {
        "header.their_ref": str(original.header["our_ref"]),
        "header.case_ref": original.case_ref,
        "header.recipient_unit": str(original.header["sender_unit"]),
        "header.handling": original.handling,
    }
    if any(f.name == "in_reply_to" for f in CATALOGUE[notice_type].fields):
        values["fields.in_reply_to"] = message_id
    return values


# --- Reading a submitted form into notice JSON --------------------------------------------
def notice_json(notice_type: str, form: FormData) -> dict[str, Any]:
    """The notice the form describes, as JSON for `parse_notice` (which checks everything)."""
    from liaison.domain.notices import FORMAT_VERSION

    return {
        "liaison_notice": FORMAT_VERSION,
        "type": notice_type,
        "header": _read_block(FORM_HEADER_FIELDS, form, "header") or {},
        "fields": _read_block(CATALOGUE[notice_type].fields, form, "fields") or {},
    }


def _read_block(spec: Sequence[kinds.Field], form: FormData, prefix: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for f in spec:
        value = _read(f.kind, form, f"{prefix}.{f.name}", f.required)
        if value is not None:
            out[f.name] = value
    return out or None


def _text(form: FormData, path: str) -> str:
    return form.get(path, "").strip()


def _read(kind: kinds.Kind, form: FormData, path: str, required: bool) -> Any:
    if isinstance(kind, kinds.Text):
        text = _text(form, f"{path}.text")
        return {"text": text, "lang": form.get(f"{path}.lang", "")} if text else None
    if isinstance(kind, kinds.Bool):
        checked = form.get(path) == "on"
        return checked if checked or required else None
    if isinstance(kind, kinds.Int | kinds.Number):
        raw = _text(form, path)
        if not raw:
            return None
        try:
            return int(raw) if isinstance(kind, kinds.Int) else float(raw)
        except ValueError:
            return raw  # parse_notice names the field and what it expected
    if isinstance(kind, kinds.PartialDate):
        date, year = _text(form, f"{path}.date"), _text(form, f"{path}.year")
        if not date and not year:
            return None
        value: dict[str, Any] = {}
        if date:
            value["date"] = date
        if year:
            value["year"] = int(year) if year.isdigit() else year
        if form.get(f"{path}.estimated") == "on":
            value["estimated"] = True
        return value
    if isinstance(kind, kinds.DateTime):
        local, zone = _text(form, f"{path}.local"), form.get(f"{path}.tz", "")
        if not local:
            return None
        moment = local_to_utc(local, zone) if zone in kinds.ZONES else None
        utc = moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else local
        return {"utc": utc, "tz": zone}
    if isinstance(kind, kinds.Place):
        place_kind = form.get(f"{path}.kind", "")
        if place_kind == "gate":
            value = {"kind": "gate", "gate": form.get(f"{path}.gate", "")}
            if form.get(f"{path}.side"):
                value["side"] = form.get(f"{path}.side")
            return value
        if place_kind == "marker":
            return {"kind": "marker", "number": _text(form, f"{path}.number")}
        if place_kind == "point":
            name = _read(kinds.Text(), form, f"{path}.name", True)
            return {"kind": "point", "name": name} if name else {"kind": "point"}
        return None
    if isinstance(kind, kinds.Attachment):
        raw = _text(form, path)
        if not raw:
            return None
        return int(raw) if raw.isdigit() else raw  # parse_notice names a wrong value
    if isinstance(kind, kinds.Counts):
        raw = _text(form, path)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if isinstance(kind, kinds.Block):
        return _read_block(kind.fields, form, path)
    if isinstance(kind, kinds.ListOf):
        item = kind.item
        if isinstance(item, kinds.Block):
            count = _count(form, path, kind.min_items)
            items = [_read_block(item.fields, form, f"{path}[{i}]") for i in range(count)]
            kept = [i for i in items if i is not None]
            return kept or ([] if required else None)
        if isinstance(item, kinds.Choice):
            return list(form.getall(path, [])) or None
        if isinstance(item, kinds.Attachment):
            # Indexes of the attached files, from 0, separated by commas or spaces.
            words = form.get(path, "").replace(",", " ").split()
            return [int(w) if w.isdigit() else w for w in words] or None
        lines = [line.strip() for line in form.get(path, "").splitlines() if line.strip()]
        if isinstance(item, kinds.Text):
            # One free-text entry a line, all in the language chosen beside them.
            language = form.get(f"{path}.lang", "")
            return [{"text": line, "lang": language} for line in lines] or None
        return lines or None
    return _text(form, path) or None


def field_for_error(controls: Sequence[FormField], error_path: str) -> FormField | None:
    """The control an error's dotted path belongs to: the deepest one whose path leads to it."""
    best: FormField | None = None

    def walk(items: Sequence[FormField]) -> None:
        nonlocal best
        for control in items:
            if error_path == control.path or error_path.startswith(
                (control.path + ".", control.path + "[")
            ):
                if best is None or len(control.path) > len(best.path):
                    best = control
            walk(control.children)
            for group in control.items:
                walk(group)

    walk(controls)
    return best
