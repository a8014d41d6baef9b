"""Device certificates, review-key statements, revocations and the trust store."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.certs import (
    DeviceCertificate,
    ReviewKeyStatement,
    Revocation,
    TrustStore,
    issue_review_key_statement,
    issue_revocation,
)
from crypto.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateSignatureError,
    MalformedError,
    UnsupportedVersion,
    UntrustedRoot,
)
from crypto.keys import ReviewKeyPair, RootKey
from tests.crypto.crypto_world import CN, DAY, NOW, VN, World, pinned_rng


@pytest.fixture
def world() -> World:
    return World(rng=pinned_rng(b"certificates"))


def test_certificate_round_trips_and_verifies_inside_its_window(world):
    party = world.device("nguyen.a", VN, role="supervisor")
    cert = DeviceCertificate.from_bytes(party.cert.to_bytes())
    assert cert == party.cert and cert.cert_hash() == party.cert.cert_hash()
    for now in (cert.not_before, NOW, cert.not_after):
        world.trust.verify_certificate(cert, now=now)


def test_certificate_outside_its_window_is_refused(world):
    cert = world.device("a", VN).cert
    with pytest.raises(CertificateNotYetValid):
        world.trust.verify_certificate(cert, now=cert.not_before - 1)
    with pytest.raises(CertificateExpired):
        world.trust.verify_certificate(cert, now=cert.not_after + 1)


@pytest.mark.parametrize(
    "change",
    [
        {"role": "admin"},
        {"officer_id": "b", "device_id": f"{VN}:b:laptop"},
        {"not_after": NOW + 9999 * DAY},
        {"display_names": {"vi": "Kẻ giả mạo", "zh": "冒充者"}},
        {"serial": 999},
    ],
)
def test_certificate_with_any_field_changed_is_refused(world, change):
    cert = world.device("a", VN).cert
    forged = dataclasses.replace(cert, **change)
    with pytest.raises(CertificateSignatureError):
        TrustStore.with_pins([(VN, world.roots[VN].public)]).verify_certificate(forged, now=NOW)


def test_certificate_signed_by_another_agency_root_is_refused(world):
    world.agency(VN)
    cert = world.device("a", VN, root=world.agency(CN)).cert
    with pytest.raises(CertificateSignatureError):
        world.trust.verify_certificate(cert, now=NOW)


def test_certificate_of_unpinned_agency_is_refused(world):
    cert = world.device("a", VN).cert
    with pytest.raises(UntrustedRoot):
        TrustStore().verify_certificate(cert, now=NOW)


def test_pinning_a_second_root_for_an_agency_is_refused(world):
    world.agency(VN)
    with pytest.raises(UntrustedRoot):
        world.trust.pin(VN, RootKey.generate().public)


def test_revocation_applies_only_when_signed_by_the_pinned_root(world):
    cert = world.device("a", VN).cert
    forged = issue_revocation(
        RootKey.generate(),
        agency=VN,
        device_id=cert.device_id,
        cert_hash=cert.cert_hash(),
        reason="key_compromise",
        revoked_at=NOW,
    )
    with pytest.raises(CertificateSignatureError):
        world.trust.add_revocation(forged)
    world.trust.verify_certificate(cert, now=NOW)
    genuine = issue_revocation(
        world.roots[VN],
        agency=VN,
        device_id=cert.device_id,
        cert_hash=cert.cert_hash(),
        reason="key_compromise",
        revoked_at=NOW,
    )
    world.trust.add_revocation(Revocation.from_bytes(genuine.to_bytes()))
    assert world.trust.is_revoked(cert.device_id)
    with pytest.raises(CertificateRevoked):
        world.trust.verify_certificate(cert, now=NOW)


def test_revocation_of_another_agencys_device_is_malformed(world):
    with pytest.raises(MalformedError):
        issue_revocation(
            world.agency(CN),
            agency=CN,
            device_id=f"{VN}:a:laptop",
            cert_hash=bytes(32),
            reason="x",
            revoked_at=NOW,
        )


def test_trust_store_round_trips_pins_and_revocations(world):
    cert = world.device("a", VN).cert
    world.agency(CN)
    world.trust.add_revocation(
        issue_revocation(
            world.roots[VN],
            agency=VN,
            device_id=cert.device_id,
            cert_hash=cert.cert_hash(),
            reason="device_lost",
            revoked_at=NOW,
        )
    )
    restored = TrustStore.from_dict(world.trust.to_dict())
    assert restored.agencies() == [CN, VN]
    assert restored.pinned(VN) == world.roots[VN].public
    with pytest.raises(CertificateRevoked):
        restored.verify_certificate(cert, now=NOW)


def test_review_statement_verifies_and_binds_key_id(world):
    review = ReviewKeyPair.generate()
    stmt = issue_review_key_statement(
        world.agency(VN), agency=VN, public_key=review.public, not_before=NOW
    )
    parsed = ReviewKeyStatement.from_bytes(stmt.to_bytes())
    assert parsed.key_id == review.key_id
    world.trust.verify_review_statement(parsed)
    with pytest.raises(CertificateSignatureError):
        world.trust.verify_review_statement(dataclasses.replace(parsed, not_before=NOW + 1))
    with pytest.raises(MalformedError):
        dataclasses.replace(parsed, key_id=ReviewKeyPair.generate().key_id)


def test_certificate_bytes_must_be_canonical_and_complete(world):
    data = world.device("a", VN).cert.to_bytes()
    with pytest.raises(MalformedError):
        DeviceCertificate.from_bytes(data.replace(b'{"agency"', b'{ "agency"'))
    with pytest.raises(UnsupportedVersion):
        DeviceCertificate.from_bytes(data.replace(b'"version":1', b'"version":2'))
    with pytest.raises(MalformedError):
        DeviceCertificate.from_bytes(data.replace(b'"role":"officer"', b'"role":"chief"'))


@settings(max_examples=40, deadline=None)
@given(
    vi=st.text(min_size=1, max_size=60).filter(str.strip),
    zh=st.text(min_size=1, max_size=60).filter(str.strip),
)
def test_any_unicode_display_names_round_trip_in_nfc(vi, zh):
    world = World(rng=pinned_rng(b"names"))
    cert = world.device("a", VN, names={"vi": vi, "zh": zh}).cert
    again = DeviceCertificate.from_bytes(cert.to_bytes())
    assert again == cert
    world.trust.verify_certificate(again, now=NOW)
