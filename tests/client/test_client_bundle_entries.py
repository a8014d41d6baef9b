"""An audit bundle's entries are parsed into the typed log-entry kinds: unknown ones fail."""

from __future__ import annotations

from typing import Any

import nacl.signing
import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.encoding import b64e, canonical_json
from crypto.log_entries import AckEntry, EnvelopeEntry
from crypto.merkle import MerkleTree
from liaison.client.bundle import BUNDLE_FORMAT, BundleError, verify_bundle

DAY = 86400
LOG_NAME = "liaison.example/log"
LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
AT = 20000 * DAY + 3600
ENVELOPE = EnvelopeEntry(
    message_id="ab" * 16,
    envelope_hash=bytes(32),
    sender="VN-QN-CA:an:phone",
    recipients=("CN-GX-DXGA:li:desk",),
    size=512,
    at=AT,
).to_json()
ACK = AckEntry(message_id="ab" * 16, device_id="CN-GX-DXGA:li:desk", at=AT + 1).to_json()


def bundle_of(entries: list[dict[str, Any]]) -> bytes:
    """A bundle of every entry of a log holding exactly `entries`, signed by LOG_KEY."""
    tree = MerkleTree()
    for entry in entries:
        tree.append(canonical_json(entry))
    note = sign_checkpoint(
        Checkpoint(origin=LOG_NAME, size=tree.size, root_hash=tree.root()),
        key_name=LOG_NAME,
        signing_key=LOG_KEY,
    )
    return canonical_json(
        {
            "format": BUNDLE_FORMAT,
            "origin": LOG_NAME,
            "log_key_name": LOG_NAME,
            "log_public_key": b64e(bytes(LOG_KEY.verify_key)),
            "witnesses": [],
            "scope": {"agency": None, "from": 20000 * DAY, "to": 20001 * DAY - 1},
            "checkpoints": [note],
            "consistency": [],
            "entries": [
                {
                    "index": index,
                    "entry": entry,
                    "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(index, tree.size)],
                }
                for index, entry in enumerate(entries)
            ],
        }
    )


def test_a_bundle_of_known_kinds_verifies() -> None:
    assert verify_bundle(bundle_of([ENVELOPE, ACK]), now=AT).entries == 2


@pytest.mark.parametrize(
    "odd",
    [
        {**ACK, "kind": "acknowledgement"},  # a kind this verifier does not know
        {**ACK, "note": "extra"},  # a field the kind does not have
        {**ACK, "device_id": 7},  # a field of the wrong type
        {**ENVELOPE, "recipients": ["VN-QN-CA:b:1", "CN-GX-DXGA:a:1"]},  # not sorted
    ],
)
def test_an_entry_the_log_holds_but_no_kind_describes_is_refused_not_skipped(
    odd: dict[str, Any],
) -> None:
    # The entry is in the signed log and its proof verifies: only its shape is wrong.
    with pytest.raises(BundleError, match="log entry 1"):
        verify_bundle(bundle_of([ENVELOPE, odd]), now=AT)
