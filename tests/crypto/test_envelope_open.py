"""Envelope behaviour: who can open, what binds to what, and the order of the receiver's checks."""

from __future__ import annotations

import dataclasses

import pytest

from crypto.certs import issue_revocation
from crypto.encoding import signed_message
from crypto.envelope import (
    REVIEW_WRAP_SIZE,
    Envelope,
    ReviewRecipient,
    open_as_reviewer,
    open_secret,
    seal,
    seal_secret_to_device,
)
from crypto.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateSignatureError,
    ClockSkewError,
    DecryptionError,
    MalformedError,
    NotARecipient,
    ReplayError,
    ReviewWrapError,
    SenderMismatch,
    SignatureError,
    UntrustedRoot,
)
from crypto.keys import ReviewKeyPair, RootKey
from crypto.labels import LABEL_ENVELOPE_SIGNATURE
from crypto.replay import ReplayGuard
from tests.crypto.crypto_world import CN, DAY, NOW, VN, World, pinned_rng


@pytest.fixture
def world() -> World:
    return World(rng=pinned_rng(b"envelope-open"))


@pytest.fixture
def cast(world: World) -> dict:
    return {
        "alice": world.device("alice", VN),
        "bao": world.device("bao", VN),
        "chen": world.device("chen", CN),
        "mallory": world.device("mallory", VN),
    }


def resign(env: Envelope, signer, **changes) -> Envelope:
    """The envelope with some parts replaced and a fresh, valid signature by `signer`."""
    changed = dataclasses.replace(env, **changes)
    payload = changed.signed_payload()
    signature = signer.keys.signing.sign(payload).signature
    return Envelope.from_bytes(dataclasses.replace(changed, signature=signature).to_bytes())


def test_every_recipient_and_every_review_key_opens_the_same_plaintext(world, cast):
    env = world.seal(cast["alice"], [cast["bao"], cast["chen"]], "Hồ sơ 案件 42".encode())
    for who in ("bao", "chen"):
        assert (
            world.open(env.to_bytes(), cast[who], cast["alice"]).plaintext
            == "Hồ sơ 案件 42".encode()
        )
    for agency in (VN, CN):
        opened = open_as_reviewer(
            env.to_bytes(),
            review=world.review_keys[agency],
            agency=agency,
            sender_cert=cast["alice"].cert,
            trust=world.trust,
            now=NOW,
        )
        assert opened.plaintext == "Hồ sơ 案件 42".encode()


def test_header_carries_signed_metadata_in_canonical_order(world, cast):
    env = world.seal(cast["alice"], [cast["chen"], cast["bao"]], counter=9)
    header = env.header
    assert header.recipients == tuple(sorted([cast["chen"].device_id, cast["bao"].device_id]))
    assert header.review_recipients == tuple(sorted(header.review_recipients))
    assert {a for a, _ in header.review_recipients} == {VN, CN}
    assert header.counter == 9 and header.sent_at == NOW and header.log_size == 7
    assert len(header.message_id) == 32 and int(header.message_id, 16) >= 0
    assert header.sender_cert_hash == cast["alice"].cert.cert_hash()


def test_non_recipient_cannot_open(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    with pytest.raises(NotARecipient):
        world.open(env, cast["chen"], cast["alice"])


def test_listed_device_id_with_other_keys_cannot_decrypt(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    impostor = dataclasses.replace(cast["mallory"], cert=cast["bao"].cert)
    with pytest.raises(DecryptionError):
        world.open(env, impostor, cast["alice"])


def test_reviewer_of_unlisted_agency_is_not_a_recipient(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    with pytest.raises(NotARecipient):
        open_as_reviewer(
            env,
            review=world.review_keys[CN],
            agency=CN,
            sender_cert=cast["alice"].cert,
            trust=world.trust,
            now=NOW,
        )


def test_wrap_moved_to_other_header_is_rejected(world, cast):
    first = world.seal(cast["alice"], [cast["bao"]], b"first")
    second = world.seal(cast["alice"], [cast["bao"]], b"second", counter=2)
    # Even the genuine sender, re-signing, cannot make a wrap serve another header.
    moved = resign(second, cast["alice"], wraps=first.wraps)
    with pytest.raises(DecryptionError):
        world.open(moved, cast["bao"], cast["alice"])


def test_wrap_moved_to_other_recipient_is_rejected(world, cast):
    env = world.seal(cast["alice"], [cast["bao"], cast["mallory"]])
    swapped = resign(env, cast["alice"], wraps=tuple(reversed(env.wraps)))
    for who in ("bao", "mallory"):
        with pytest.raises(DecryptionError):
            world.open(swapped, cast[who], cast["alice"])


def test_envelope_resigned_by_other_valid_device_fails_as_first_sender(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    stolen = resign(env, cast["mallory"])
    with pytest.raises(SignatureError):
        world.open(stolen, cast["bao"], cast["alice"])
    # Claiming it under the re-signer's own certificate does not match the signed header.
    with pytest.raises(SenderMismatch):
        world.open(stolen, cast["bao"], cast["mallory"])


def test_forwarder_rewriting_the_sender_cannot_reuse_the_wraps(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    header = dataclasses.replace(
        env.header,
        sender_device=cast["mallory"].device_id,
        sender_cert_hash=cast["mallory"].cert.cert_hash(),
    )
    forged = resign(env, cast["mallory"], header=header, header_bytes=header.to_bytes())
    with pytest.raises(DecryptionError):
        world.open(forged, cast["bao"], cast["mallory"])


def test_missing_review_wrap_is_refused(world, cast):
    env = world.seal(cast["alice"], [cast["chen"]], review=world.review(VN))
    with pytest.raises(ReviewWrapError):
        world.open(env, cast["chen"], cast["alice"])


def test_extra_review_wrap_is_refused(world, cast):
    world.agency(CN)
    env = world.seal(cast["alice"], [cast["bao"]], review=world.review(VN, CN))
    with pytest.raises(ReviewWrapError):
        world.open(env, cast["bao"], cast["alice"])


def test_review_wrap_to_substituted_key_is_refused(world, cast):
    rogue = ReviewKeyPair.generate()
    review = [ReviewRecipient(VN, rogue.key_id, rogue.public)]
    env = world.seal(cast["alice"], [cast["bao"]], review=review)
    with pytest.raises(ReviewWrapError):
        world.open(env, cast["bao"], cast["alice"])


def test_review_wrap_not_derived_from_content_key_is_refused(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    garbage = bytes(REVIEW_WRAP_SIZE)
    bad = resign(env, cast["alice"], review_wraps=(garbage,))
    with pytest.raises(ReviewWrapError):
        world.open(bad, cast["bao"], cast["alice"])


def test_failed_review_check_does_not_record_in_replay_guard(world, cast):
    env = world.seal(cast["alice"], [cast["chen"]], review=world.review(VN))
    guard = ReplayGuard()
    with pytest.raises(ReviewWrapError):
        world.open(env, cast["chen"], cast["alice"], replay=guard)
    assert guard.last_counter(cast["alice"].device_id) is None


def test_repeated_envelope_is_refused(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    guard = ReplayGuard()
    world.open(env, cast["bao"], cast["alice"], replay=guard)
    with pytest.raises(ReplayError):
        world.open(env, cast["bao"], cast["alice"], replay=guard)


@pytest.mark.parametrize("second_counter", [4, 5])
def test_counter_regression_is_refused(world, cast, second_counter):
    guard = ReplayGuard()
    world.open(
        world.seal(cast["alice"], [cast["bao"]], counter=5),
        cast["bao"],
        cast["alice"],
        replay=guard,
    )
    later = world.seal(cast["alice"], [cast["bao"]], counter=second_counter)
    with pytest.raises(ReplayError):
        world.open(later, cast["bao"], cast["alice"], replay=guard)
    newer = world.seal(cast["alice"], [cast["bao"]], counter=6)
    assert world.open(newer, cast["bao"], cast["alice"], replay=guard).header.counter == 6


def test_expired_certificate_is_refused(world, cast):
    old = world.device("old", VN, not_before=NOW - 400 * DAY, not_after=NOW - 30 * DAY)
    env = world.seal(old, [cast["bao"]], sent_at=NOW - 10 * DAY)
    with pytest.raises(CertificateExpired):
        world.open(env, cast["bao"], old)


def test_certificate_expired_at_send_time_is_refused(world, cast):
    short = world.device("short", VN, not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    env = world.seal(short, [cast["bao"]], sent_at=NOW)
    with pytest.raises(CertificateExpired):
        world.open(env, cast["bao"], short, now=NOW)


def test_not_yet_valid_certificate_is_refused(world, cast):
    future = world.device("future", VN, not_before=NOW + DAY, not_after=NOW + 10 * DAY)
    env = world.seal(future, [cast["bao"]], sent_at=NOW)
    with pytest.raises(CertificateNotYetValid):
        world.open(env, cast["bao"], future)


def test_revoked_certificate_is_refused(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    world.trust.add_revocation(
        issue_revocation(
            world.roots[VN],
            agency=VN,
            device_id=cast["alice"].device_id,
            cert_hash=cast["alice"].cert.cert_hash(),
            reason="device_lost",
            revoked_at=NOW,
        )
    )
    with pytest.raises(CertificateRevoked):
        world.open(env, cast["bao"], cast["alice"])


def test_certificate_signed_by_unpinned_root_is_refused(world, cast):
    rogue = world.device("rogue", VN, root=RootKey.generate())
    env = world.seal(rogue, [cast["bao"]])
    with pytest.raises(CertificateSignatureError):
        world.open(env, cast["bao"], rogue)


def test_certificate_of_unpinned_agency_is_refused(world, cast):
    stranger_world = World()
    stranger = stranger_world.device("x", "LA-VT-PD")
    env = stranger_world.seal(stranger, [cast["bao"]], review=[])
    with pytest.raises(UntrustedRoot):
        world.open(env, cast["bao"], stranger, expected_review=[])


def test_envelope_from_the_future_is_refused(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]], sent_at=NOW + 3600)
    with pytest.raises(ClockSkewError):
        world.open(env, cast["bao"], cast["alice"], now=NOW)


def test_checks_run_in_the_specified_order(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    bad_sig = dataclasses.replace(env, signature=bytes(64))
    # A bad signature is reported before "not a recipient".
    with pytest.raises(SignatureError):
        world.open(bad_sig, cast["chen"], cast["alice"])
    # A wrong sender certificate is reported before the bad signature.
    with pytest.raises(SenderMismatch):
        world.open(bad_sig, cast["chen"], cast["mallory"])
    # A replay is reported before decryption is attempted.
    guard = ReplayGuard()
    world.open(env, cast["bao"], cast["alice"], replay=guard)
    impostor = dataclasses.replace(cast["mallory"], cert=cast["bao"].cert)
    with pytest.raises(ReplayError):
        world.open(env, impostor, cast["alice"], replay=guard)


def test_signature_covers_label_and_all_four_hashes(world, cast):
    env = world.seal(cast["alice"], [cast["bao"]])
    payload = env.signed_payload()
    assert payload.startswith(signed_message(LABEL_ENVELOPE_SIGNATURE, b""))
    assert len(payload) == len(LABEL_ENVELOPE_SIGNATURE) + 1 + 4 * 32
    assert payload[len(LABEL_ENVELOPE_SIGNATURE) + 1 :][:32] == env.header_hash


def test_trailing_or_truncated_bytes_are_malformed(world, cast):
    data = world.seal(cast["alice"], [cast["bao"]]).to_bytes()
    for broken in (data + b"\x00", data[:-1], b"", b"LSE2" + data[4:]):
        with pytest.raises(MalformedError):
            Envelope.from_bytes(broken)


def test_sealed_secret_opens_only_for_its_device(world, cast):
    review = world.review_keys[VN]
    blob = seal_secret_to_device(review.to_bytes(), cast["bao"].keys.encryption_public)
    assert open_secret(blob, cast["bao"].keys) == review.to_bytes()
    with pytest.raises(DecryptionError):
        open_secret(blob, cast["chen"].keys)


def test_seal_refuses_bad_recipient_lists(world, cast):
    bao = cast["bao"].as_recipient()
    low_order = dataclasses.replace(bao, encryption_key=bytes(32))
    for recipients in ([], [bao, bao], [low_order]):
        with pytest.raises(MalformedError):
            seal(
                sender=cast["alice"].keys,
                sender_cert=cast["alice"].cert,
                recipients=recipients,
                review=[],
                plaintext=b"x",
                counter=1,
                sent_at=NOW,
                log_size=0,
            )


def test_seal_refuses_keys_that_are_not_the_certified_ones(world, cast):
    with pytest.raises(SenderMismatch):
        seal(
            sender=cast["mallory"].keys,
            sender_cert=cast["alice"].cert,
            recipients=[cast["bao"].as_recipient()],
            review=[],
            plaintext=b"x",
            counter=1,
            sent_at=NOW,
            log_size=0,
        )
