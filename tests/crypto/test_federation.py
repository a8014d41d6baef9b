"""Federation requests, home statements and peer acks (PROTOCOL.md §16): every covered part
changed on its own is refused with its own error."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from nacl.signing import SigningKey

from crypto.checkpoint import Checkpoint, cosignature_message, parse_note
from crypto.encoding import b64d, b64e, canonical_json, parse_canonical_json, signed_message
from crypto.errors import (
    ContentDigestMismatch,
    HomeStatementError,
    MalformedError,
    MisdirectedRequest,
    PeerAckSignatureError,
    ReplayCacheFull,
    RequestClockSkew,
    RequestMalformed,
    RequestReplayed,
    RequestSignatureError,
    SignatureError,
    UnknownPeer,
    UnsupportedVersion,
)
from crypto.federation import (
    MAX_CLOCK_SKEW,
    HomeStatement,
    InMemoryReplayCache,
    PeerAck,
    RelayIdentity,
    content_digest,
    content_digest_of,
    issue_home_statement,
    sign_peer_ack,
    sign_request,
    signature_base,
    verify_request,
    verify_streamed_request,
)
from crypto.keys import RootKey, compact_fingerprint, safety_number
from crypto.labels import LABEL_FEDERATION_REQUEST, LABEL_PEER_ACK
from tests.crypto.crypto_world import CN, NOW, VN, pinned_rng

VN_RELAY = "relay.vn-qn.liaison.example"
CN_RELAY = "relay.cn-gx.liaison.example"
OTHER_RELAY = "relay.th.liaison.example"
TARGET = "/v1/federation/envelopes?batch=3"
BODY = b'{"envelope":"TFNFMQ=="}'

rng = pinned_rng(b"federation-tests")
VN_KEY = SigningKey(rng(32))
CN_KEY = SigningKey(rng(32))
OTHER_KEY = SigningKey(rng(32))
PEERS = {VN_RELAY: bytes(VN_KEY.verify_key), OTHER_RELAY: bytes(OTHER_KEY.verify_key)}


def signed(**overrides):
    args = dict(
        relay_key=VN_KEY,
        sender_origin=VN_RELAY,
        recipient_origin=CN_RELAY,
        method="POST",
        target=TARGET,
        body=BODY,
        now=NOW,
        rng=rng,
    )
    args.update(overrides)
    return sign_request(**args)


def verify(headers, **overrides):
    args = dict(
        method="POST",
        target=TARGET,
        headers=headers,
        body=BODY,
        own_origin=CN_RELAY,
        peer_key=PEERS.get,
        now=NOW,
        replay_cache=InMemoryReplayCache(),
    )
    args.update(overrides)
    return verify_request(**args)


def test_a_signed_request_verifies_and_names_its_sender():
    verified = verify(signed())
    assert verified.sender_origin == VN_RELAY
    assert verified.created == NOW


def test_header_names_are_case_insensitive_and_pairs_are_accepted():
    pairs = [(name.lower(), value) for name, value in signed().items()]
    pairs.append(("Content-Type", "application/json"))
    assert verify(pairs).sender_origin == VN_RELAY


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"method": "PUT"}, RequestSignatureError),
        ({"target": "/v1/federation/acks?batch=3"}, RequestSignatureError),
        ({"target": "/v1/federation/envelopes?batch=4"}, RequestSignatureError),
        ({"target": "/v1/federation/envelopes"}, RequestSignatureError),
        ({"body": BODY + b" "}, ContentDigestMismatch),
        ({"body": b""}, ContentDigestMismatch),
    ],
    ids=["method", "path", "query", "query-dropped", "body", "body-emptied"],
)
def test_changing_a_covered_request_part_is_refused(change, error):
    with pytest.raises(error):
        verify(signed(), **change)


def test_a_body_with_its_digest_rewritten_fails_the_signature():
    headers = signed()
    other = b'{"envelope":"TFNFMg=="}'
    headers["Content-Digest"] = sign_request(
        relay_key=OTHER_KEY,
        sender_origin=VN_RELAY,
        recipient_origin=CN_RELAY,
        method="POST",
        target=TARGET,
        body=other,
        now=NOW,
        rng=rng,
    )["Content-Digest"]
    with pytest.raises(RequestSignatureError):
        verify(headers, body=other)


def test_sender_origin_changed_to_another_peer_is_refused():
    headers = signed()
    headers["Liaison-Origin"] = OTHER_RELAY
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_request_signed_for_another_relay_is_refused_there():
    headers = signed(recipient_origin=OTHER_RELAY)
    with pytest.raises(MisdirectedRequest):
        verify(headers)
    headers["Liaison-Destination"] = CN_RELAY  # re-addressed by whoever received it
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_request_from_a_relay_that_is_not_a_peer_is_refused():
    headers = signed(relay_key=CN_KEY, sender_origin="relay.unknown.example")
    with pytest.raises(UnknownPeer):
        verify(headers)


def test_request_signed_with_the_wrong_key_is_refused():
    with pytest.raises(RequestSignatureError) as caught:
        verify(signed(relay_key=OTHER_KEY))
    assert isinstance(caught.value, SignatureError)


@pytest.mark.parametrize("created", [NOW - MAX_CLOCK_SKEW - 1, NOW + MAX_CLOCK_SKEW + 1])
def test_request_created_outside_the_window_is_refused(created):
    with pytest.raises(RequestClockSkew):
        verify(signed(now=created))


@pytest.mark.parametrize("created", [NOW - MAX_CLOCK_SKEW, NOW + MAX_CLOCK_SKEW])
def test_request_at_the_edge_of_the_window_is_accepted(created):
    assert verify(signed(now=created)).created == created


def test_created_changed_in_the_header_fails_the_signature():
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        f"created={NOW}", f"created={NOW + 1}"
    )
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_nonce_changed_in_the_header_fails_the_signature():
    headers = signed()
    nonce = headers["Signature-Input"].split('nonce="')[1][:32]
    other = ("0" if nonce[0] != "0" else "1") + nonce[1:]
    headers["Signature-Input"] = headers["Signature-Input"].replace(nonce, other)
    with pytest.raises(RequestSignatureError):
        verify(headers)


def test_replayed_request_is_refused_within_the_window():
    cache = InMemoryReplayCache()
    headers = signed()
    verify(headers, replay_cache=cache)
    with pytest.raises(RequestReplayed):
        verify(headers, replay_cache=cache, now=NOW + MAX_CLOCK_SKEW)
    # After the window the nonce is forgotten, and the clock check refuses the request instead.
    with pytest.raises(RequestClockSkew):
        verify(headers, replay_cache=cache, now=NOW + MAX_CLOCK_SKEW + 1)


def test_refused_requests_leave_nothing_in_the_replay_cache():
    cache = InMemoryReplayCache()
    for headers, body in [(signed(relay_key=OTHER_KEY), BODY), (signed(), b"x")]:
        with pytest.raises((RequestSignatureError, ContentDigestMismatch)):
            verify(headers, body=body, replay_cache=cache)
    assert len(cache) == 0


def test_full_replay_cache_refuses_rather_than_forgets():
    cache = InMemoryReplayCache(max_entries=2)
    first = signed()
    verify(first, replay_cache=cache)
    verify(signed(), replay_cache=cache)
    with pytest.raises(ReplayCacheFull):
        verify(signed(), replay_cache=cache)
    with pytest.raises(RequestReplayed):
        verify(first, replay_cache=cache)
    # Expired nonces make room again.
    later = NOW + 2 * MAX_CLOCK_SKEW + 1
    verify(signed(now=later), replay_cache=cache, now=later)


def test_signature_bytes_flipped_are_refused():
    headers = signed()
    raw = bytearray(b64d(headers["Signature"][len("liaison=:") : -1]))
    for position in (0, 31, 63):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        headers["Signature"] = f"liaison=:{b64e(bytes(flipped))}:"
        with pytest.raises(RequestSignatureError):
            verify(headers)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h.pop("Signature"),
        lambda h: h.pop("Content-Digest"),
        lambda h: h.pop("Liaison-Origin"),
        lambda h: h.update({"Signature": h["Signature"][:-2] + ":"}),
        lambda h: h.update({"Signature-Input": h["Signature-Input"].replace(";tag", "; tag")}),
        lambda h: h.update(
            {"Signature-Input": h["Signature-Input"].replace('"@query" ', "")}  # fewer parts
        ),
        lambda h: h.update(
            {"Signature-Input": h["Signature-Input"].replace("liaison-federation/v1", "v2")}
        ),
        lambda h: h.update({"Content-Digest": "sha-512=:AAAA:"}),
        lambda h: h.update({"Liaison-Origin": "relay vn"}),
    ],
    ids=[
        "no-signature",
        "no-digest",
        "no-origin",
        "short-signature",
        "spaced-params",
        "fewer-components",
        "other-tag",
        "other-digest-algorithm",
        "origin-with-space",
    ],
)
def test_malformed_signature_headers_are_refused(mangle):
    headers = signed()
    mangle(headers)
    with pytest.raises(RequestMalformed):
        verify(headers)


def test_a_repeated_signed_header_is_refused():
    pairs = list(signed().items()) + [("liaison-origin", OTHER_RELAY)]
    with pytest.raises(RequestMalformed):
        verify(pairs)


@pytest.mark.parametrize("target", ["v1/x", "/v1/x#frag", "/v1/\u00e9", "/v1/a b"])
def test_targets_outside_the_profile_are_refused(target):
    with pytest.raises(RequestMalformed):
        signed(target=target)


# --- home statements --------------------------------------------------------------------------

ROOTS = {code: RootKey.generate(pinned_rng(code.encode())) for code in (VN, CN)}


def home(**overrides) -> HomeStatement:
    args = dict(agency=CN, relay_origin=CN_RELAY, relay_key=bytes(CN_KEY.verify_key), issued_at=NOW)
    args.update(overrides)
    return issue_home_statement(ROOTS[CN], **args)


def test_home_statement_names_the_relay_the_root_signed():
    statement = HomeStatement.from_bytes(home().to_bytes())
    relay = statement.verify(agency=CN, root_public=ROOTS[CN].public)
    assert relay == RelayIdentity(CN_RELAY, bytes(CN_KEY.verify_key))


def test_home_statement_of_another_agency_is_refused():
    with pytest.raises(HomeStatementError):
        home().verify(agency=VN, root_public=ROOTS[CN].public)
    other = issue_home_statement(
        ROOTS[VN],
        agency=VN,
        relay_origin=CN_RELAY,
        relay_key=bytes(CN_KEY.verify_key),
        issued_at=NOW,
    )
    with pytest.raises(HomeStatementError):
        other.verify(agency=CN, root_public=ROOTS[CN].public)


def test_home_statement_checked_against_another_root_is_refused():
    with pytest.raises(HomeStatementError):
        home().verify(agency=CN, root_public=ROOTS[VN].public)


@pytest.mark.parametrize(
    "field, value",
    [
        ("relay_key", bytes(OTHER_KEY.verify_key)),
        ("relay_origin", OTHER_RELAY),
        ("issued_at", NOW + 1),
        ("agency", "CN-GX-PSB"),
    ],
)
def test_home_statement_with_a_field_changed_is_refused(field, value):
    tampered = dataclasses.replace(home(), **{field: value})
    agency = tampered.agency
    with pytest.raises(HomeStatementError):
        tampered.verify(agency=agency, root_public=ROOTS[CN].public)


def test_home_statement_parsing_is_strict():
    obj = parse_canonical_json(home().to_bytes())
    with pytest.raises(MalformedError):
        HomeStatement.from_bytes(canonical_json({**obj, "extra": 1}))
    with pytest.raises(MalformedError):
        HomeStatement.from_bytes(canonical_json({k: v for k, v in obj.items() if k != "issued_at"}))
    with pytest.raises(UnsupportedVersion):
        HomeStatement.from_bytes(canonical_json({**obj, "version": 2}))
    with pytest.raises(MalformedError):
        HomeStatement.from_bytes(canonical_json({**obj, "relay_origin": "a relay"}))
    with pytest.raises(MalformedError):
        HomeStatement.from_bytes(home().to_bytes().replace(b'{"', b'{ "', 1))


# --- peer acknowledgements --------------------------------------------------------------------

CN_IDENTITY = RelayIdentity(CN_RELAY, bytes(CN_KEY.verify_key))


def ack(**overrides) -> PeerAck:
    args = dict(
        relay=CN_RELAY,
        to_relay=VN_RELAY,
        message_id="ab" * 16,
        envelope_hash=bytes(32),
        event="logged",
        device_id=None,
        log_index=7,
        at=NOW,
    )
    args.update(overrides)
    return sign_peer_ack(CN_KEY, **args)


def test_peer_ack_round_trips_and_verifies():
    for made in (ack(), ack(event="acknowledged", device_id="CN-GX-FCG:li.wei:laptop")):
        parsed = PeerAck.from_bytes(made.to_bytes())
        assert parsed == made
        parsed.verify(CN_IDENTITY, addressed_to=VN_RELAY)


@pytest.mark.parametrize(
    "field, value",
    [
        ("message_id", "cd" * 16),
        ("envelope_hash", bytes([1]) + bytes(31)),
        ("log_index", 8),
        ("at", NOW + 1),
        ("event", "acknowledged"),
    ],
)
def test_peer_ack_with_a_field_changed_is_refused(field, value):
    changes = {field: value}
    if field == "event":
        changes["device_id"] = "CN-GX-FCG:li.wei:laptop"
    tampered = dataclasses.replace(ack(), **changes)
    with pytest.raises(PeerAckSignatureError):
        tampered.verify(CN_IDENTITY, addressed_to=VN_RELAY)


def test_peer_ack_from_or_to_the_wrong_relay_is_refused():
    with pytest.raises(PeerAckSignatureError):
        ack().verify(CN_IDENTITY, addressed_to=OTHER_RELAY)
    with pytest.raises(PeerAckSignatureError):
        ack().verify(RelayIdentity(CN_RELAY, bytes(OTHER_KEY.verify_key)), addressed_to=VN_RELAY)
    forged = sign_peer_ack(
        OTHER_KEY,
        relay=CN_RELAY,
        to_relay=VN_RELAY,
        message_id="ab" * 16,
        envelope_hash=bytes(32),
        event="logged",
        device_id=None,
        log_index=7,
        at=NOW,
    )
    with pytest.raises(PeerAckSignatureError):
        forged.verify(CN_IDENTITY, addressed_to=VN_RELAY)


def test_peer_ack_shape_is_checked():
    with pytest.raises(MalformedError):
        ack(event="logged", device_id="CN-GX-FCG:li.wei:laptop")
    with pytest.raises(MalformedError):
        ack(event="acknowledged", device_id=None)
    with pytest.raises(MalformedError):
        ack(event="read")
    with pytest.raises(MalformedError):
        ack(to_relay=CN_RELAY)


# --- fingerprints -----------------------------------------------------------------------------


def test_relay_fingerprint_matches_either_form_and_nothing_else():
    public = bytes(CN_KEY.verify_key)
    identity = RelayIdentity(CN_RELAY, public)
    assert identity.matches_fingerprint(compact_fingerprint(public))
    assert identity.matches_fingerprint(compact_fingerprint(public).lower())
    assert identity.matches_fingerprint(safety_number(public))
    assert identity.matches_fingerprint(safety_number(public).replace(" ", ""))
    other = bytes(OTHER_KEY.verify_key)
    assert not identity.matches_fingerprint(compact_fingerprint(other))
    assert not identity.matches_fingerprint(safety_number(other))
    assert not identity.matches_fingerprint("")


# --- one relay key, three message forms (§16.1) -----------------------------------------------


def test_a_labelled_relay_message_is_never_a_note_and_a_cosignature_never_a_checkpoint():

    base = signature_base(
        method="POST",
        target=TARGET,
        digest=signed()["Content-Digest"],
        sender_origin=VN_RELAY,
        recipient_origin=CN_RELAY,
        created=NOW,
        nonce="00" * 16,
    )
    for message in (
        signed_message(LABEL_FEDERATION_REQUEST, base),
        signed_message(LABEL_PEER_ACK, ack().tbs_bytes()),
    ):
        with pytest.raises(MalformedError):
            parse_note(message + "\n\n\u2014 x AAAAAAA=\n".encode())
        with pytest.raises(MalformedError):
            Checkpoint.from_body(message)
    body = Checkpoint(origin=CN_RELAY, size=3, root_hash=bytes(32)).body()
    with pytest.raises(MalformedError):
        Checkpoint.from_body(cosignature_message(body, NOW))


# --- a streamed body (a blob across the border, §16.6) -------------------------------------------

BLOB_TARGET = "/v1/federation/blobs/" + "ab" * 32 + "?offset=0&size=23"


def test_a_digest_given_beforehand_signs_the_same_headers_as_the_body():
    body_sha256 = hashlib.sha256(BODY).digest()
    assert signed(body=None, body_sha256=body_sha256, rng=pinned_rng(b"same")) == signed(
        rng=pinned_rng(b"same")
    )
    assert content_digest_of(body_sha256) == content_digest(BODY)
    with pytest.raises(MalformedError):
        signed(body=BODY, body_sha256=body_sha256)
    with pytest.raises(MalformedError):
        signed(body=None)
    with pytest.raises(MalformedError):
        content_digest_of(body_sha256[:31])


def streamed(headers, **overrides):
    args = dict(
        method="PUT",
        target=BLOB_TARGET,
        headers=headers,
        own_origin=CN_RELAY,
        peer_key=PEERS.get,
        now=NOW,
        replay_cache=InMemoryReplayCache(),
    )
    args.update(overrides)
    return verify_streamed_request(**args)


def test_a_streamed_request_is_authenticated_before_its_body_and_checked_at_its_end():
    headers = signed(method="PUT", target=BLOB_TARGET, body=None,
                     body_sha256=hashlib.sha256(BODY).digest())  # fmt: skip
    pending = streamed(headers)
    assert pending.request.sender_origin == VN_RELAY
    pending.check_body(hashlib.sha256(BODY).digest())
    with pytest.raises(ContentDigestMismatch):
        pending.check_body(hashlib.sha256(BODY + b" ").digest())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"target": BLOB_TARGET.replace("offset=0", "offset=1")}, RequestSignatureError),
        ({"target": BLOB_TARGET.replace("size=23", "size=24")}, RequestSignatureError),
        ({"target": BLOB_TARGET.replace("ab" * 32, "cd" * 32)}, RequestSignatureError),
        ({"method": "POST"}, RequestSignatureError),
        ({"own_origin": OTHER_RELAY}, MisdirectedRequest),
        ({"now": NOW + MAX_CLOCK_SKEW + 1}, RequestClockSkew),
        ({"peer_key": {}.get}, UnknownPeer),
    ],
    ids=["offset", "size", "blob", "method", "destination", "clock", "peer"],
)
def test_a_streamed_request_changed_in_a_covered_part_is_refused_before_its_body(change, error):
    headers = signed(method="PUT", target=BLOB_TARGET, body=None,
                     body_sha256=hashlib.sha256(BODY).digest())  # fmt: skip
    with pytest.raises(error):
        streamed(headers, **change)


def test_a_streamed_request_replayed_is_refused():
    headers = signed(method="PUT", target=BLOB_TARGET, body=None,
                     body_sha256=hashlib.sha256(BODY).digest())  # fmt: skip
    cache = InMemoryReplayCache()
    streamed(headers, replay_cache=cache)
    with pytest.raises(RequestReplayed):
        streamed(headers, replay_cache=cache)
