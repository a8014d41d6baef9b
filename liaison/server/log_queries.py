"""The log as the relay serves it: server keys, checkpoints, consistency and inclusion proofs,
entry pages, and the proof tree that directory and mailbox answers carry."""

from __future__ import annotations

import json
from typing import Any

from crypto.checkpoint import note_key_id
from crypto.encoding import b64e
from crypto.keys import compact_fingerprint
from liaison.server.errors import BadRequest
from liaison.server.log import TreeView
from liaison.server.relay import Relay

MAX_LOG_ENTRIES_PAGE = 1000


def server_info(relay: Relay) -> dict[str, Any]:
    """GET /v1/server: the log's origin and public key."""
    identity = relay.identity
    return {
        "origin": identity.origin,
        "log_key_name": identity.key_name,
        "log_public_key": b64e(identity.public_key),
        "log_key_id": b64e(note_key_id(identity.key_name, identity.public_key)),
        # The peer relays, each a witness of this log (PROTOCOL.md §16.7); a client that
        # requires one's cosignature checks its key by the fingerprint it was given.
        "peers": [
            {
                "origin": origin,
                "log_public_key": b64e(record.log_key),
                "fingerprint": compact_fingerprint(record.log_key),
            }
            for origin, record in sorted(relay.federation.peers.items())
        ],
    }


async def checkpoint(relay: Relay) -> dict[str, Any]:
    """The signed note of the log as it is now, and its size."""
    await relay.log.catch_up()
    size, note = relay.log.checkpoint()
    return {"checkpoint": note, "size": size}


async def proof_tree(relay: Relay, indexes: list[int]) -> tuple[TreeView, int, str]:
    """The nodes of the log tree for the inclusion proofs of every index (read from the tiles
    once), its size and the signed checkpoint of that size."""
    await relay.log.catch_up(max(indexes, default=-1) + 1)
    size, note = relay.log.checkpoint()
    return await relay.log.view(indexes, size), size, note


async def _size_at_least(relay: Relay, size: int) -> int:
    known = await relay.log.catch_up(size)
    if known < size:
        raise BadRequest("bad_range", "The log is smaller than the size asked for.")
    return known


async def consistency(relay: Relay, old: int, new: int | None) -> dict[str, Any]:
    """GET /v1/log/consistency: the proof that tree `old` is a prefix of tree `new`."""
    known = await _size_at_least(relay, new if new is not None else 0)
    new = known if new is None else new
    if not 0 < old <= new:
        raise BadRequest(
            "bad_range", "Ask for sizes with 0 < from <= to (the empty tree has no proof)."
        )
    return {"proof": [b64e(h) for h in await relay.log.consistency_proof(old, new)]}


async def inclusion(relay: Relay, index: int, size: int | None) -> dict[str, Any]:
    """GET /v1/log/proof: the inclusion proof of leaf `index` in the tree of `size`."""
    known = await _size_at_least(relay, max(size or 0, index + 1))
    size = known if size is None else size
    if index >= size:
        raise BadRequest("bad_range", "The index must be below the tree size.")
    view = await relay.log.view([index], size)
    return {
        "leaf_hash": b64e(view.leaf_hash_at(index)),
        "proof": [b64e(h) for h in view.inclusion_proof(index, size)],
        "index": index,
        "size": size,
    }


async def entries(relay: Relay, start: int, end: int) -> dict[str, Any]:
    """GET /v1/log/entries: the entries from `start` to `end` (at most 1000)."""
    if end <= start or end - start > MAX_LOG_ENTRIES_PAGE:
        raise BadRequest("bad_range", "Ask for 1 to 1000 entries: start < end <= start + 1000.")
    records = await relay.store.log_entries(start, end)
    return {"entries": [{"index": r.index, "entry": json.loads(r.data)} for r in records]}
