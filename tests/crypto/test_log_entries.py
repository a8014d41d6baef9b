"""Log entries: typed builders give today's leaf bytes; the parser refuses anything off."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.auth import auth_challenge_message
from crypto.encoding import b64e, canonical_json
from crypto.errors import MalformedError
from crypto.labels import LABEL_AUTH_CHALLENGE
from crypto.log_entries import (
    LOG_ENTRY_KINDS,
    AckEntry,
    EnvelopeEntry,
    LogEntry,
    PurgeEntry,
    ReviewEntry,
    content_hash,
    log_entry_from_json,
    parse_log_entry,
)

VECTORS = Path(__file__).parent / "vectors"


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "log_entries_generate", VECTORS / "log_entries_generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()
KAT = json.loads((VECTORS / "log_entries_kat.json").read_text(encoding="utf-8"))
ENTRIES: list[LogEntry] = GENERATOR.entries()


def test_checked_in_vectors_equal_what_the_code_produces_now() -> None:
    assert GENERATOR.build_vectors() == KAT


def test_the_vectors_cover_every_kind() -> None:
    assert sorted(case["kind"] for case in KAT["log_entries"]) == sorted(LOG_ENTRY_KINDS)


@pytest.mark.parametrize("case", KAT["log_entries"], ids=lambda case: case["kind"])
def test_vector_leaf_data_is_the_sorted_compact_entry_and_its_rfc9162_leaf(case: dict) -> None:
    data = case["leaf_data"].encode("utf-8")
    # Independent of crypto/: sorted keys, no whitespace; leaf hash SHA-256(0x00 || data).
    assert data == json.dumps(case["entry"], sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(b"\x00" + data).hexdigest() == case["leaf_hash_hex"]
    entry = parse_log_entry(data)
    assert entry.KIND == case["kind"]
    assert entry.to_json() == case["entry"]
    assert entry.encode() == data


def test_auth_challenge_vector_is_label_then_key_then_challenge() -> None:
    v = KAT["auth_challenge"]
    key, challenge = bytes.fromhex(v["log_public_key_hex"]), bytes.fromhex(v["challenge_hex"])
    assert bytes.fromhex(v["message_hex"]) == b"liaison/v1/auth-challenge" + key + challenge
    assert auth_challenge_message(key, challenge) == LABEL_AUTH_CHALLENGE + key + challenge


@pytest.mark.parametrize("key_len, challenge_len", [(31, 32), (32, 33), (32, 0), (0, 32)])
def test_auth_challenge_parts_of_the_wrong_length_are_refused(
    key_len: int, challenge_len: int
) -> None:
    with pytest.raises(MalformedError):
        auth_challenge_message(bytes(key_len), bytes(challenge_len))


def test_content_hash_vector_is_sha256_of_the_bytes() -> None:
    v = KAT["content_hash"]
    data = bytes.fromhex(v["data_hex"])
    assert content_hash(data).hex() == v["sha256_hex"] == hashlib.sha256(data).hexdigest()


# --- today's dict builders, copied from the relay before the typed entries --------------------


def legacy_log_entry(kind: str, at: int, **fields: Any) -> dict[str, Any]:
    """liaison/server/services.py `log_entry` as it was."""
    entry = {
        key: b64e(value) if isinstance(value, bytes) else value for key, value in fields.items()
    }
    return {"kind": kind, **entry, "at": at}


def legacy_entry(entry: LogEntry) -> dict[str, Any]:
    """The dict the relay built for `entry`'s values, at each call site as it was written."""
    v = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)}
    at = v.pop("at")
    kind = entry.KIND
    if kind in ("agency", "review_key", "certificate", "revocation", "review_key_wrap"):
        return legacy_log_entry(kind, at, **v)  # services.py, review.py upload_wrap
    if kind == "envelope":  # services.py Relay.send
        return {
            "kind": "envelope",
            "message_id": v["message_id"],
            "envelope_hash": b64e(v["envelope_hash"]),
            "sender": v["sender"],
            "recipients": list(v["recipients"]),
            "size": v["size"],
            "at": at,
        }
    if kind == "ack":  # services.py Relay.acknowledge
        return {"kind": "ack", "message_id": v["message_id"], "device_id": v["device_id"], "at": at}
    if kind == "review":  # review.py review
        return {
            "kind": "review",
            "message_id": v["message_id"],
            "device_id": v["device_id"],
            "agency": v["agency"],
            "reason_hash": b64e(v["reason_hash"]),
            "requested_at": v["requested_at"],
            "signature": b64e(v["signature"]),
            "at": at,
        }
    if kind == "review_refused":  # review.py _log_refusal
        return {
            "kind": "review_refused",
            "message_id": v["message_id"],
            "device_id": v["device_id"],
            "refusal": v["refusal"],
            "at": at,
        }
    if kind == "review_refusals_counted":  # review.py _count_refusals (issue 14, defect 7)
        return {
            "kind": "review_refusals_counted",
            "device_id": v["device_id"],
            "count": v["count"],
            "since": v["since"],
            "at": at,
        }
    if kind == "retention":  # retention.py set_retention
        return {"kind": "retention", "agency": v["agency"], "days": v["days"], "at": at}
    if kind == "hold":  # retention.py place_hold
        return {
            "kind": "hold",
            "agency": v["agency"],
            "case_tag": b64e(v["case_tag"]),
            "device_id": v["device_id"],
            "reason_hash": b64e(v["reason_hash"]),
            "at": at,
        }
    if kind == "hold_release":  # retention.py release_hold
        return {
            "kind": "hold_release",
            "agency": v["agency"],
            "case_tag": b64e(v["case_tag"]),
            "device_id": v["device_id"],
            "hold_index": v["hold_index"],
            "at": at,
        }
    if kind == "purge":  # retention.py purge
        return {
            "kind": "purge",
            "message_id": v["message_id"],
            "envelope_hash": b64e(v["envelope_hash"]),
            "envelope_index": v["envelope_index"],
            "agencies": list(v["agencies"]),
            "at": at,
        }
    if kind in ("home", "peer", "forwarded_out", "forwarded_in", "peer_ack", "peer_review"):
        # PROTOCOL.md §16.9 as written: the fields as listed, bytes base64, lists as lists.
        return legacy_log_entry(
            kind, at, **{k: list(x) if isinstance(x, tuple) else x for k, x in v.items()}
        )
    raise AssertionError(f"no legacy builder for {kind}")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_typed_entry_gives_the_leaf_bytes_of_the_dict_the_relay_built(entry: LogEntry) -> None:
    legacy = legacy_entry(entry)
    assert entry.to_json() == legacy
    assert entry.encode() == canonical_json(legacy)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_every_kind_round_trips_through_the_parser(entry: LogEntry) -> None:
    assert parse_log_entry(entry.encode()) == entry
    assert log_entry_from_json(entry.to_json()) == entry


def test_named_identifiers_are_the_agencies_and_devices_of_the_entry() -> None:
    envelope = next(e for e in ENTRIES if isinstance(e, EnvelopeEntry))
    assert list(envelope.named_identifiers()) == [envelope.sender, *envelope.recipients]
    purge = next(e for e in ENTRIES if isinstance(e, PurgeEntry))
    assert list(purge.named_identifiers()) == list(purge.agencies)


# --- tamper tests ------------------------------------------------------------------------------


def _json(entry: LogEntry) -> dict[str, Any]:
    return entry.to_json()


def _refused(obj: Any) -> None:
    with pytest.raises(MalformedError):
        log_entry_from_json(obj)
    if isinstance(obj, dict):
        try:
            data = canonical_json(obj)
        except MalformedError:
            return
        with pytest.raises(MalformedError):
            parse_log_entry(data)


@pytest.mark.parametrize("kind", [None, "", "Envelope", "envelopes", "message", 5, ["ack"]])
def test_an_unknown_kind_is_refused_not_skipped(kind: Any) -> None:
    _refused({**_json(ENTRIES[5]), "kind": kind})


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_a_missing_field_is_refused(entry: LogEntry) -> None:
    for name in entry.to_json():
        obj = entry.to_json()
        del obj[name]
        _refused(obj)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_an_extra_field_is_refused(entry: LogEntry) -> None:
    _refused({**entry.to_json(), "note": "x"})
    _refused({**entry.to_json(), "content": None})


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_a_field_of_the_wrong_type_is_refused(entry: LogEntry) -> None:
    for name, value in entry.to_json().items():
        if name == "kind":
            continue
        if value is None:  # a nullable device id (peer_ack): any non-text is refused
            wrongs: tuple[Any, ...] = (True, [], {}, 1, "")
        else:
            wrongs = (None, True, [], {}, 1 if isinstance(value, str) else "1", "")
        for wrong in wrongs:
            _refused({**entry.to_json(), name: wrong})


@pytest.mark.parametrize(
    "name, value",
    [
        ("envelope_hash", b64e(bytes(31))),  # a hash of the wrong length
        ("envelope_hash", b64e(bytes(33))),
        ("envelope_hash", base64.b64encode(bytes(32)).decode()[:-1]),  # padding missing
        ("envelope_hash", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="),  # non-zero trailing bits
        ("envelope_hash", " " + b64e(bytes(32))),
        ("message_id", "00112233445566778899AABBCCDDEEFF"),  # upper case
        ("message_id", "0011"),
        ("recipients", ["VN-QN-CA:b:1", "CN-GX-DXGA:a:1"]),  # not sorted
        ("recipients", ["VN-QN-CA:b:1", "VN-QN-CA:b:1"]),  # repeated
        ("recipients", []),
        ("size", -1),
        ("size", 2**53),
        ("at", -5),
    ],
)
def test_an_envelope_entry_with_a_bad_value_is_refused(name: str, value: Any) -> None:
    envelope = next(e for e in ENTRIES if isinstance(e, EnvelopeEntry))
    _refused({**envelope.to_json(), name: value})


def test_a_review_entry_needs_a_64_byte_signature() -> None:
    review = next(e for e in ENTRIES if isinstance(e, ReviewEntry))
    _refused({**review.to_json(), "signature": b64e(bytes(32))})


@pytest.mark.parametrize("kind, name, value", [
    ("review_refused", "refusal", "not_allowed"),
    ("review_refusals_counted", "count", 0),
    ("retention", "days", 0),
    ("retention", "days", 36501),
])  # fmt: skip
def test_values_outside_their_set_or_range_are_refused(kind: str, name: str, value: Any) -> None:
    entry = next(e for e in ENTRIES if e.KIND == kind)
    _refused({**entry.to_json(), name: value})


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_leaf_data_that_is_not_canonical_is_refused(entry: LogEntry) -> None:
    obj = entry.to_json()
    spaced = json.dumps(obj, sort_keys=True).encode()
    unsorted = json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":")).encode()
    for data in (spaced, unsorted, entry.encode() + b"\n", b" " + entry.encode()):
        with pytest.raises(MalformedError):
            parse_log_entry(data)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.KIND)
def test_every_single_byte_flip_of_the_leaf_data_is_refused_or_changes_the_entry(
    entry: LogEntry,
) -> None:
    data = entry.encode()
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        try:
            parsed = parse_log_entry(bytes(flipped))
        except MalformedError:
            continue
        assert parsed != entry


def test_leaf_data_that_is_not_an_object_is_refused() -> None:
    for data in (b"[]", b'"ack"', b"null", b"", b"\xff"):
        with pytest.raises(MalformedError):
            parse_log_entry(data)
    with pytest.raises(MalformedError):
        log_entry_from_json(["kind", "ack"])  # type: ignore[arg-type]


def test_a_typed_entry_is_immutable() -> None:
    ack = AckEntry(message_id="0" * 32, device_id="VN-QN-CA:a:b", at=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ack.at = 2  # type: ignore[misc]
