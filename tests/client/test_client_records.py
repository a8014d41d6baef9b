"""A home folder written by earlier versions loads into the typed records, and writes back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from liaison.client.errors import HomeError
from liaison.client.home import Home
from liaison.client.read import inbox
from liaison.client.records import (
    CertificateRecord,
    HoldNote,
    HomeConfig,
    MessageRecord,
    ReviewNote,
    SendCounter,
    SyncCursor,
    TokenRecord,
)

RECEIVED_ID = "0a" * 16
SENT_ID = "0b" * 16
REFUSED_ID = "0c" * 16

# Exactly what the code before the typed records wrote (client/messages.py `send`, `_accept`,
# `read`, `ack`, holds.tag_received), nulls included.
OLD_RECEIVED: dict[str, Any] = {
    "message_id": RECEIVED_ID,
    "direction": "received",
    "envelope": "AAEC",
    "log_index": 7,
    "received_at": 1764000000,
    "acknowledged": True,
    "ack_log_index": 9,
    "cursor": 3,
    "status": "read",
    "envelope_hash": "aGFzaA==",
    "sender_device": "CN-GX-DXGA:li.wei:desk",
    "sent_at": 1763999990,
    "counter": 4,
    "recipients": ["VN-QN-CA:nguyen.van.an:phone"],
    "leaf_hash": "bGVhZg==",
    "tree_size": 8,
    "inclusion_proof": ["cHJvb2Y="],
    "logged_at": 1764000001,
    "sender_names": {"vi": "Lý Vĩ", "zh": "李伟"},
    "case_tagged": True,
}
OLD_SENT: dict[str, Any] = {
    "message_id": SENT_ID,
    "direction": "sent",
    "envelope": "AwQF",
    "envelope_hash": "c2VudA==",
    "log_index": 5,
    "received_at": None,
    "sender_device": "VN-QN-CA:nguyen.van.an:phone",
    "sent_at": 1763990000,
    "recipients": ["CN-GX-DXGA:li.wei:desk"],
    "addresses": ["CN-GX-DXGA"],
    "content_type": "text/plain; charset=utf-8",
    "status": "sent",
}
OLD_REFUSED: dict[str, Any] = {
    "message_id": REFUSED_ID,
    "direction": "received",
    "envelope": "Bgc=",
    "log_index": 6,
    "received_at": 1763995000,
    "acknowledged": False,
    "cursor": 2,
    "status": "refused",
    "problem": "malformed",
    "a_key_of_a_newer_version": {"kept": True},
}


@pytest.fixture
def old_home(tmp_path: Path) -> Home:
    """A home folder as the earlier code left it on disk."""

    def write(relative: str, value: Any) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n")

    for record in (OLD_RECEIVED, OLD_SENT, OLD_REFUSED):
        write(f"messages/{record['message_id']}.json", record)
    write(
        "config.json",
        {
            "agency": "VN-QN-CA",
            "device_id": "VN-QN-CA:nguyen.van.an:phone",
            "officer_id": "nguyen.van.an",
            "role": "officer",
            "server": "http://relay",
            "server_identity": {
                "origin": "liaison.test/log",
                "key_name": "k",
                "public_key": "AA==",
            },
            "a_later_setting": 1,
        },
    )
    write("token.json", {"token": "tok", "expires_at": 1764003600, "server": "http://relay"})
    write("counter.json", {"counter": 12})
    write("sync.json", {"cursor": 3})
    write("device/certificate.json", {"certificate": "Y2VydA==", "log_index": 2})
    write("holds.json", {"dGFn": {"case_ref": "QN-2026-0117", "reason": "court", "log_index": 11}})
    write(
        "device/reviews.json",
        [
            {
                "message_id": RECEIVED_ID,
                "reason": "routine",
                "salt": "c2FsdA==",
                "reason_hash": "cmg=",
                "requested_at": 1764000100,
                "log_index": 12,
            }
        ],
    )
    return Home(tmp_path, passphrase=lambda confirm: "unused")


def test_old_message_files_load_as_typed_records_in_log_order(old_home: Home) -> None:
    records = old_home.messages()
    assert [r.message_id for r in records] == [SENT_ID, REFUSED_ID, RECEIVED_ID]
    received = old_home.find_message(RECEIVED_ID[:6])
    assert isinstance(received, MessageRecord)
    assert received.received and not received.refused
    assert (received.status, received.log_index, received.acknowledged) == ("read", 7, True)
    assert received.recipients == ("VN-QN-CA:nguyen.van.an:phone",)
    assert received.sender_names == {"vi": "Lý Vĩ", "zh": "李伟"}
    assert received.case_tagged is True
    sent = old_home.load_message(SENT_ID)
    assert sent is not None and not sent.received and sent.received_at is None
    assert sent.addresses == ("CN-GX-DXGA",)
    refused = old_home.load_message(REFUSED_ID)
    assert refused is not None and refused.refused and refused.problem == "malformed"


def test_records_write_back_what_they_read(old_home: Home) -> None:
    for old in (OLD_RECEIVED, OLD_SENT, OLD_REFUSED):
        record = old_home.load_message(old["message_id"])
        assert record is not None
        # Null and absent read the same; every other key and value comes back as it was,
        # including keys this version does not know.
        assert record.to_json() == {k: v for k, v in old.items() if v is not None}
        old_home.save_message(record)
        assert old_home.load_message(old["message_id"]) == record


def test_a_changed_record_keeps_the_rest(old_home: Home) -> None:
    record = old_home.find_message(REFUSED_ID)
    old_home.save_message(record.with_changes(status="new", problem=None))
    again = old_home.find_message(REFUSED_ID)
    assert (again.status, again.problem) == ("new", None)
    assert again.extra == {"a_key_of_a_newer_version": {"kept": True}}
    assert again.to_json()["cursor"] == 2


def test_inbox_lists_received_messages_without_their_envelopes(old_home: Home) -> None:
    listed = inbox(old_home)
    assert [r.message_id for r in listed] == [REFUSED_ID, RECEIVED_ID]
    assert [r.message_id for r in inbox(old_home, include_acknowledged=False)] == [REFUSED_ID]
    metadata = listed[1].metadata()
    assert "envelope" not in metadata and "inclusion_proof" not in metadata
    assert metadata["sender_device"] == "CN-GX-DXGA:li.wei:desk"


def test_old_config_loads_typed_and_writes_back(old_home: Home) -> None:
    config = old_home.settings()
    assert isinstance(config, HomeConfig)
    assert (config.agency, config.device_id, config.role) == (
        "VN-QN-CA",
        "VN-QN-CA:nguyen.van.an:phone",
        "officer",
    )
    assert config.server_identity == {
        "origin": "liaison.test/log",
        "key_name": "k",
        "public_key": "AA==",
    }
    assert config.to_json() == old_home.config()
    assert old_home.server_url() == "http://relay"
    assert HomeConfig.from_json(None) == HomeConfig()


def test_old_state_files_load_as_typed_records(old_home: Home) -> None:
    token = TokenRecord.from_json(old_home.read_json("token.json"))
    assert token == TokenRecord("tok", 1764003600, "http://relay")
    assert SendCounter.from_json(old_home.read_json("counter.json")).counter == 12
    assert SyncCursor.from_json(old_home.read_json("sync.json")).cursor == 3
    assert CertificateRecord.from_json(old_home.read_json("device/certificate.json")) == (
        CertificateRecord("Y2VydA==", 2)
    )
    holds = HoldNote.table_from_json(old_home.read_json("holds.json"))
    assert holds == {"dGFn": HoldNote("QN-2026-0117", "court", 11)}
    assert HoldNote.table_to_json(holds) == old_home.read_json("holds.json")
    reviews = ReviewNote.list_from_json(old_home.read_json("device/reviews.json"))
    assert [r.to_json() for r in reviews] == old_home.read_json("device/reviews.json")


def test_missing_or_damaged_state_files_read_as_empty_state() -> None:
    assert TokenRecord.from_json(None) is None
    assert TokenRecord.from_json({"token": "t", "expires_at": "soon", "server": "s"}) is None
    assert SendCounter.from_json(None).counter == 0
    assert SyncCursor.from_json({}).cursor is None
    assert CertificateRecord.from_json([]) is None


def test_a_message_file_without_an_id_is_reported_as_damaged(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / f"{RECEIVED_ID}.json").write_text('{"status": "new"}')
    with pytest.raises(HomeError, match="damaged"):
        Home(tmp_path).messages()
