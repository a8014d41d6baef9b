"""Signed checkpoints and cosignatures: known answers, interop, tamper and strict parsing."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from crypto.checkpoint import (
    Checkpoint,
    cosign_checkpoint,
    note_key_id,
    parse_note,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_cosignature,
    verify_note,
)
from crypto.errors import CryptoError, MalformedError, ProofError, SignatureError
from crypto.merkle import MerkleTree, leaf_hash
from tests.crypto.vectors import checkpoint_generate

VECTORS = Path(__file__).with_name("vectors")
KAT = json.loads((VECTORS / "checkpoint_kat.json").read_text())
LOG_NAME = KAT["log"]["key_name"]
LOG_PUBLIC = base64.b64decode(KAT["log"]["public_key"])
WITNESS_NAME = KAT["witness"]["key_name"]
WITNESS_PUBLIC = base64.b64decode(KAT["witness"]["public_key"])
NOTE: str = KAT["signed_note"]
COSIGNED: str = KAT["cosigned_note"]
KAT_NOW = KAT["cosignature_timestamp"] + 3600

LOG_KEY = nacl.signing.SigningKey(b"\x11" * 32)
OTHER_KEY = nacl.signing.SigningKey(b"\x22" * 32)


def _verify_kat(note: str) -> Checkpoint:
    return verify_checkpoint(note, key_name=LOG_NAME, public_key=LOG_PUBLIC)


def _signature_lines(note: str) -> list[str]:
    return note[note.rindex("\n\n") + 2 :].splitlines(keepends=True)


def _with_line(note: str, index: int, mangle: Any) -> str:
    """The note with signature line `index` replaced by mangle(decoded signature bytes)."""
    head = note[: note.rindex("\n\n") + 2]
    lines = _signature_lines(note)
    name, blob = lines[index].rstrip("\n").split(" ")[1:]
    raw = mangle(base64.b64decode(blob))
    lines[index] = f"\u2014 {name} {base64.b64encode(raw).decode()}\n"
    return head + "".join(lines)


def _flip(raw: bytes, at: int) -> bytes:
    out = bytearray(raw)
    out[at] ^= 0x01
    return bytes(out)


# Known answers -----------------------------------------------------------------------------


def test_kat_file_is_what_the_generator_produces() -> None:
    assert checkpoint_generate.build_vectors() == KAT


def test_kat_checkpoint_verifies_with_the_public_key_alone() -> None:
    cp = _verify_kat(NOTE)
    leaves = [bytes.fromhex(h) for h in KAT["tree"]["leaf_inputs_hex"]]
    assert cp == Checkpoint(LOG_NAME, len(leaves), MerkleTree(map(leaf_hash, leaves)).root())
    assert cp.body().decode() == KAT["checkpoint_body"]


def test_kat_key_ids_follow_signed_note_formula() -> None:
    expected_log = hashlib.sha256(LOG_NAME.encode() + b"\n\x01" + LOG_PUBLIC).digest()[:4]
    expected_witness = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + WITNESS_PUBLIC).digest()
    assert note_key_id(LOG_NAME, LOG_PUBLIC) == expected_log
    assert note_key_id(WITNESS_NAME, WITNESS_PUBLIC, 0x04) == expected_witness[:4]
    assert expected_log.hex() == KAT["log"]["key_id_hex"]


def test_kat_cosignature_verifies_and_returns_its_timestamp() -> None:
    ts = verify_cosignature(
        COSIGNED, witness_name=WITNESS_NAME, witness_public=WITNESS_PUBLIC, now=KAT_NOW
    )
    assert ts == KAT["cosignature_timestamp"]
    # The witness line is unknown to the log key and is ignored by checkpoint verification.
    assert _verify_kat(COSIGNED) == _verify_kat(NOTE)


# Interop with other implementations --------------------------------------------------------

# golang.org/x/mod/sumdb/note (note_test.go, ExampleSign): the PeterNeumann key and note.
GO_SIGNER = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")  # 0x01 || seed
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# A real checkpoint of the transparency.dev staging CT log arche2025h1 with witness
# cosignatures; verifier keys as published: arche2025h1...+ba2f06c0 (type 0x01),
# remora.n621.de+da77ade7 (type 0x04). Its other lines are keys we do not know (one of the
# log's own name, with a different key ID and signature type 0x05).
REAL_NOTE = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
"""  # noqa: E501
REAL_LOG = (
    "arche2025h1.staging.ct.transparency.dev",
    "AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f",
)
REAL_WITNESS = ("remora.n621.de", "BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")


def test_signing_reproduces_the_go_sumdb_note_byte_for_byte() -> None:
    assert GO_SIGNER[0] == 0x01
    key = nacl.signing.SigningKey(GO_SIGNER[1:])
    assert note_key_id("PeterNeumann", bytes(key.verify_key)).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, key_name="PeterNeumann", signing_key=key) == GO_NOTE
    assert verify_note(GO_NOTE, key_name="PeterNeumann", public_key=bytes(key.verify_key)) == (
        GO_TEXT
    )


def test_real_witnessed_checkpoint_verifies() -> None:
    log_name, log_vkey = REAL_LOG
    witness_name, witness_vkey = REAL_WITNESS
    log_public, witness_public = base64.b64decode(log_vkey), base64.b64decode(witness_vkey)
    assert (log_public[0], witness_public[0]) == (0x01, 0x04)
    assert note_key_id(log_name, log_public[1:]).hex() == "ba2f06c0"
    assert note_key_id(witness_name, witness_public[1:], 0x04).hex() == "da77ade7"
    cp = verify_checkpoint(REAL_NOTE, key_name=log_name, public_key=log_public[1:])
    assert (cp.origin, cp.size) == (log_name, 1432088532)
    ts = verify_cosignature(
        REAL_NOTE, witness_name=witness_name, witness_public=witness_public[1:], now=2**40
    )
    assert ts == int.from_bytes(base64.b64decode("2net5wAAAABqEiEg")[4:12], "big")
    with pytest.raises(SignatureError):
        verify_checkpoint(
            REAL_NOTE.replace("1432088532", "1432088533"),
            key_name=log_name,
            public_key=log_public[1:],
        )


# Tamper ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tampered",
    [
        pytest.param(NOTE.replace("\n5\n", "\n6\n", 1), id="size"),
        pytest.param(NOTE.replace("fKo0", "fKo1", 1), id="root"),
        pytest.param(
            NOTE.replace("liaison.example/log\n", "liaison.example/lag\n", 1), id="origin"
        ),
        pytest.param(_with_line(NOTE, 0, lambda raw: _flip(raw, 4)), id="signature-first-byte"),
        pytest.param(_with_line(NOTE, 0, lambda raw: _flip(raw, 67)), id="signature-last-byte"),
        pytest.param(_with_line(NOTE, 0, lambda raw: _flip(raw, 0)), id="key-id"),
        pytest.param(_with_line(NOTE, 0, lambda raw: raw[:-1]), id="signature-truncated"),
    ],
)
def test_tampered_checkpoint_is_refused(tampered: str) -> None:
    assert tampered != NOTE
    with pytest.raises(SignatureError):
        _verify_kat(tampered)


def test_every_single_byte_change_of_the_note_is_refused() -> None:
    data = NOTE.encode()
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        with pytest.raises(CryptoError):
            _verify_kat(changed.decode("utf-8", errors="replace"))


def test_checkpoint_signed_by_another_key_is_refused() -> None:
    cp = Checkpoint(LOG_NAME, 5, b"\x07" * 32)
    forged = sign_checkpoint(cp, key_name=LOG_NAME, signing_key=OTHER_KEY)
    with pytest.raises(SignatureError):
        _verify_kat(forged)


def test_checkpoint_of_another_origin_is_refused_when_origin_is_pinned() -> None:
    note = sign_checkpoint(
        Checkpoint("other.example/log", 1, b"\x01" * 32), key_name="log", signing_key=LOG_KEY
    )
    public = bytes(LOG_KEY.verify_key)
    assert verify_checkpoint(note, key_name="log", public_key=public).origin == "other.example/log"
    with pytest.raises(ProofError):
        verify_checkpoint(note, key_name="log", public_key=public, origin="liaison.example/log")


def test_unknown_signature_lines_are_ignored() -> None:
    other = sign_note(KAT["checkpoint_body"], key_name="someone.else", signing_key=OTHER_KEY)
    same_name_other_key = sign_note(
        KAT["checkpoint_body"], key_name=LOG_NAME, signing_key=OTHER_KEY
    )
    note = NOTE + _signature_lines(other)[0] + _signature_lines(same_name_other_key)[0]
    assert _verify_kat(note) == _verify_kat(NOTE)


def test_a_note_without_the_log_signature_is_refused() -> None:
    other = sign_note(KAT["checkpoint_body"], key_name="someone.else", signing_key=OTHER_KEY)
    with pytest.raises(SignatureError):
        _verify_kat(other)


def test_two_lines_of_the_same_key_are_refused() -> None:
    with pytest.raises(MalformedError):
        _verify_kat(NOTE + _signature_lines(NOTE)[0])


# Strict parsing ----------------------------------------------------------------------------


def _signed(body: str) -> str:
    return sign_note(body, key_name="log", signing_key=LOG_KEY)


def _verify(note: str) -> Checkpoint:
    return verify_checkpoint(note, key_name="log", public_key=bytes(LOG_KEY.verify_key))


ROOT_B64 = base64.b64encode(b"\x05" * 32).decode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"log\n05\n{ROOT_B64}\n", id="leading-zero"),
        pytest.param(f"log\n+5\n{ROOT_B64}\n", id="signed-size"),
        pytest.param(f"log\n５\n{ROOT_B64}\n", id="non-ascii-digit"),
        pytest.param(f"log\n{2**64}\n{ROOT_B64}\n", id="size-overflow"),
        pytest.param(f"log\n5\n{ROOT_B64[:-1]}\n", id="unpadded-root"),
        pytest.param(f"log\n5\n{base64.b64encode(b'x' * 31).decode()}\n", id="short-root"),
        pytest.param(f"log\n5\n{ROOT_B64}\nextension\n", id="extension-line"),
        pytest.param("log\n5\n", id="missing-root"),
        pytest.param(f"log\n5 \n{ROOT_B64}\n", id="trailing-space"),
    ],
)
def test_malformed_checkpoint_body_is_refused_even_when_signed(body: str) -> None:
    with pytest.raises(MalformedError):
        _verify(_signed(body))


def test_well_formed_checkpoint_round_trips() -> None:
    cp = Checkpoint("liaison.example/log", 0, b"\x05" * 32)
    assert _verify(sign_checkpoint(cp, key_name="log", signing_key=LOG_KEY)) == cp


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda n: n.replace("\n\n", "\n"), id="no-blank-line"),
        pytest.param(lambda n: n[:-1], id="no-final-newline"),
        pytest.param(lambda n: n.replace("\u2014 ", "-- "), id="ascii-dash"),
        pytest.param(lambda n: n.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda n: n.replace("\u2014 log ", "\u2014 log  "), id="double-space"),
        pytest.param(lambda n: n.replace("\u2014 log ", "\u2014 lo+g "), id="plus-in-name"),
        pytest.param(lambda n: n.replace("\u2014 log ", "\u2014  "), id="empty-name"),
        pytest.param(lambda n: n[:-2] + "!\n", id="bad-base64"),
        pytest.param(lambda n: n + "\u2014 log AAAA\n", id="signature-too-short"),
        pytest.param(lambda n: n + "\n", id="trailing-blank-line"),
        pytest.param(lambda n: "\t" + n, id="control-character"),
        pytest.param(lambda n: "\n\n" + n[n.rindex("\n\n") + 2 :], id="empty-text"),
    ],
)
def test_malformed_note_is_refused(mangle: Any) -> None:
    note = _signed(f"log\n5\n{ROOT_B64}\n")
    _verify(note)
    with pytest.raises(MalformedError):
        _verify(mangle(note))


def test_note_with_too_many_signatures_is_refused() -> None:
    note = _signed(f"log\n5\n{ROOT_B64}\n")
    extra = [f"\u2014 k{i} AAAAAAA=\n" for i in range(100)]
    # The spec asks verifiers to accept at least 16 signatures...
    assert _verify(note + "".join(extra[:15])) == _verify(note)
    # ...and to cap them; with the log's own line this note has 101.
    with pytest.raises(MalformedError):
        _verify(note + "".join(extra))


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, b"\x00" * 32),
        ("a\nb", 1, b"\x00" * 32),
        ("log", -1, b"\x00" * 32),
        ("log", 1, b"\x00" * 31),
        ("log", True, b"\x00" * 32),
    ],
    ids=["empty-origin", "multiline-origin", "negative-size", "short-root", "bool-size"],
)
def test_invalid_checkpoint_cannot_be_built(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(MalformedError):
        Checkpoint(origin, size, root)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\nb"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(MalformedError):
        sign_checkpoint(Checkpoint("log", 1, b"\x00" * 32), key_name=name, signing_key=LOG_KEY)


# Cosignatures ------------------------------------------------------------------------------

WITNESS_KEY = nacl.signing.SigningKey(b"\x33" * 32)
WITNESS_PUB = bytes(WITNESS_KEY.verify_key)


def _cosigned(note: str, ts: int = 1_800_000_000) -> str:
    return note + cosign_checkpoint(note, witness_name="w", witness_key=WITNESS_KEY, timestamp=ts)


def test_cosignature_covers_the_documented_message() -> None:
    note = _signed(f"log\n5\n{ROOT_B64}\n")
    line = cosign_checkpoint(note, witness_name="w", witness_key=WITNESS_KEY, timestamp=42)
    raw = base64.b64decode(line.rstrip("\n").split(" ")[2])
    assert raw[:4] == hashlib.sha256(b"w\n\x04" + WITNESS_PUB).digest()[:4]
    assert raw[4:12] == (42).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 42\n" + f"log\n5\n{ROOT_B64}\n".encode()
    WITNESS_KEY.verify_key.verify(message, raw[12:])


def test_cosigned_note_still_verifies_for_the_log() -> None:
    note = _signed(f"log\n5\n{ROOT_B64}\n")
    cosigned = _cosigned(note)
    assert _verify(cosigned) == _verify(note)
    assert (
        verify_cosignature(
            cosigned, witness_name="w", witness_public=WITNESS_PUB, now=1_800_000_000
        )
        == 1_800_000_000
    )


def test_cosignature_moved_to_another_checkpoint_is_refused() -> None:
    note5 = _signed(f"log\n5\n{ROOT_B64}\n")
    note6 = _signed(f"log\n6\n{ROOT_B64}\n")
    line = _signature_lines(_cosigned(note5))[-1]
    with pytest.raises(SignatureError):
        verify_cosignature(
            note6 + line, witness_name="w", witness_public=WITNESS_PUB, now=1_800_000_000
        )


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        pytest.param(lambda raw: _flip(raw, 11), SignatureError, id="timestamp"),
        pytest.param(lambda raw: _flip(raw, 40), SignatureError, id="signature"),
        pytest.param(lambda raw: raw[:-1], SignatureError, id="truncated"),
        pytest.param(lambda raw: _flip(raw, 1), SignatureError, id="key-id"),
    ],
)
def test_tampered_cosignature_is_refused(mangle: Any, error: type[Exception]) -> None:
    cosigned = _cosigned(_signed(f"log\n5\n{ROOT_B64}\n"))
    with pytest.raises(error):
        verify_cosignature(
            _with_line(cosigned, -1, mangle),
            witness_name="w",
            witness_public=WITNESS_PUB,
            now=1_800_000_000,
        )


def test_cosignature_by_another_witness_key_is_refused() -> None:
    cosigned = _cosigned(_signed(f"log\n5\n{ROOT_B64}\n"))
    with pytest.raises(SignatureError):
        verify_cosignature(
            cosigned,
            witness_name="w",
            witness_public=bytes(OTHER_KEY.verify_key),
            now=1_800_000_000,
        )


def test_log_signature_does_not_count_as_a_cosignature_by_the_same_key() -> None:
    note = _signed(f"log\n5\n{ROOT_B64}\n")
    with pytest.raises(SignatureError):
        verify_cosignature(
            note, witness_name="log", witness_public=bytes(LOG_KEY.verify_key), now=1_800_000_000
        )


def test_cosignature_from_the_future_is_refused() -> None:
    cosigned = _cosigned(_signed(f"log\n5\n{ROOT_B64}\n"), ts=1_800_000_000)
    kwargs = {"witness_name": "w", "witness_public": WITNESS_PUB}
    assert verify_cosignature(cosigned, now=1_800_000_000 - 300, **kwargs) == 1_800_000_000
    with pytest.raises(ProofError):
        verify_cosignature(cosigned, now=1_800_000_000 - 301, **kwargs)


@pytest.mark.parametrize("ts", [-1, 2**63, True])
def test_cosignature_timestamp_out_of_range_is_refused(ts: int) -> None:
    with pytest.raises(MalformedError):
        cosign_checkpoint(
            _signed(f"log\n5\n{ROOT_B64}\n"),
            witness_name="w",
            witness_key=WITNESS_KEY,
            timestamp=ts,
        )


def test_cosigning_a_note_that_is_not_a_checkpoint_is_refused() -> None:
    with pytest.raises(MalformedError):
        cosign_checkpoint(GO_NOTE, witness_name="w", witness_key=WITNESS_KEY, timestamp=1)


def test_parsing_a_note_lists_its_signature_lines_without_verifying() -> None:
    parsed = parse_note(COSIGNED)
    assert parsed.text == KAT["checkpoint_body"]
    assert [(s.key_name, s.key_id.hex()) for s in parsed.signatures] == [
        (LOG_NAME, KAT["log"]["key_id_hex"]),
        (WITNESS_NAME, KAT["witness"]["key_id_hex"]),
    ]
    assert [len(s.signature) for s in parsed.signatures] == [64, 72]
