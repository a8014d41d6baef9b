"""Project Wycheproof X25519, Ed25519 and XChaCha20-Poly1305 through the project's own calls.

'acceptable' cases (X25519 only: twist points, non-canonical and low-order public keys):
libsodium may either compute the RFC 7748 result, which must then equal the vector's shared
secret, or refuse; it refuses exactly when the shared secret is all zeros, and the project
turns that refusal into DecryptionError. Both outcomes are asserted, so neither is skipped.
"""

from __future__ import annotations

import json

import pytest
from nacl.signing import VerifyKey

from crypto.certs import verify_signed
from crypto.envelope import _aead_decrypt, _aead_encrypt, _x25519
from crypto.errors import CertificateSignatureError, DecryptionError


def load(vectors_dir, name):
    data = json.loads((vectors_dir / "wycheproof" / name).read_text())
    return [(group, case) for group in data["testGroups"] for case in group["tests"]]


@pytest.mark.vectors
def test_x25519_vectors(vectors_dir):
    cases = load(vectors_dir, "x25519_test.json")
    assert len(cases) > 500
    for _, case in cases:
        private, public = bytes.fromhex(case["private"]), bytes.fromhex(case["public"])
        shared = bytes.fromhex(case["shared"])
        if shared == bytes(32):
            assert case["result"] == "acceptable", case["tcId"]
            with pytest.raises(DecryptionError):
                _x25519(private, public)
        else:
            assert case["result"] in ("valid", "acceptable"), case["tcId"]
            assert _x25519(private, public) == shared, case["tcId"]


@pytest.mark.vectors
def test_ed25519_vectors(vectors_dir):
    cases = load(vectors_dir, "ed25519_test.json")
    assert len(cases) > 100
    for group, case in cases:
        public = bytes.fromhex(group["publicKey"]["pk"])
        msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
        # The project's verification path prefixes a label; the raw primitive is checked here
        # with the same PyNaCl call, then the wrapper's error mapping on the same inputs.
        ok = True
        try:
            VerifyKey(public).verify(msg, sig)
        except Exception:
            ok = False
        assert ok == (case["result"] == "valid"), case["tcId"]


@pytest.mark.vectors
def test_ed25519_invalid_signatures_map_to_typed_errors(vectors_dir):
    for group, case in load(vectors_dir, "ed25519_test.json"):
        if case["result"] != "invalid":
            continue
        public = bytes.fromhex(group["publicKey"]["pk"])
        with pytest.raises(CertificateSignatureError):
            verify_signed(public, b"", bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))


@pytest.mark.vectors
def test_xchacha20_poly1305_vectors(vectors_dir):
    cases = load(vectors_dir, "xchacha20_poly1305_test.json")
    assert len(cases) > 300
    for _, case in cases:
        key, nonce = bytes.fromhex(case["key"]), bytes.fromhex(case["iv"])
        aad, msg = bytes.fromhex(case["aad"]), bytes.fromhex(case["msg"])
        sealed = bytes.fromhex(case["ct"]) + bytes.fromhex(case["tag"])
        if case["result"] == "valid":
            assert _aead_encrypt(key, nonce, msg, aad) == sealed, case["tcId"]
            assert _aead_decrypt(key, nonce, sealed, aad) == msg, case["tcId"]
        else:
            with pytest.raises(DecryptionError):
                _aead_decrypt(key, nonce, sealed, aad)
