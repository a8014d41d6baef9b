"""Local seals (PROTOCOL.md §7.2): known answers recomputed from the spec, and tamper tests."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_generichash_blake2b_salt_personal,
)

from crypto.labels import LABEL_LOCAL_DRAFT, LABEL_LOCAL_OUTBOX
from crypto.local_seal import LocalSealError, local_seal_key, open_local, seal_local

VECTORS = Path(__file__).resolve().parent / "vectors"


def cases() -> list[dict]:
    return json.loads((VECTORS / "local_seal.json").read_text(encoding="utf-8"))["cases"]


def frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def test_checked_in_vectors_equal_what_the_code_produces_now():
    generator = importlib.import_module("tests.crypto.vectors.local_seal_generate")
    assert (VECTORS / "local_seal.json").read_text(encoding="utf-8") == generator.render()


@pytest.mark.parametrize("index", range(len(cases())))
def test_vector_recomputed_from_the_spec_with_raw_libsodium(index):
    case = cases()[index]
    seed = bytes.fromhex(case["signing_seed_hex"])
    label = case["label"].encode()
    key = crypto_generichash_blake2b_salt_personal(frame(label), digest_size=32, key=seed)
    assert key.hex() == case["key_hex"]
    sealed = bytes.fromhex(case["sealed_hex"])
    assert sealed[0] == 1
    nonce = sealed[1:25]
    ad = label + b"\x00" + case["name"].encode("utf-8")
    plaintext = bytes.fromhex(case["plaintext_hex"])
    assert (
        b"\x01" + nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
        == sealed
    )
    assert open_local(key, label, case["name"], sealed) == plaintext


def _sealed():
    key = local_seal_key(bytes(range(32)), LABEL_LOCAL_OUTBOX)
    return key, seal_local(key, LABEL_LOCAL_OUTBOX, "000001-aa", b"secret message")


def test_every_flipped_byte_is_refused():
    key, sealed = _sealed()
    for i in range(len(sealed)):
        changed = bytearray(sealed)
        changed[i] ^= 0x01
        with pytest.raises(LocalSealError):
            open_local(key, LABEL_LOCAL_OUTBOX, "000001-aa", bytes(changed))


def test_truncated_renamed_other_purpose_or_other_device_is_refused():
    key, sealed = _sealed()
    for bad in (sealed[:-1], sealed[:20], b"", sealed + b"\x00"):
        with pytest.raises(LocalSealError):
            open_local(key, LABEL_LOCAL_OUTBOX, "000001-aa", bad)
    with pytest.raises(LocalSealError):
        open_local(key, LABEL_LOCAL_OUTBOX, "000002-aa", sealed)
    draft_key = local_seal_key(bytes(range(32)), LABEL_LOCAL_DRAFT)
    with pytest.raises(LocalSealError):
        open_local(draft_key, LABEL_LOCAL_DRAFT, "000001-aa", sealed)
    other = local_seal_key(bytes(range(1, 33)), LABEL_LOCAL_OUTBOX)
    with pytest.raises(LocalSealError):
        open_local(other, LABEL_LOCAL_OUTBOX, "000001-aa", sealed)


def test_keys_differ_per_purpose_and_only_local_labels_are_accepted():
    seed = bytes(32)
    assert local_seal_key(seed, LABEL_LOCAL_OUTBOX) != local_seal_key(seed, LABEL_LOCAL_DRAFT)
    with pytest.raises(ValueError):
        local_seal_key(seed, b"liaison/v1/local-notice-cache")


def test_two_seals_of_the_same_plaintext_differ():
    key = local_seal_key(bytes(32), LABEL_LOCAL_DRAFT)
    assert seal_local(key, LABEL_LOCAL_DRAFT, "a", b"x") != seal_local(
        key, LABEL_LOCAL_DRAFT, "a", b"x"
    )
