"""Known-answer vectors: the checked-in files equal what the code produces now, and the bytes
in them follow PROTOCOL.md when recomputed here straight from the spec with raw libsodium calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_generichash_blake2b_salt_personal,
    crypto_scalarmult,
    crypto_scalarmult_base,
    crypto_sign_open,
)

from crypto import keystore
from crypto.certs import DeviceCertificate, ReviewKeyStatement, Revocation, TrustStore
from crypto.encoding import b64d
from crypto.envelope import Envelope, ReviewRecipient, open_as_reviewer, open_envelope
from crypto.keys import DeviceKeys, ReviewKeyPair, safety_number
from crypto.replay import ReplayGuard
from tests.crypto.crypto_world import NOW
from tests.crypto.vectors import generate as kat_generator

VECTORS = Path(__file__).resolve().parent / "vectors"


def vector(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_checked_in_vectors_equal_what_the_code_produces_now():
    built = kat_generator.build()
    for name, text in built.items():
        assert (VECTORS / name).read_text(encoding="utf-8") == text, f"regenerate {name}"


# --- PROTOCOL.md recomputed without crypto.envelope -----------------------------------------


def frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def h(label: bytes, *parts: bytes, size: int = 32, key: bytes = b"") -> bytes:
    return crypto_generichash_blake2b_salt_personal(frame(label, *parts), digest_size=size, key=key)


def aead(key: bytes, nonce: bytes, msg: bytes, ad: bytes) -> bytes:
    return crypto_aead_xchacha20poly1305_ietf_encrypt(msg, ad, nonce, key)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_envelope_vector_matches_the_spec(index):
    case = vector("envelopes.json")["cases"][index]
    mid = case["intermediate"]
    data = b64d(case["envelope"])
    k = bytes.fromhex(mid["content_key_hex"])
    eph = bytes.fromhex(mid["ephemeral_secret_hex"])
    header = mid["header_bytes"].encode("utf-8")
    hh = h(b"liaison/v1/envelope-header", header)
    assert hh.hex() == mid["header_hash_hex"]
    header_obj = json.loads(header)
    assert b64d(header_obj["ephemeral_key"]) == crypto_scalarmult_base(eph)

    nonce = h(b"liaison/v1/body-nonce", hh, size=24)
    body = aead(k, nonce, bytes.fromhex(case["plaintext_hex"]), hh)
    wraps = []
    for r in sorted(case["recipients"], key=lambda r: r["device_id"]):
        pub = b64d(r["encryption_public"])
        shared = crypto_scalarmult(eph, pub)
        wk = h(
            b"liaison/v1/wrap-key",
            crypto_scalarmult_base(eph),
            pub,
            r["device_id"].encode(),
            hh,
            key=shared,
        )
        wraps.append(aead(wk, bytes(24), k, hh))
    reviews = []
    for pair in header_obj["review_recipients"]:
        agency, key_id = pair
        pub = next(b64d(r["public"]) for r in case["review"] if r["key_id"] == key_id)
        e = h(b"liaison/v1/review-ephemeral", hh, agency.encode(), key_id.encode(), pub, key=k)
        e_pub = crypto_scalarmult_base(e)
        rk = h(
            b"liaison/v1/review-wrap-key",
            e_pub,
            pub,
            agency.encode(),
            key_id.encode(),
            hh,
            key=crypto_scalarmult(e, pub),
        )
        reviews.append(e_pub + aead(rk, bytes(24), k, hh))
    assert [w.hex() for w in wraps] == mid["wraps_hex"]
    assert [w.hex() for w in reviews] == mid["review_wraps_hex"]

    payload = (
        b"liaison/v1/envelope-signature\x00"
        + hh
        + h(b"liaison/v1/envelope-body", body)
        + h(b"liaison/v1/envelope-wraps", b"".join(wraps))
        + h(b"liaison/v1/envelope-review-wraps", b"".join(reviews))
    )
    assert payload.hex() == mid["signed_payload_hex"]
    sender_cert = DeviceCertificate.from_bytes(case["sender"]["certificate"].encode())
    signature = data[-64:]
    assert crypto_sign_open(signature + payload, sender_cert.signing_key) == payload
    wire = (
        b"LSE1"
        + len(header).to_bytes(4, "big")
        + header
        + len(body).to_bytes(4, "big")
        + body
        + len(wraps).to_bytes(2, "big")
        + b"".join(wraps)
        + len(reviews).to_bytes(2, "big")
        + b"".join(reviews)
        + signature
    )
    assert wire == data
    assert h(b"liaison/v1/envelope-hash", data).hex() == case["envelope_hash_hex"]
    # The parsed envelope's own hash (computed from the wire bytes it keeps) is the same.
    parsed = Envelope.from_bytes(data)
    assert parsed.envelope_hash().hex() == case["envelope_hash_hex"]
    assert parsed.to_bytes() == data


@pytest.mark.parametrize("index", [0, 1, 2])
def test_envelope_vector_opens_with_the_recorded_keys(index):
    case = vector("envelopes.json")["cases"][index]
    trust = TrustStore.with_pins((code, b64d(pub)) for code, pub in case["roots"].items())
    sender_cert = DeviceCertificate.from_bytes(case["sender"]["certificate"].encode())
    review = [ReviewRecipient(r["agency"], r["key_id"], b64d(r["public"])) for r in case["review"]]
    plaintext = bytes.fromhex(case["plaintext_hex"])
    env = Envelope.from_bytes(b64d(case["envelope"]))
    for r in case["recipients"]:
        opened = open_envelope(
            env,
            recipient_device_id=r["device_id"],
            recipient=DeviceKeys.from_bytes(bytes.fromhex(r["key_material_hex"])),
            sender_cert=sender_cert,
            trust=trust,
            expected_review=review,
            replay=ReplayGuard(),
            now=NOW,
        )
        assert opened.plaintext == plaintext
    for r in case["review"]:
        opened = open_as_reviewer(
            env,
            review=ReviewKeyPair.from_bytes(bytes.fromhex(r["private_hex"])),
            agency=r["agency"],
            sender_cert=sender_cert,
            trust=trust,
            now=NOW,
        )
        assert opened.plaintext == plaintext


def test_certificate_vector_verifies_against_its_root():
    v = vector("certificates.json")
    root_public = b64d(v["root"]["public"])
    trust = TrustStore.with_pins([(v["root"]["agency"], root_public)])
    cert = DeviceCertificate.from_bytes(v["certificate"]["bytes"].encode())
    signed = bytes.fromhex(v["certificate"]["signed_message_hex"])
    assert signed.startswith(b"liaison/v1/device-certificate\x00")
    assert crypto_sign_open(cert.signature + signed, root_public) == signed
    trust.verify_certificate(cert, now=NOW)
    assert cert.cert_hash().hex() == v["certificate"]["cert_hash_hex"]
    assert (
        h(b"liaison/v1/certificate-hash", cert.to_bytes()).hex()
        == v["certificate"]["cert_hash_hex"]
    )
    assert safety_number(root_public) == v["root"]["safety_number"]
    trust.verify_review_statement(ReviewKeyStatement.from_bytes(v["review_key_statement"].encode()))
    trust.add_revocation(Revocation.from_bytes(v["revocation"].encode()))
    assert trust.is_revoked(cert.device_id)


def test_keystore_vector_unlocks_with_its_passphrase():
    v = vector("keystore.json")
    assert keystore.unlock(v["file"].encode(), v["passphrase"]) == bytes.fromhex(v["secret_hex"])
