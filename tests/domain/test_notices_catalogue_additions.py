"""receipt_ack countersignature fields and referral_status days_limit (cases contract)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from liaison.domain.fields import FieldError
from liaison.domain.notices import notice_to_bytes, parse_notice

NOTICES = Path(__file__).resolve().parent.parent / "golden" / "notices"
HASH = base64.b64encode(bytes(range(32))).decode()
SIGNATURE = base64.b64encode(bytes(range(64))).decode()


def example(notice_type: str, **fields) -> dict:
    data = json.loads((NOTICES / f"{notice_type}.json").read_text(encoding="utf-8"))
    data["fields"].update(fields)
    return {**data, "fields": {k: v for k, v in data["fields"].items() if v is not None}}


def refused_field(data: dict) -> FieldError:
    with pytest.raises(FieldError) as info:
        parse_notice(data)
    return info.value


def test_receipt_ack_with_record_hash_and_countersignature_parses_and_keeps_them():
    notice = parse_notice(example("receipt_ack", record_hash=HASH, countersignature=SIGNATURE))
    assert notice.fields["record_hash"] == HASH
    assert notice.fields["countersignature"] == SIGNATURE
    assert parse_notice(notice_to_bytes(notice)) == notice


@pytest.mark.parametrize(
    ("given", "missing"),
    [({"record_hash": HASH}, "countersignature"), ({"countersignature": SIGNATURE}, "record_hash")],
)
def test_receipt_ack_with_only_one_of_hash_and_signature_is_refused(given, missing):
    error = refused_field(example("receipt_ack", **given))
    assert (error.field, error.code) == (f"fields.{missing}", "missing")


def test_countersigning_receipt_ack_without_in_reply_to_is_refused():
    data = example("receipt_ack", record_hash=HASH, countersignature=SIGNATURE, in_reply_to=None)
    error = refused_field(data)
    assert (error.field, error.code) == ("fields.in_reply_to", "missing")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("record_hash", base64.b64encode(bytes(31)).decode()),
        ("record_hash", HASH.rstrip("=") + "!"),
        ("record_hash", base64.urlsafe_b64encode(b"\xfb" * 32).decode()),
        ("countersignature", HASH),
        ("countersignature", 12),
    ],
)
def test_hash_or_signature_of_the_wrong_size_or_alphabet_is_bad_base64(field, value):
    other = {"record_hash": HASH, "countersignature": SIGNATURE}
    other[field] = value
    error = refused_field(example("receipt_ack", **other))
    assert (error.field, error.code) == (f"fields.{field}", "bad_base64")


def test_referral_status_days_limit_is_an_optional_positive_integer():
    assert "days_limit" not in parse_notice(example("referral_status")).fields
    assert parse_notice(example("referral_status", days_limit=150)).fields["days_limit"] == 150
    for bad, code in ((0, "out_of_range"), ("120", "wrong_type"), (True, "wrong_type")):
        error = refused_field(example("referral_status", days_limit=bad))
        assert (error.field, error.code) == ("fields.days_limit", code)
