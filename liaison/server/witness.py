"""Witness cosignatures on the relay's checkpoints: accepted after checks, served with them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from crypto.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    note_key_id,
    parse_note,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignature,
)
from crypto.errors import CryptoError, MalformedError
from liaison.server import log_queries
from liaison.server.errors import BadRequest, Forbidden, Unprocessable
from liaison.server.models import CosignatureUpload, decode_field
from liaison.server.relay import Relay
from liaison.store import Store, WriteTx

T = TypeVar("T")


async def _note_for(relay: Relay, size: int) -> str:
    """The log's signed note for an earlier size (Ed25519 is deterministic: the same bytes)."""
    if size == relay.log.size:
        return relay.log.checkpoint()[1]
    cp = Checkpoint(relay.identity.origin, size, await relay.log.root(size))
    return sign_checkpoint(
        cp, key_name=relay.identity.key_name, signing_key=relay.identity.signing_key
    )


async def _verified(relay: Relay) -> dict[int, list[str]]:
    """Per tree size, the newest cosignature lines of registered witness keys that verify on
    this log's note of that size (a line over another root, from an edited database, is never
    served)."""
    by_size: dict[int, list[str]] = {}
    for name, key, size, line in await relay.store.newest_cosignatures():
        if size > relay.log.size:
            continue
        try:
            verify_cosignature(
                await _note_for(relay, size) + line,
                witness_name=name,
                witness_public=key,
                now=relay.clock(),
            )
        except CryptoError:
            continue
        by_size.setdefault(size, []).append(line)
    return by_size


async def checkpoint(relay: Relay) -> dict[str, Any]:
    """GET /v1/log/checkpoint: the current note with the cosignatures it has; the newest
    cosigned note; and each registered witness's newest cosigned note (witnesses lag behind the
    log and each other, so a client checks the witnesses it trusts one by one)."""
    answer = await log_queries.checkpoint(relay)
    size, note = answer["size"], answer["checkpoint"]
    by_size = await _verified(relay)
    answer["checkpoint"] = note + "".join(by_size.get(size, ()))
    answer["cosigned"] = None
    answer["witnessed"] = []
    if by_size:
        newest = max(by_size)
        answer["cosigned"] = await _note_for(relay, newest) + "".join(by_size[newest])
        answer["witnessed"] = [
            await _note_for(relay, cosigned) + line
            for cosigned, lines in sorted(by_size.items())
            for line in lines
        ]
    return answer


async def submit(relay: Relay, request: CosignatureUpload) -> dict[str, Any]:
    """POST /v1/log/cosignatures: a registered witness's cosignature on one of this log's
    checkpoints; the newest per witness key is kept."""
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
    if cp.size == 0 or cp.size > relay.log.size or await relay.log.root(cp.size) != cp.root_hash:
        raise Unprocessable("unknown_checkpoint", "This log never signed that checkpoint.")
    if not await relay.store.witness_registered(name, key):
        raise Forbidden(
            "unknown_witness",
            "This witness name and key are not registered with this relay; ask its operator.",
        )
    try:
        verify_cosignature(note, witness_name=name, witness_public=key, now=relay.clock())
    except CryptoError as exc:
        raise Unprocessable("bad_signature", "The cosignature does not verify.") from exc
    line = lines[0].line()
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        await tx.put_cosignature(size=cp.size, witness=name, witness_key=key, line=line, at=now)

    await relay.store.write(job)
    return {"size": cp.size}


async def on_witness_store(
    data_dir: Path,
    url: str | None,
    schema: str | None,
    action: Callable[[Store], Awaitable[T]],
) -> T:
    """`action` on the relay's store in `data_dir` (or at `url`), migrated first as `liaison
    serve` does: how `liaison witness` reaches the database, through the server."""
    from liaison.store import database_url
    from liaison.store.engine import schema_connect_args

    full_url = database_url(data_dir, url)
    async with Store(full_url, connect_args=schema_connect_args(full_url, schema)) as store:
        return await action(store)


async def register_witness(store: Store, name: str, key: bytes, now: int) -> bool:
    """Register a witness key (`liaison witness add`); False when it was registered already."""
    validate_witness(name, key)

    async def job(tx: WriteTx) -> bool:
        return await tx.add_witness(name=name, witness_key=key, at=now)

    return await store.write(job)


async def unregister_witness(store: Store, name: str, key: bytes) -> bool:
    """Unregister a witness key (`liaison witness remove`); its cosignature is no longer served."""

    async def job(tx: WriteTx) -> bool:
        return await tx.remove_witness(name=name, witness_key=key)

    return await store.write(job)


def validate_witness(name: str, key: bytes) -> None:
    """A witness name is a note key name (no spaces, no '+'); its key 32 bytes (Ed25519)."""
    note_key_id(name, key, ALG_COSIGNATURE_V1)
    if len(key) != 32:
        raise MalformedError("a witness key is 32 bytes")
