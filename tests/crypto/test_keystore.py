"""Keystore files: Argon2id parameters pinned in the file; wrong passphrase equals tamper."""

from __future__ import annotations

import json

import pytest

from crypto import keystore
from crypto.errors import KeystoreError
from tests.crypto.crypto_world import pinned_rng

FAST = {"opslimit": 1, "memlimit": 8192}
SECRET = bytes(range(64))


def test_locked_secret_unlocks_with_its_passphrase_in_any_normal_form():
    data = keystore.lock(SECRET, "Mật khẩu 密码", **FAST)
    assert keystore.unlock(data, "Mật khẩu 密码") == SECRET
    decomposed = "Ma\u0323\u0302t kha\u0302\u0309u 密码"
    assert keystore.unlock(data, decomposed) == SECRET


def test_file_pins_its_kdf_parameters():
    data = json.loads(keystore.lock(SECRET, "pw", **FAST, rng=pinned_rng(b"ks")))
    assert (data["kdf"], data["opslimit"], data["memlimit"]) == ("argon2id13", 1, 8192)


def test_default_limits_are_libsodium_moderate():
    assert (keystore.DEFAULT_OPSLIMIT, keystore.DEFAULT_MEMLIMIT) == (3, 256 * 1024 * 1024)


def _error_of(data: bytes, passphrase: str) -> KeystoreError:
    with pytest.raises(KeystoreError) as info:
        keystore.unlock(data, passphrase)
    return info.value


def test_wrong_passphrase_and_tampered_file_give_the_same_error():
    data = keystore.lock(SECRET, "correct horse", **FAST)
    wrong = _error_of(data, "correct horsE")
    obj = json.loads(data)
    tampered_variants = []
    for field in ("ciphertext", "nonce", "salt"):
        raw = bytearray(keystore.b64d(obj[field]))
        raw[0] ^= 1
        tampered_variants.append({**obj, field: keystore.b64e(bytes(raw))})
    tampered_variants.append({**obj, "opslimit": 2})
    tampered_variants.append({**obj, "memlimit": 16384})
    tampered_variants.append({**obj, "memlimit": 2**40})
    tampered_variants.append({**obj, "version": 9})
    for variant in tampered_variants:
        err = _error_of(keystore.canonical_json(variant), "correct horse")
        assert (type(err), err.code, str(err)) == (type(wrong), wrong.code, str(wrong))
    for garbage in (b"", b"{}", data[:-1], data + b" "):
        err = _error_of(garbage, "correct horse")
        assert (type(err), err.code, str(err)) == (type(wrong), wrong.code, str(wrong))
    assert wrong.code == "keystore_locked"


def test_flipping_any_byte_of_the_file_refuses_it():
    data = keystore.lock(b"k" * 32, "pw", **FAST)
    for i in range(len(data)):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        with pytest.raises(KeystoreError):
            keystore.unlock(bytes(tampered), "pw")


def test_out_of_range_limits_are_refused_when_locking():
    with pytest.raises(ValueError):
        keystore.lock(SECRET, "pw", opslimit=0, memlimit=8192)
