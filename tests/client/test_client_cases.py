"""The client's side of cases: the record countersignature, and notices sealed at rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.signing

from crypto.encoding import b64d, b64e, canonical_json, frame, labelled_hash, signed_message
from crypto.keys import DeviceKeys
from crypto.labels import LABEL_HANDOVER_COUNTERSIGNATURE, LABEL_HANDOVER_RECORD_HASH
from liaison.client.cases import (
    CachedNotice,
    NoticeCache,
    countersign_record,
    countersignature_check,
    payload_notice,
    record_hash,
)
from liaison.client.home import Home
from liaison.client.payload import NOTICE, Payload
from liaison.domain.case_events import LoggedNotice

CN_DEVICE = "CN-GX-DXGA:li.wei:desk"
VN_DEVICE = "VN-QN-CA:nguyen.van.an:phone"


def _keys(seed: int) -> DeviceKeys:
    return DeviceKeys.from_bytes(bytes([seed]) * 64)


def _notice(notice_type: str, fields: dict[str, Any], sender: str, to: str) -> dict[str, Any]:
    return {
        "liaison_notice": 1,
        "type": notice_type,
        "header": {
            "our_ref": f"{sender}/1",
            "sender_unit": sender,
            "recipient_unit": to,
            "case_ref": "QN-2026-0042",
            "handling": "H2",
            "priority": "normal",
        },
        "fields": fields,
    }


def _record(condition: str = "Sức khỏe bình thường") -> LoggedNotice:
    fields = {
        "in_reply_to": "a" * 32,
        "completed_at": {"utc": "2026-12-04T02:40:00Z", "tz": "Asia/Ho_Chi_Minh"},
        "place": {"kind": "gate", "gate": "mong-cai--dongxing"},
        "persons": [{"name": "Lò Thị Mai", "sex": "female"}],
        "belongings": [],
        "documents": [],
        "condition": {"text": condition, "lang": "vi"},
        "signatories": [
            {"side": "cn", "name": "Lý Vĩ", "agency": "CN-GX-DXGA"},
            {"side": "vn", "name": "Nguyễn Văn An", "agency": "VN-QN-CA"},
        ],
    }
    return LoggedNotice(
        log_index=7,
        message_id="b" * 32,
        sender_device=CN_DEVICE,
        sender_agency="CN-GX-DXGA",
        sender_officer="li.wei",
        sent_at=1_796_000_000,
        notice=_notice("handover_record", fields, "CN-GX-DXGA", "VN-QN-CA"),
    )


def _ack(record: LoggedNotice, digest: str, signature: str) -> LoggedNotice:
    fields = {
        "in_reply_to": record.message_id,
        "received": "message",
        "received_at": {"utc": "2026-12-04T03:00:00Z", "tz": "Asia/Ho_Chi_Minh"},
        "record_hash": digest,
        "countersignature": signature,
    }
    return LoggedNotice(
        log_index=8,
        message_id="c" * 32,
        sender_device=VN_DEVICE,
        sender_agency="VN-QN-CA",
        sender_officer="nguyen.van.an",
        sent_at=1_796_000_600,
        notice=_notice("receipt_ack", fields, "VN-QN-CA", "CN-GX-DXGA"),
    )


def test_countersignature_follows_the_documented_construction() -> None:
    record, keys = _record(), _keys(1)
    digest, signature = countersign_record(keys, record)
    expected = labelled_hash(
        LABEL_HANDOVER_RECORD_HASH, record.message_id.encode(), canonical_json(record.notice)
    )
    assert b64d(digest) == expected == record_hash(record)
    message = signed_message(
        LABEL_HANDOVER_COUNTERSIGNATURE, frame(record.message_id.encode(), expected)
    )
    nacl.signing.VerifyKey(keys.signing_public).verify(message, b64d(signature))
    check = countersignature_check({VN_DEVICE: keys.signing_public})
    assert check(record, _ack(record, digest, signature))


def test_countersignature_of_another_record_key_or_hash_does_not_verify() -> None:
    record, keys = _record(), _keys(1)
    digest, signature = countersign_record(keys, record)
    ack = _ack(record, digest, signature)
    altered = _record(condition="Bị thương nhẹ")
    assert not countersignature_check({VN_DEVICE: keys.signing_public})(altered, ack)
    assert not countersignature_check({VN_DEVICE: _keys(2).signing_public})(record, ack)
    assert not countersignature_check({})(record, ack)
    wrong_hash = _ack(record, b64e(bytes(32)), signature)
    assert not countersignature_check({VN_DEVICE: keys.signing_public})(record, wrong_hash)
    garbage = _ack(record, "not base64", "???")
    assert not countersignature_check({VN_DEVICE: keys.signing_public})(record, garbage)


def test_notices_are_sealed_at_rest_and_readable_only_with_the_device_key(
    tmp_path: Path,
) -> None:
    home, keys = Home(tmp_path / "home"), _keys(3)
    record = _record()
    item = CachedNotice(
        message_id=record.message_id,
        log_index=record.log_index,
        sender_device=record.sender_device,
        sender_key=_keys(4).signing_public,
        sent_at=record.sent_at,
        notice=record.notice,
        recipient_agencies=("CN-GX-DXGA", "VN-QN-CA"),
    )
    NoticeCache(home, keys).put(item)
    stored = b"".join(path.read_bytes() for path in (tmp_path / "home").rglob("*.sealed"))
    assert stored and "Lò Thị Mai".encode() not in stored and b"mong-cai" not in stored
    assert NoticeCache(home, keys).get(record.message_id) == item
    assert item.logged() == record
    assert NoticeCache(home, _keys(5)).get(record.message_id) is None


def test_only_valid_notices_count_as_notices() -> None:
    valid = _record().notice
    body = json.dumps(valid, ensure_ascii=False).encode()
    assert payload_notice(Payload(NOTICE, body)) == valid
    assert payload_notice(Payload.text(body.decode())) is None
    broken = {**valid, "fields": {**valid["fields"], "signatories": []}}
    assert payload_notice(Payload(NOTICE, json.dumps(broken).encode())) is None
