"""Witness cosignatures on the relay's checkpoints: accepted after checks, served with them."""

from __future__ import annotations

from typing import Any

from crypto.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    note_key_id,
    parse_note,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignature,
)
from crypto.errors import CryptoError
from liaison.server import log_queries
from liaison.server.errors import BadRequest, Conflict, Unprocessable
from liaison.server.models import CosignatureUpload, decode_field
from liaison.server.relay import Relay
from liaison.store import WriteTx

MAX_WITNESSES = 32


def _note_for(relay: Relay, size: int) -> str:
    """The log's signed note for an earlier size (Ed25519 is deterministic: the same bytes)."""
    if size == relay.log.tree.size:
        return relay.log.checkpoint()[1]
    cp = Checkpoint(relay.identity.origin, size, relay.log.tree.root(size))
    return sign_checkpoint(
        cp, key_name=relay.identity.key_name, signing_key=relay.identity.signing_key
    )


async def _valid_lines(relay: Relay, note: str, size: int) -> str:
    """The stored cosignature lines for `size` that verify on `note`: a line over another
    root (the database was edited) is never served."""
    lines = []
    for name, key, line in await relay.store.cosignature_lines(size):
        try:
            verify_cosignature(
                note + line, witness_name=name, witness_public=key, now=relay.clock()
            )
        except CryptoError:
            continue
        lines.append(line)
    return "".join(lines)


async def checkpoint(relay: Relay) -> dict[str, Any]:
    """GET /v1/log/checkpoint: the current note with the cosignatures it has, and the newest
    cosigned note (witnesses lag behind the log, so the current one is often not cosigned)."""
    answer = await log_queries.checkpoint(relay)
    size, note = answer["size"], answer["checkpoint"]
    answer["checkpoint"] = note + await _valid_lines(relay, note, size)
    answer["cosigned"] = None
    cosigned_size = await relay.store.latest_cosigned_size()
    if cosigned_size is not None and cosigned_size <= relay.log.tree.size:
        old = note if cosigned_size == size else _note_for(relay, cosigned_size)
        lines = await _valid_lines(relay, old, cosigned_size)
        if lines:
            answer["cosigned"] = old + lines
    return answer


async def submit(relay: Relay, request: CosignatureUpload) -> dict[str, Any]:
    """POST /v1/log/cosignatures: a witness's cosignature on one of this log's checkpoints."""
    name = request.witness_name
    key = decode_field(request.witness_key, "witness_key", length=32)
    note = request.checkpoint
    identity = relay.identity
    try:
        cp = verify_checkpoint(
            note, key_name=identity.key_name, public_key=identity.public_key, origin=identity.origin
        )
        key_id = note_key_id(name, key, ALG_COSIGNATURE_V1)
        lines = parse_note(note).matching(name, key_id)
    except CryptoError as exc:
        raise BadRequest(
            "malformed_checkpoint", "The checkpoint is not a note signed by this log."
        ) from exc
    await relay.log.catch_up(cp.size)
    if (
        cp.size == 0
        or cp.size > relay.log.tree.size
        or relay.log.tree.root(cp.size) != cp.root_hash
    ):
        raise Unprocessable("unknown_checkpoint", "This log never signed that checkpoint.")
    try:
        verify_cosignature(note, witness_name=name, witness_public=key, now=relay.clock())
    except CryptoError as exc:
        raise Unprocessable("bad_signature", "The cosignature does not verify.") from exc
    if await relay.store.witness_count() >= MAX_WITNESSES:
        known = await relay.store.cosignature_lines(cp.size)
        if not any(witness == name for witness, _key, _line in known):
            raise Conflict("too_many_witnesses", "This log accepts no further witnesses.")
    line = lines[0].line()
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        await tx.put_cosignature(size=cp.size, witness=name, witness_key=key, line=line, at=now)

    await relay.store.write(job)
    return {"size": cp.size}
