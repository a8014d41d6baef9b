"""A peer that answers wrongly is refused with a reason (liaison/federation/faults.py, §16.8)."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.encoding import b64e, canonical_json
from crypto.errors import FederationError, PeerMisbehaved
from crypto.federation import RelayIdentity, sign_peer_ack
from crypto.merkle import MerkleTree
from liaison.federation.faults import (
    PeerLogMisbehaved,
    check_forward_ack,
    check_forwarded_in_entry,
    check_peer_checkpoint,
    check_peer_inclusion,
)
from tests.crypto.crypto_world import NOW, pinned_rng

VN_RELAY = "relay.vn-qn.liaison.example"
CN_RELAY = "relay.cn-gx.liaison.example"
rng = pinned_rng(b"federation-fault-tests")
CN_KEY = SigningKey(rng(32))
OTHER_KEY = SigningKey(rng(32))
CN = RelayIdentity(CN_RELAY, bytes(CN_KEY.verify_key))
MESSAGE_ID = "5a" * 16
SENT = bytes(range(32))


def ack_bytes(key=CN_KEY, **overrides) -> bytes:
    args = dict(
        relay=CN_RELAY,
        to_relay=VN_RELAY,
        message_id=MESSAGE_ID,
        envelope_hash=SENT,
        event="logged",
        device_id=None,
        log_index=3,
        at=NOW,
    )
    args.update(overrides)
    return sign_peer_ack(key, **args).to_bytes()


def check_ack(data: bytes):
    return check_forward_ack(
        peer=CN, own_origin=VN_RELAY, message_id=MESSAGE_ID, sent_envelope_hash=SENT, ack_bytes=data
    )


def test_the_peers_ack_for_the_sent_envelope_is_accepted():
    assert check_ack(ack_bytes()).log_index == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (lambda: ack_bytes(envelope_hash=bytes(32)), "hash_differs"),
        (lambda: ack_bytes(key=OTHER_KEY), "bad_signature"),
        (lambda: ack_bytes(to_relay="relay.th.liaison.example"), "bad_signature"),
        (lambda: ack_bytes(message_id="6b" * 16), "wrong_message"),
        (
            lambda: ack_bytes(event="acknowledged", device_id="CN-GX-FCG:li:phone"),
            "wrong_message",
        ),
        (lambda: b"<html>502 Bad Gateway</html>", "malformed_answer"),
    ],
    ids=["hash-differs", "other-key", "other-addressee", "other-message", "device-ack", "junk"],
)
def test_a_wrong_ack_is_refused_with_its_reason(data, reason):
    with pytest.raises(PeerMisbehaved) as caught:
        check_ack(data())
    assert caught.value.reason == reason
    assert isinstance(caught.value, FederationError)


def entry(envelope_hash: bytes | str = SENT, **overrides) -> dict:
    base = {
        "kind": "forwarded_in",
        "message_id": MESSAGE_ID,
        "envelope_hash": b64e(envelope_hash) if isinstance(envelope_hash, bytes) else envelope_hash,
        "from_relay": VN_RELAY,
        "sender": "VN-QN-CA:an:phone",
        "recipients": ["CN-GX-FCG:li:phone"],
        "size": 900,
        "at": NOW,
    }
    base.update(overrides)
    return base


def test_forwarded_in_entry_must_name_the_same_envelope_hash():
    check_forwarded_in_entry(
        entry(), message_id=MESSAGE_ID, envelope_hash=SENT, from_relay=VN_RELAY
    )
    for bad, reason in [
        (entry(bytes(32)), "hash_differs"),
        (entry(from_relay="relay.th.liaison.example"), "wrong_message"),
        (entry(kind="envelope"), "wrong_message"),
        (entry("not base64"), "malformed_answer"),
    ]:
        with pytest.raises(PeerMisbehaved) as caught:
            check_forwarded_in_entry(
                bad, message_id=MESSAGE_ID, envelope_hash=SENT, from_relay=VN_RELAY
            )
        assert caught.value.reason == reason


def peer_log(entries: int) -> MerkleTree:
    tree = MerkleTree()
    for n in range(entries):
        tree.append(canonical_json(entry(message_id=f"{n:032x}")))
    return tree


def note(tree: MerkleTree, size: int, key=CN_KEY, origin=CN_RELAY) -> str:
    checkpoint = Checkpoint(origin=origin, size=size, root_hash=tree.root(size))
    return sign_checkpoint(checkpoint, key_name=CN_RELAY, signing_key=key)


def check_cp(new: str, previous: str | None, proof=()):
    return check_peer_checkpoint(
        peer=CN, note=new, previous_note=previous, consistency_proof=list(proof), detected_at=NOW
    )


def test_a_checkpoint_extending_the_previous_one_is_accepted():
    tree = peer_log(9)
    assert check_cp(note(tree, 4), None).size == 4
    assert check_cp(note(tree, 9), note(tree, 4), tree.consistency_proof(4, 9)).size == 9
    assert check_cp(note(tree, 4), note(tree, 4)).size == 4


def test_included_entry_verifies_and_a_changed_one_does_not():
    tree = peer_log(9)
    checkpoint = check_cp(note(tree, 9), None)
    proof = tree.inclusion_proof(5, 9)
    check_peer_inclusion(entry(message_id=f"{5:032x}"), index=5, proof=proof, checkpoint=checkpoint)
    with pytest.raises(PeerMisbehaved) as caught:
        check_peer_inclusion(
            entry(bytes(32), message_id=f"{5:032x}"), index=5, proof=proof, checkpoint=checkpoint
        )
    assert caught.value.reason == "not_included"


def test_a_checkpoint_not_signed_by_the_peer_or_for_another_log_is_refused():
    tree = peer_log(3)
    with pytest.raises(PeerMisbehaved) as caught:
        check_cp(note(tree, 3, key=OTHER_KEY), None)
    assert caught.value.reason == "bad_signature"
    with pytest.raises(PeerMisbehaved) as caught:
        check_cp(note(tree, 3, origin="relay.th.liaison.example"), None)
    assert caught.value.reason == "wrong_origin"


def test_a_log_that_does_not_extend_its_previous_checkpoint_is_refused_with_evidence():
    honest = peer_log(8)
    forked = peer_log(4)
    for n in range(4):
        forked.append(canonical_json(entry(message_id=f"{100 + n:032x}")))
    previous = note(honest, 6)
    with pytest.raises(PeerLogMisbehaved) as caught:
        check_cp(note(forked, 8), previous, forked.consistency_proof(6, 8))
    assert caught.value.reason == "not_consistent"
    evidence = caught.value.evidence
    assert evidence["first_checkpoint"] == previous
    assert evidence["second_checkpoint"] == note(forked, 8)
    assert evidence["consistency_proof"] == [b64e(h) for h in forked.consistency_proof(6, 8)]
    assert evidence["server_identity"]["log_public_key"] == b64e(CN.public_key)

    with pytest.raises(PeerLogMisbehaved) as caught:
        check_cp(note(forked, 6), previous)
    assert caught.value.reason == "same_size_different_root"
    with pytest.raises(PeerLogMisbehaved) as caught:
        check_cp(note(honest, 5), previous)
    assert caught.value.reason == "not_consistent"
