"""Notice parsing: every field type refuses bad values with its documented code and field path."""

from __future__ import annotations

import copy
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.fields import ERROR_CODES, FieldError, NoticeError
from liaison.domain.notices import (
    CATALOGUE,
    Notice,
    notice_digest,
    notice_to_bytes,
    parse_notice,
)
from liaison.i18n import set_language, translate

NOTICES = Path(__file__).resolve().parent.parent / "golden" / "notices"


def example(notice_type: str) -> dict:
    return json.loads((NOTICES / f"{notice_type}.json").read_text(encoding="utf-8"))


def refused(data) -> NoticeError:
    with pytest.raises(NoticeError) as info:
        parse_notice(data)
    return info.value


@pytest.mark.parametrize("notice_type", sorted(CATALOGUE))
def test_example_of_every_type_parses_and_round_trips_through_canonical_bytes(notice_type):
    notice = parse_notice(json.dumps(example(notice_type)).encode())
    assert isinstance(notice, Notice) and notice.type == notice_type
    again = parse_notice(notice_to_bytes(notice))
    assert again == notice
    assert notice_to_bytes(again) == notice_to_bytes(notice)


def test_canonical_bytes_sort_keys_and_keep_utf8():
    raw = notice_to_bytes(parse_notice(example("handover_proposal")))
    assert raw.startswith(b'{"fields":')
    assert "阮氏花".encode() in raw


def _set(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    keys = path.split(".")
    target = data
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[keys[-1]]
    elif isinstance(target, list):
        target[int(keys[-1])] = value
    else:
        target[keys[-1]] = value
    return data


_DELETE = object()

# (notice type, path to change, bad value, expected code, expected field path)
BAD_VALUES = [
    # plain string
    ("verification_result", "header.our_ref", "", "empty", "header.our_ref"),
    ("verification_result", "header.our_ref", "   ", "empty", "header.our_ref"),
    ("verification_result", "header.our_ref", 12, "wrong_type", "header.our_ref"),
    ("verification_result", "header.our_ref", "x" * 101, "too_long", "header.our_ref"),
    ("verification_result", "header.our_ref", "a\x1b[2Jb", "control_characters", "header.our_ref"),
    ("verification_result", "header.case_ref", _DELETE, "missing", "header.case_ref"),
    ("verification_result", "header.extra", "x", "unknown_field", "header.extra"),
    # free text
    ("verification_result", "fields.remarks", "plain string", "wrong_type", "fields.remarks"),
    ("verification_result", "fields.remarks.lang", "fr", "bad_language", "fields.remarks.lang"),
    ("verification_result", "fields.remarks.text", " ", "empty", "fields.remarks.text"),
    (
        "verification_result",
        "fields.remarks.text",
        "a\u202eb",
        "control_characters",
        "fields.remarks.text",
    ),
    ("verification_result", "fields.remarks.lang", _DELETE, "missing", "fields.remarks.lang"),
    # agency code and message id
    ("verification_result", "header.sender_unit", "quang ninh", "bad_agency", "header.sender_unit"),
    ("verification_result", "fields.in_reply_to", "short", "bad_reference", "fields.in_reply_to"),
    # enumerations
    ("verification_result", "header.handling", "H9", "bad_choice", "header.handling"),
    ("verification_result", "header.priority", "URGENT", "bad_choice", "header.priority"),
    ("verification_result", "fields.outcome", "maybe", "bad_choice", "fields.outcome"),
    (
        "reschedule_cancellation",
        "fields.reason_code",
        "traffic",
        "bad_choice",
        "fields.reason_code",
    ),
    # date-time with zone
    ("handover_proposal", "fields.slot.utc", "2026-12-03 16:30", "bad_datetime", "fields.slot.utc"),
    (
        "handover_proposal",
        "fields.slot.utc",
        "2026-02-30T10:00:00Z",
        "bad_datetime",
        "fields.slot.utc",
    ),
    (
        "handover_proposal",
        "fields.slot.utc",
        "2026-12-03T16:30:00+07:00",
        "bad_datetime",
        "fields.slot.utc",
    ),
    ("handover_proposal", "fields.slot.tz", "Europe/Paris", "bad_zone", "fields.slot.tz"),
    ("handover_proposal", "fields.slot", "2026-12-03T16:30:00Z", "wrong_type", "fields.slot"),
    # place
    (
        "handover_proposal",
        "fields.place.gate",
        "mong-cai--nowhere",
        "unknown_gate",
        "fields.place.gate",
    ),
    ("handover_proposal", "fields.place.kind", "river", "bad_place_kind", "fields.place.kind"),
    (
        "handover_proposal",
        "fields.place",
        {"kind": "marker", "number": "four"},
        "bad_marker",
        "fields.place.number",
    ),
    (
        "handover_proposal",
        "fields.place",
        {"kind": "point", "name": {"text": "Bến", "lang": "vi"}, "lat": 21.5},
        "bad_coordinates",
        "fields.place",
    ),
    (
        "handover_proposal",
        "fields.place",
        {"kind": "point", "name": {"text": "Bến", "lang": "vi"}, "lat": 91, "lon": 107},
        "out_of_range",
        "fields.place.lat",
    ),
    # person block and partial dates
    ("handover_proposal", "fields.persons", [], "too_few", "fields.persons"),
    ("handover_proposal", "fields.persons.0.name", _DELETE, "missing", "fields.persons[0].name"),
    ("handover_proposal", "fields.persons.0.sex", "f", "bad_choice", "fields.persons[0].sex"),
    (
        "handover_proposal",
        "fields.persons.0.birth",
        {"date": "17/05/2004"},
        "bad_date",
        "fields.persons[0].birth.date",
    ),
    (
        "handover_proposal",
        "fields.persons.0.birth",
        {"date": "2004-02-30"},
        "bad_date",
        "fields.persons[0].birth.date",
    ),
    (
        "handover_proposal",
        "fields.persons.0.birth",
        {"year": 1850},
        "bad_date",
        "fields.persons[0].birth.year",
    ),
    (
        "handover_proposal",
        "fields.persons.0.birth",
        {"year": 2001, "date": "2001-01-01"},
        "bad_date",
        "fields.persons[0].birth",
    ),
    ("handover_proposal", "fields.persons.0.minor", "yes", "wrong_type", "fields.persons[0].minor"),
    (
        "handover_proposal",
        "fields.persons.0.passport",
        "B123",
        "unknown_field",
        "fields.persons[0].passport",
    ),
    # attachments
    ("verification_request", "fields.photos.0", "lo-thi-mai.jpg", "wrong_type", "fields.photos[0]"),
    ("verification_request", "fields.photos.0", True, "wrong_type", "fields.photos[0]"),
    ("verification_request", "fields.photos.0", -1, "out_of_range", "fields.photos[0]"),
    ("verification_request", "fields.photos.0", 50, "out_of_range", "fields.photos[0]"),
    (
        "verification_request",
        "fields.persons.0.photo",
        {"filename": "a.jpg"},
        "wrong_type",
        "fields.persons[0].photo",
    ),
    # integers and counts
    ("referral_status", "fields.days_used", 12.5, "wrong_type", "fields.days_used"),
    ("referral_status", "fields.days_used", True, "wrong_type", "fields.days_used"),
    ("statistics", "fields.counts.sex.female", -3, "out_of_range", "fields.counts.sex.female"),
    ("statistics", "fields.counts.religion", {"x": 1}, "unknown_field", "fields.counts.religion"),
    ("statistics", "fields.period_start", {"year": 2026}, "bad_date", "fields.period_start"),
    # rules tying fields together
    ("self_return", "header.handling_note", _DELETE, "missing", "header.handling_note"),
    ("handover_response", "fields.decision", "accept", "not_allowed", "fields.slot"),
    ("reschedule_cancellation", "fields.action", "cancel", "not_allowed", "fields.new_slot"),
    ("handover_record", "fields.signatories.1.side", "vn", "missing_side", "fields.signatories"),
    ("statistics", "fields.period_end", {"date": "2026-09-30"}, "bad_period", "fields.period_end"),
    # envelope of the notice
    ("receipt_ack", "type", "postcard", "unknown_type", "type"),
    ("receipt_ack", "liaison_notice", 2, "bad_version", "liaison_notice"),
    ("receipt_ack", "fields", [], "wrong_type", "fields"),
]


@pytest.mark.parametrize(
    ("notice_type", "path", "value", "code", "field"),
    BAD_VALUES,
    ids=[f"{c}:{p}" for _, p, _, c, _ in BAD_VALUES],
)
def test_bad_value_is_refused_with_its_code_and_field(notice_type, path, value, code, field):
    error = refused(_set(example(notice_type), path, value))
    assert isinstance(error, FieldError) and isinstance(error, ValueError)
    assert (error.code, error.field) == (code, field)
    assert code in ERROR_CODES
    assert field in str(error)


def test_reschedule_for_other_reason_needs_the_reason_in_words():
    data = _set(example("reschedule_cancellation"), "fields.reason_code", "other")
    error = refused(_set(data, "fields.reason", _DELETE))
    assert (error.code, error.field) == ("missing", "fields.reason")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe{}", "bad_encoding"),
        (b'{"type": ', "bad_json"),
        (b"[]", "bad_json"),
        (b'{"type": "receipt_ack", "type": "statistics"}', "duplicate_key"),
        (b" " * 1_000_001, "too_large"),
    ],
)
def test_malformed_bytes_are_refused(raw, code):
    assert refused(raw).code == code


def test_error_message_reads_in_the_officers_language():
    data = _set(example("handover_proposal"), "fields.slot.tz", "Europe/Paris")
    error = refused(data)
    assert "múi giờ" in translate(error.message, "vi")
    assert "时区" in translate(error.message, "zh")
    assert "time zone" in translate(error.message, "en")
    assert translate(error.message, "zh").startswith("fields.slot.tz：时区")


def test_error_text_does_not_depend_on_the_process_language():
    """The domain never consults the current language: str() is the English text."""
    error = refused(_set(example("handover_proposal"), "fields.slot.tz", "Europe/Paris"))
    try:
        set_language("zh")
        assert str(error) == translate(error.message, "en")
        assert str(error).startswith("fields.slot.tz: ")
    finally:
        set_language("en")


def test_input_is_normalised_to_nfc():
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Hoa")
    assert decomposed != "Nguyễn Thị Hoa"
    data = _set(example("handover_proposal"), "fields.persons.0.name", decomposed)
    data = _set(data, "fields.vehicle.text", unicodedata.normalize("NFD", "Xe tải trắng"))
    notice = parse_notice(json.dumps(data).encode())
    assert notice.fields["persons"][0]["name"] == "Nguyễn Thị Hoa"
    assert notice.fields["vehicle"]["text"] == "Xe tải trắng"
    assert unicodedata.normalize("NFD", "Nguyễn").encode() not in notice_to_bytes(notice)


def test_nulls_and_template_help_are_dropped():
    data = example("receipt_ack")
    data["fields"]["remarks"] = None
    data["_help"] = {"fields.remarks": "Other remarks"}
    notice = parse_notice(data)
    assert "remarks" not in notice.fields
    assert b"_help" not in notice_to_bytes(notice)


@settings(max_examples=50)
@given(
    st.text(
        alphabet="aeiouyAEIOUđĐ \u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b",
        min_size=1,
        max_size=40,
    ).filter(lambda t: t.strip())
)
def test_any_decomposed_vietnamese_text_is_stored_in_nfc(text):
    data = _set(example("receipt_ack"), "fields.remarks", {"text": text, "lang": "vi"})
    stored = parse_notice(data).fields["remarks"]["text"]
    assert stored == unicodedata.normalize("NFC", text).strip()
    assert unicodedata.is_normalized("NFC", stored)


def test_acknowledgement_carries_the_digest_of_the_record_it_countersigns():
    record = parse_notice(example("handover_record"))
    ack = parse_notice(example("receipt_ack"))
    assert ack.fields["received_digest"] == notice_digest(record)
    changed = _set(example("handover_record"), "fields.condition.text", "Bị thương nhẹ")
    assert notice_digest(parse_notice(changed)) != notice_digest(record)
    error = refused(_set(example("receipt_ack"), "fields.received_digest", "ABC"))
    assert (error.code, error.field) == ("bad_digest", "fields.received_digest")


# --- attachment indexes against the message's files ------------------------------------------
@pytest.mark.parametrize(
    ("count", "path"),
    [
        (0, "fields.persons[0].photo"),  # the first index met, in field order
        (1, "fields.attachments[0]"),  # photo 0 and photos [0] exist, attachments [1] does not
    ],
)
def test_an_index_beyond_the_message_files_is_refused(count, path):
    with pytest.raises(FieldError) as info:
        parse_notice(example("verification_request"), attachments=count)
    assert (info.value.code, info.value.field) == ("no_such_attachment", path)
    assert "no_such_attachment" in ERROR_CODES


def test_indexes_within_the_message_files_pass_and_are_listed():
    from liaison.domain.notices import attachment_indexes

    notice = parse_notice(example("verification_request"), attachments=2)
    assert attachment_indexes(notice) == [
        ("fields.persons[0].photo", 0),
        ("fields.photos[0]", 0),
        ("fields.attachments[0]", 1),
    ]
    # Without a count (a notice file on its own), the indexes are checked as numbers only.
    assert parse_notice(example("verification_request")) == notice


@pytest.mark.parametrize("language", ["vi", "zh_Hans_CN", "en"])
def test_no_such_attachment_is_worded_in_each_language(language):
    from liaison.i18n import translate

    with pytest.raises(FieldError) as info:
        parse_notice(example("verification_request"), attachments=1)
    text = translate(info.value.message, language)
    assert "fields.attachments[0]" in text and "1" in text
    if language != "en":
        assert text != translate(info.value.message, "en")
