"""Checks a relay makes of a peer's answers (PROTOCOL.md §16.8): pure functions over crypto.

Each refuses with `PeerMisbehaved` (a crypto `FederationError`) whose `reason` is stable, so the
relay can report and count it; a peer's log that does not extend its previous checkpoint is
`PeerLogMisbehaved`, carrying the evidence in the §13 misbehaviour format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.encoding import b64d, b64e, canonical_json
from crypto.errors import CryptoError, MalformedError, PeerMisbehaved, ProofError
from crypto.federation import PeerAck, RelayIdentity
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion

__all__ = [
    "PeerLogMisbehaved",
    "check_forward_ack",
    "check_forwarded_in_entry",
    "check_peer_checkpoint",
    "check_peer_inclusion",
]

MISBEHAVIOUR_FORMAT = "liaison-log-misbehaviour/1"


class PeerLogMisbehaved(PeerMisbehaved):
    """Two checkpoints signed by the peer's key that no append-only log can produce."""

    code = "peer_log_misbehaved"

    def __init__(self, reason: str, message: str, evidence: dict[str, Any]) -> None:
        super().__init__(reason, message)
        self.evidence = evidence


def check_forward_ack(
    *,
    peer: RelayIdentity,
    own_origin: str,
    message_id: str,
    sent_envelope_hash: bytes,
    ack_bytes: bytes,
) -> PeerAck:
    """The peer's `logged` acknowledgement of an envelope this relay forwarded, verified: signed
    by the peer's key, addressed to this relay, for this message and exactly the envelope hash
    that was sent. Anything else is the peer misbehaving (the item stays undelivered)."""
    try:
        ack = PeerAck.from_bytes(ack_bytes)
    except MalformedError as exc:
        raise PeerMisbehaved("malformed_answer", "peer acknowledgement does not parse") from exc
    try:
        ack.verify(peer, addressed_to=own_origin)
    except CryptoError as exc:
        raise PeerMisbehaved("bad_signature", "peer acknowledgement does not verify") from exc
    if ack.event != "logged" or ack.message_id != message_id:
        raise PeerMisbehaved("wrong_message", "peer acknowledged something else")
    if ack.envelope_hash != sent_envelope_hash:
        raise PeerMisbehaved("hash_differs", "peer logged an envelope other than the one sent")
    return ack


def check_forwarded_in_entry(
    entry: Mapping[str, Any], *, message_id: str, envelope_hash: bytes, from_relay: str
) -> None:
    """The peer's `forwarded_in` log entry names this message, this relay, and the same
    envelope hash as this relay's own `envelope` entry (what `audit verify` compares)."""
    if entry.get("kind") != "forwarded_in" or entry.get("message_id") != message_id:
        raise PeerMisbehaved("wrong_message", "peer's log entry is not this forward")
    if entry.get("from_relay") != from_relay:
        raise PeerMisbehaved("wrong_message", "peer's log entry names another sending relay")
    try:
        logged = b64d(entry.get("envelope_hash"))  # type: ignore[arg-type]
    except MalformedError as exc:
        raise PeerMisbehaved("malformed_answer", "peer's log entry has no envelope hash") from exc
    if logged != envelope_hash:
        raise PeerMisbehaved("hash_differs", "peer's log names another envelope hash")


def check_peer_inclusion(
    entry: Mapping[str, Any], *, index: int, proof: Sequence[bytes], checkpoint: Checkpoint
) -> None:
    """The entry is leaf `index` of the peer's verified checkpoint (§8, §10 leaf bytes)."""
    try:
        verify_inclusion(
            leaf_hash(canonical_json(entry)), index, checkpoint.size, proof, checkpoint.root_hash
        )
    except (ProofError, MalformedError) as exc:
        raise PeerMisbehaved("not_included", "entry is not in the peer's log") from exc


def check_peer_checkpoint(
    *,
    peer: RelayIdentity,
    note: str | bytes,
    previous_note: str | None,
    consistency_proof: Sequence[bytes],
    detected_at: int,
) -> Checkpoint:
    """The peer's new checkpoint, after checking it is signed by the peer's log key for its
    origin and extends `previous_note` (the last checkpoint of the peer this relay verified;
    None the first time) by `consistency_proof`. A smaller size, the same size with another
    root, or a failing proof raise `PeerLogMisbehaved` with the evidence to keep."""
    try:
        checkpoint = verify_checkpoint(
            note, key_name=peer.key_name, public_key=peer.public_key, origin=peer.origin
        )
    except ProofError as exc:
        raise PeerMisbehaved("wrong_origin", "checkpoint is for another log") from exc
    except CryptoError as exc:
        raise PeerMisbehaved("bad_signature", "checkpoint is not signed by the peer") from exc
    if previous_note is None:
        return checkpoint
    previous = verify_checkpoint(
        previous_note, key_name=peer.key_name, public_key=peer.public_key, origin=peer.origin
    )
    text = note.decode("utf-8") if isinstance(note, bytes) else note

    def refuse(reason: str, message: str, proof: Sequence[bytes] | None) -> PeerLogMisbehaved:
        evidence = {
            "format": MISBEHAVIOUR_FORMAT,
            "reason": reason,
            "server": peer.origin,
            "server_identity": {
                "origin": peer.origin,
                "log_key_name": peer.key_name,
                "log_public_key": b64e(peer.public_key),
            },
            "first_checkpoint": previous_note,
            "second_checkpoint": text,
            "consistency_proof": None if proof is None else [b64e(p) for p in proof],
            "detected_at": detected_at,
        }
        return PeerLogMisbehaved(reason, message, evidence)

    if checkpoint.size < previous.size:
        # Both notes are signed: a log that shrank is a fork or a rollback, never honest.
        raise refuse("not_consistent", "peer's log is smaller than before", None)
    if checkpoint.size == previous.size:
        if checkpoint.root_hash != previous.root_hash:
            raise refuse("same_size_different_root", "peer signed two roots for one size", None)
        return checkpoint
    try:
        verify_consistency(
            previous.size,
            checkpoint.size,
            previous.root_hash,
            checkpoint.root_hash,
            consistency_proof,
        )
    except ProofError as exc:
        raise refuse(
            "not_consistent",
            "peer's log does not extend its previous checkpoint",
            consistency_proof,
        ) from exc
    return checkpoint
