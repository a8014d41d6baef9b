"""Field types of notices (text, person, dates, places, enumerations, counts…) and their checks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crypto.encoding import b64d
from crypto.errors import MalformedError
from liaison.domain.agencies import AGENCY_CODE, reason_codes
from liaison.domain.code_lists import TRANSPORT_ROUTE, code_list
from liaison.domain.messages import N_, Message
from liaison.domain.places import gate_pairs, named_points

TEXT_LANGUAGES = {"vi": N_("Vietnamese"), "zh": N_("Chinese"), "en": N_("English")}
ZONES = ("Asia/Ho_Chi_Minh", "Asia/Shanghai", "UTC")
_UTC_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
_MARKER = re.compile(r"^[0-9]{1,4}(/[0-9]{1,3})?(\([0-9]{1,2}\))?[A-Z]?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Free text may hold line breaks and tabs; every other control character is refused so nothing
# can hide in a printed notice or in a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


# Every code a NoticeError can carry, with what it means: the documented, stable error contract.
ERROR_CODES = {
    "bad_encoding": "the notice bytes are not UTF-8",
    "bad_json": "not JSON, or not a JSON object",
    "too_large": "the notice exceeds MAX_NOTICE_BYTES",
    "duplicate_key": "a JSON object has the same key twice",
    "bad_version": "liaison_notice is not a supported format version",
    "unknown_type": "type is not one of the catalogue's notice types",
    "unknown_field": "a key the catalogue does not define for this place",
    "missing": "a required field is absent (or required by another field's value)",
    "not_allowed": "a field forbidden by another field's value",
    "wrong_type": "a value of the wrong JSON type",
    "empty": "a string that is empty after trimming",
    "too_long": "a string longer than the field allows",
    "control_characters": "control or bidirectional-override characters in a string",
    "bad_language": "a free-text language (or rendering language) other than vi, zh, en",
    "bad_agency": "not an agency code such as VN-QN-CA",
    "bad_reference": "not a message id",
    "bad_choice": "a value outside the field's closed list",
    "out_of_range": "a number outside the field's bounds",
    "bad_date": "not a date YYYY-MM-DD (or year 1900-2100), or both date and year given",
    "bad_datetime": "not a UTC instant YYYY-MM-DDTHH:MM:SSZ that exists",
    "bad_zone": "a time zone other than Asia/Ho_Chi_Minh, Asia/Shanghai, UTC",
    "bad_place_kind": "a place kind other than gate, marker, point",
    "unknown_gate": "a gate pair id that liaison/data/gates.json does not hold",
    "unknown_point": "a named point id that liaison/data/named_points.json does not hold",
    "unknown_code": "a value that no entry of the field's code list (code, name or alias) matches",
    "bad_marker": "not a border marker number such as 450 or 1116/2",
    "bad_coordinates": "latitude without longitude or the reverse",
    "bad_digest": "a digest (notice digest) not 64 lowercase hex digits",
    "no_such_attachment": "an attachment index beyond the files the message carries",
    "bad_base64": "not canonical standard base64 of the field's fixed number of bytes",
    "too_few": "a list shorter than the field's minimum",
    "too_many": "a list longer than the field's maximum",
    "missing_side": "a handover record not signed by both sides",
    "bad_period": "a statistics period that ends before it starts",
    "handling_restricted": "the handling code (H2) forbids forwarding or exporting",
}


class NoticeError(ValueError):
    """Base of every notice error; `code` is stable, `message` is for the officer
    (`liaison.i18n.translate(error.message, language)`); `str()` is the English text."""

    code = "invalid_notice"

    def __init__(self, code: str, msgid: str, **params: Any) -> None:
        if code not in ERROR_CODES:  # a new code must be documented above first
            raise RuntimeError(f"undocumented notice error code {code!r}")
        self.code = code
        self.msgid = msgid
        self.params = params
        super().__init__(msgid)

    @property
    def message(self) -> Message:
        return Message(self.msgid, self.params)

    def __str__(self) -> str:
        return str(self.message)


class FieldError(NoticeError):
    """A field that is missing, unknown, or holds a bad value; `field` is its dotted path."""

    def __init__(self, field: str, code: str, msgid: str, **params: Any) -> None:
        self.field = field
        super().__init__(code, msgid, field=field, **params)


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _wrong_type(path: str, expected: str) -> FieldError:
    return FieldError(path, "wrong_type", N_("{field}: expected {expected}"), expected=expected)


class Kind:
    """A field type: checks and NFC-normalises a JSON value, and offers a template skeleton."""

    name = "value"

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def skeleton(self) -> Any:
        raise NotImplementedError


# The marker of an optional field in a fillable template ("[không bắt buộc]" / "[选填]"); the
# template writer looks it up by this msgid (a call inside an f-string is not extracted).
OPTIONAL_MARK = N_("optional")


@dataclass(frozen=True)
class Field:
    """One named field of a notice, header or nested block, with its label and one-line help."""

    name: str
    kind: Kind
    label: str
    help: str
    required: bool = True


@dataclass(frozen=True)
class Str(Kind):
    """A short single-line string: a reference, a name of record, a document number."""

    max_len: int = 200
    name: str = "string"

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(path, "string")
        text = nfc(value).strip()
        if not text:
            raise FieldError(path, "empty", N_("{field}: must not be empty"))
        if len(text) > self.max_len:
            raise FieldError(
                path, "too_long", N_("{field}: longer than {limit} characters"), limit=self.max_len
            )
        if _CONTROL_LINE.search(text):
            raise FieldError(path, "control_characters", N_("{field}: contains control characters"))
        return text

    def skeleton(self) -> Any:
        return ""


@dataclass(frozen=True)
class Text(Kind):
    """Free text as the officer wrote it, with its language: {"text", "lang": vi|zh|en}.

    It may carry an officer-supplied translation, {"translation": {"text", "lang", "by"}}: the
    original stays the text of record; the translation (into another language, by the officer
    named in `by`) is shown beside it, marked as a translation.
    """

    max_len: int = 4000
    name: str = "text"

    def check(self, value: Any, path: str) -> dict[str, Any]:
        checked: dict[str, Any] = self._check_text(value, path, ("text", "lang", "translation"))
        if "translation" in value:
            where = f"{path}.translation"
            translation = value["translation"]
            if not isinstance(translation, Mapping):
                raise _wrong_type(where, '{"text": …, "lang": "vi|zh|en", "by": …}')
            done: dict[str, Any] = self._check_text(translation, where, ("text", "lang", "by"))
            if done["lang"] == checked["lang"]:
                raise FieldError(
                    f"{where}.lang",
                    "bad_language",
                    N_("{field}: a translation must be into another language"),
                )
            if "by" not in translation:
                raise _missing(f"{where}.by")
            done["by"] = Str(120).check(translation["by"], f"{where}.by")
            checked["translation"] = done
        return checked

    def _check_text(self, value: Any, path: str, allowed: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, '{"text": …, "lang": "vi|zh|en"}')
        _no_unknown(value, allowed, path)
        if "text" not in value:
            raise _missing(f"{path}.text")
        if "lang" not in value:
            raise _missing(f"{path}.lang")
        lang = value["lang"]
        if lang not in TEXT_LANGUAGES:
            raise FieldError(
                f"{path}.lang", "bad_language", N_("{field}: language must be vi, zh or en")
            )
        text = value["text"]
        if not isinstance(text, str):
            raise _wrong_type(f"{path}.text", "string")
        text = nfc(text).strip()
        if not text:
            raise FieldError(f"{path}.text", "empty", N_("{field}: must not be empty"))
        if len(text) > self.max_len:
            raise FieldError(
                f"{path}.text",
                "too_long",
                N_("{field}: longer than {limit} characters"),
                limit=self.max_len,
            )
        if _CONTROL.search(text):
            raise FieldError(
                f"{path}.text", "control_characters", N_("{field}: contains control characters")
            )
        return {"text": text, "lang": lang}

    def skeleton(self) -> Any:
        return {"text": "", "lang": "vi"}


@dataclass(frozen=True)
class Coded(Kind):
    """A value of a code list (liaison/data/code_lists.json), given by its code. A name or alias
    that the list matches is accepted too, as written (notices written before the field took
    codes stay valid); either way the value is shown through the list in the reader's language.
    """

    list_name: str = ""
    name: str = "code"

    def check(self, value: Any, path: str) -> str:
        text = Str(120).check(value, path)
        if code_list(self.list_name).find(text) is None:
            raise FieldError(
                path,
                "unknown_code",
                N_("{field}: not in the code list: {value}"),
                value=text[:60],
            )
        return text

    def skeleton(self) -> Any:
        return next(iter(code_list(self.list_name).entries))


def coded_parts(list_name: str, value: str) -> list[str] | None:
    """The codes of `value`: one code, or several joined by "-" or "," ("vi-zh"); None when a
    part is not in the list. A whole value the list matches ("Khơ-me") is one part."""
    found = code_list(list_name).find(value)
    if found is not None:
        return [found.code]
    parts = [part for part in re.split(r"[-,]", value) if part.strip()]
    codes = [code_list(list_name).find(part) for part in parts]
    if not parts or any(entry is None for entry in codes):
        return None
    return [entry.code for entry in codes if entry is not None]


@dataclass(frozen=True)
class CodedList(Coded):
    """Several values of a code list, as a string "vi-zh" (codes joined by "-" or ",")."""

    name: str = "codes"

    def check(self, value: Any, path: str) -> str:
        text = Str(120).check(value, path)
        if coded_parts(self.list_name, text) is None:
            raise FieldError(
                path,
                "unknown_code",
                N_("{field}: not in the code list: {value}"),
                value=text[:60],
            )
        return text

    def skeleton(self) -> Any:
        return "-".join(list(code_list(self.list_name).entries)[:2])


@dataclass(frozen=True)
class AgencyCode(Kind):
    name: str = "agency"

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(path, "string")
        if not AGENCY_CODE.match(value):
            raise FieldError(
                path,
                "bad_agency",
                N_("{field}: not an agency code such as VN-QN-CA: {value}"),
                value=value[:40],
            )
        return value

    def skeleton(self) -> Any:
        return "VN-QN-CA"


@dataclass(frozen=True)
class MessageId(Kind):
    name: str = "message_id"

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(path, "string")
        if not _MESSAGE_ID.match(value):
            raise FieldError(path, "bad_reference", N_("{field}: not a message id"))
        return value

    def skeleton(self) -> Any:
        return ""


@dataclass(frozen=True)
class Choice(Kind):
    """One value of a closed list; `choices` maps each value to its label msgid."""

    choices: Mapping[str, str] = field(default_factory=dict)
    name: str = "choice"

    def codes(self) -> Sequence[str]:
        return tuple(self.choices)

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in self.codes():
            raise FieldError(
                path,
                "bad_choice",
                N_("{field}: must be one of {choices}"),
                choices=", ".join(self.codes()),
            )
        return value

    def skeleton(self) -> Any:
        return "|".join(self.codes())


@dataclass(frozen=True)
class ReasonCode(Choice):
    """A reason code from liaison/data/reason_codes.json (data, so adding one needs no code)."""

    name: str = "reason_code"

    def codes(self) -> Sequence[str]:
        return tuple(reason_codes())


@dataclass(frozen=True)
class Bool(Kind):
    name: str = "boolean"

    def check(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise _wrong_type(path, "true|false")
        return value

    def skeleton(self) -> Any:
        return False


@dataclass(frozen=True)
class Int(Kind):
    minimum: int = 0
    maximum: int = 1_000_000
    name: str = "integer"

    def check(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(path, "integer")
        if not self.minimum <= value <= self.maximum:
            raise _out_of_range(path, self.minimum, self.maximum)
        return value

    def skeleton(self) -> Any:
        return 0


@dataclass(frozen=True)
class Number(Kind):
    minimum: float = -1e9
    maximum: float = 1e9
    name: str = "number"

    def check(self, value: Any, path: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _wrong_type(path, "number")
        if not self.minimum <= value <= self.maximum:
            raise _out_of_range(path, self.minimum, self.maximum)
        return value

    def skeleton(self) -> Any:
        return 0.0


def _out_of_range(path: str, low: object, high: object) -> FieldError:
    return FieldError(
        path, "out_of_range", N_("{field}: must be between {low} and {high}"), low=low, high=high
    )


@dataclass(frozen=True)
class PartialDate(Kind):
    """A date: {"date": "YYYY-MM-DD"} or {"year": YYYY}, optionally "estimated": true."""

    full_only: bool = False
    name: str = "date"

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, '{"date": "YYYY-MM-DD"} | {"year": YYYY}')
        _no_unknown(value, ("date", "year", "estimated"), path)
        out: dict[str, Any] = {}
        if ("date" in value) == ("year" in value):
            raise FieldError(
                path, "bad_date", N_("{field}: give either a full date or a year, not both")
            )
        if "date" in value:
            out["date"] = check_date(value["date"], f"{path}.date")
        else:
            if self.full_only:
                raise FieldError(path, "bad_date", N_("{field}: a full date is needed"))
            year = value["year"]
            if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
                raise FieldError(
                    f"{path}.year", "bad_date", N_("{field}: not a year between 1900 and 2100")
                )
            out["year"] = year
        if "estimated" in value:
            out["estimated"] = Bool().check(value["estimated"], f"{path}.estimated")
        return out

    def skeleton(self) -> Any:
        return (
            {"date": "YYYY-MM-DD"} if self.full_only else {"date": "YYYY-MM-DD", "estimated": False}
        )


def check_date(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _DATE_FORMAT.match(value):
        raise FieldError(path, "bad_date", N_("{field}: not a date in the form YYYY-MM-DD"))
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise FieldError(
            path, "bad_date", N_("{field}: no such date: {value}"), value=value
        ) from None
    if not 1900 <= parsed.year <= 2100:
        raise FieldError(path, "bad_date", N_("{field}: not a year between 1900 and 2100"))
    return value


@dataclass(frozen=True)
class DateTime(Kind):
    """An instant: {"utc": "YYYY-MM-DDTHH:MM:SSZ", "tz": zone it was entered in}."""

    name: str = "datetime"

    def check(self, value: Any, path: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, '{"utc": "YYYY-MM-DDTHH:MM:SSZ", "tz": "Asia/Ho_Chi_Minh"}')
        _no_unknown(value, ("utc", "tz"), path)
        for key in ("utc", "tz"):
            if key not in value:
                raise _missing(f"{path}.{key}")
        utc = value["utc"]
        if not isinstance(utc, str) or not _UTC_FORMAT.match(utc):
            raise FieldError(
                f"{path}.utc",
                "bad_datetime",
                N_("{field}: not a UTC time in the form YYYY-MM-DDTHH:MM:SSZ"),
            )
        try:
            moment = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise FieldError(
                f"{path}.utc", "bad_datetime", N_("{field}: no such time: {value}"), value=utc
            ) from None
        if not 2000 <= moment.year <= 2100:
            raise FieldError(
                f"{path}.utc", "bad_datetime", N_("{field}: no such time: {value}"), value=utc
            )
        if value["tz"] not in ZONES:
            raise FieldError(
                f"{path}.tz",
                "bad_zone",
                N_("{field}: time zone must be one of {zones}"),
                zones=", ".join(ZONES),
            )
        return {"utc": utc, "tz": value["tz"]}

    def skeleton(self) -> Any:
        return {"utc": "YYYY-MM-DDTHH:MM:SSZ", "tz": "Asia/Ho_Chi_Minh"}


def datetime_utc(value: Mapping[str, str]) -> datetime:
    """The aware UTC datetime of a checked DATETIME value."""
    return datetime.strptime(value["utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Place(Kind):
    """A gate of a pair, a border marker number, or a named point with optional coordinates."""

    name: str = "place"

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, '{"kind": "gate|marker|point", …}')
        kind = value.get("kind")
        if kind == "gate":
            _no_unknown(value, ("kind", "gate", "side"), path)
            gate = value.get("gate")
            if gate is None:
                raise _missing(f"{path}.gate")
            if not isinstance(gate, str) or gate not in gate_pairs():
                raise FieldError(
                    f"{path}.gate",
                    "unknown_gate",
                    N_("{field}: unknown gate pair: {value}"),
                    value=str(gate)[:60],
                )
            out: dict[str, Any] = {"kind": "gate", "gate": gate}
            if "side" in value:
                out["side"] = Choice(SIDE_CHOICES).check(value["side"], f"{path}.side")
            return out
        if kind == "marker":
            _no_unknown(value, ("kind", "number", "note"), path)
            number = value.get("number")
            if number is None:
                raise _missing(f"{path}.number")
            if not isinstance(number, str) or not _MARKER.match(number):
                raise FieldError(
                    f"{path}.number",
                    "bad_marker",
                    N_("{field}: not a border marker number such as 450 or 1116/2"),
                )
            out = {"kind": "marker", "number": number}
            if "note" in value:
                out["note"] = Text().check(value["note"], f"{path}.note")
            return out
        if kind == "point":
            _no_unknown(value, ("kind", "point", "name", "lat", "lon"), path)
            if "point" in value:
                # A named point of the place data (a bridge management line): named in both
                # languages by the data, like a gate.
                point = value["point"]
                if not isinstance(point, str) or point not in named_points():
                    raise FieldError(
                        f"{path}.point",
                        "unknown_point",
                        N_("{field}: unknown named point: {value}"),
                        value=str(point)[:60],
                    )
                out = {"kind": "point", "point": point}
            elif "name" not in value:
                raise _missing(f"{path}.name")
            else:
                out = {"kind": "point"}
            if "name" in value:
                out["name"] = Text(max_len=300).check(value["name"], f"{path}.name")
            if ("lat" in value) != ("lon" in value):
                raise FieldError(
                    path, "bad_coordinates", N_("{field}: give both latitude and longitude")
                )
            if "lat" in value:
                out["lat"] = Number(-90, 90).check(value["lat"], f"{path}.lat")
                out["lon"] = Number(-180, 180).check(value["lon"], f"{path}.lon")
            return out
        raise FieldError(
            f"{path}.kind",
            "bad_place_kind",
            N_("{field}: must be one of {choices}"),
            choices="gate, marker, point",
        )

    def skeleton(self) -> Any:
        return {"kind": "gate", "gate": next(iter(gate_pairs()), "")}


SIDE_CHOICES = {"vn": N_("Vietnamese side"), "cn": N_("Chinese side")}


# An envelope carries at most 50 attachments (crypto/PROTOCOL.md section 14.4).
MAX_ATTACHMENT_INDEX = 49


@dataclass(frozen=True)
class Attachment(Kind):
    """A reference to a file attached to the same message: its index (0, 1, …) in the message's
    attachments list, which is the order of `--file` options. Whether the message really has
    that attachment is checked against the message (`check_attachment_indexes`)."""

    name: str = "attachment"

    def check(self, value: Any, path: str) -> int:
        return Int(0, MAX_ATTACHMENT_INDEX).check(value, path)

    def skeleton(self) -> Any:
        return 0


@dataclass(frozen=True)
class Sha256(Kind):
    name: str = "sha256"

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not _SHA256.match(value):
            raise FieldError(
                path, "bad_digest", N_("{field}: not a 256-bit digest (64 lowercase hex digits)")
            )
        return value

    def skeleton(self) -> Any:
        return ""


@dataclass(frozen=True)
class Base64Bytes(Kind):
    """A fixed-size binary value (hash, signature) as canonical standard base64 with padding."""

    size: int = 32
    name: str = "base64"

    def check(self, value: Any, path: str) -> str:
        try:
            raw = b64d(value)
        except MalformedError:
            raw = b""
        if len(raw) != self.size:
            raise FieldError(
                path, "bad_base64", N_("{field}: not base64 of {size} bytes"), size=self.size
            )
        return str(value)

    def skeleton(self) -> Any:
        return ""


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind = field(default_factory=Str)
    min_items: int = 0
    max_items: int = 500
    name: str = "list"

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong_type(path, "list")
        if len(value) < self.min_items:
            raise FieldError(
                path,
                "too_few",
                N_("{field}: needs at least {count} entries"),
                count=self.min_items,
            )
        if len(value) > self.max_items:
            raise FieldError(
                path, "too_many", N_("{field}: at most {count} entries"), count=self.max_items
            )
        return [self.item.check(item, f"{path}[{i}]") for i, item in enumerate(value)]

    def skeleton(self) -> Any:
        return [self.item.skeleton()]


@dataclass(frozen=True)
class Block(Kind):
    """A nested object with known fields (person, escort, signatory…); unknown keys refused."""

    fields: tuple[Field, ...] = ()
    name: str = "block"

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, "object")
        return check_fields(self.fields, value, path)

    def skeleton(self) -> Any:
        return {f.name: f.kind.skeleton() for f in self.fields}


COUNT_DIMENSIONS = {
    "sex": N_("By sex"),
    "age_band": N_("By age band"),
    "direction": N_("By direction of return"),
    "route": N_("By route"),
    "gate": N_("By gate"),
}
# Which way persons crossed: handed over from China to Vietnam or the other way, or returned by
# themselves (the `direction` dimension; `route` is how they travelled, a code list).
RETURN_DIRECTIONS = {
    "cn_to_vn": N_("Handed over from China to Vietnam"),
    "vn_to_cn": N_("Handed over from Vietnam to China"),
    "self_return": N_("Returned by themselves"),
}


@dataclass(frozen=True)
class Counts(Kind):
    """Statistics table: {dimension: {category: count}} over sex, age band, direction of return,
    route and gate."""

    name: str = "counts"

    def check(self, value: Any, path: str) -> dict[str, dict[str, int]]:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, "object")
        _no_unknown(value, tuple(COUNT_DIMENSIONS), path)
        out: dict[str, dict[str, int]] = {}
        for dimension, table in value.items():
            sub = f"{path}.{dimension}"
            if not isinstance(table, Mapping):
                raise _wrong_type(sub, "object")
            checked: dict[str, int] = {}
            for category, count in table.items():
                if dimension == "route":
                    key = Coded(TRANSPORT_ROUTE).check(category, sub)
                elif dimension == "direction":
                    key = Choice(RETURN_DIRECTIONS).check(category, sub)
                else:
                    key = Str(max_len=100).check(category, sub)
                checked[key] = Int(0, 1_000_000).check(count, f"{sub}.{key}")
            out[dimension] = checked
        return out

    def skeleton(self) -> Any:
        return {
            "sex": {"female": 0, "male": 0},
            "age_band": {"0-13": 0, "14-17": 0, "18+": 0},
            "gate": {"mong-cai--dongxing": 0},
        }


def _missing(path: str) -> FieldError:
    return FieldError(path, "missing", N_("{field}: required field is missing"))


def _no_unknown(value: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in value:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise FieldError(where, "unknown_field", N_("{field}: unknown field"))


def check_fields(spec: Sequence[Field], value: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Check `value` against `spec` in spec order; returns the NFC-normalised copy."""
    _no_unknown(value, [f.name for f in spec], path)
    out: dict[str, Any] = {}
    for f in spec:
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in value or value[f.name] is None:
            if f.required:
                raise _missing(where)
            continue
        out[f.name] = f.kind.check(value[f.name], where)
    return out
