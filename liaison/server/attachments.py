"""Attachment blobs over HTTP: upload sessions, completion, declaration with an envelope,
fetch by the envelope's parties, deletion with the last declaring envelope, expiry.

The bytes live in `BlobStore` (liaison/server/blobs.py); the records of who uploaded each blob
and which envelopes declare it in the store (liaison/store/attachments.py). The relay holds
ciphertext only and never a file key (crypto/PROTOCOL.md section 14).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, BinaryIO

from crypto.certs import DeviceCertificate
from crypto.keys import device_agency
from liaison.server.auth import registered_device
from liaison.server.blobs import BlobStore, ExpiryReport, UploadSession
from liaison.server.errors import NotFound, Unprocessable
from liaison.server.models import UploadCompletion, UploadRequest
from liaison.server.relay import Relay
from liaison.store import WriteTx

log = logging.getLogger(__name__)


def blob_store(relay: Relay) -> BlobStore:
    assert relay.blobs is not None, "the relay was opened without its blob store"
    return relay.blobs


async def _own_session(relay: Relay, device_id: str, upload_id: str) -> UploadSession:
    """The device's own upload session: another device's is as unknown as a missing one."""
    session = await blob_store(relay).session(upload_id)
    if session.device != device_id:
        raise NotFound("unknown_upload", "No such upload is open.")
    return session


async def create_upload(relay: Relay, device_id: str, request: UploadRequest) -> dict[str, Any]:
    """POST /v1/uploads [device]: open a session for a blob of `size` bytes (quota checked)."""
    agency = device_agency(device_id)
    in_use = await relay.store.agency_blob_bytes(agency)
    session = await blob_store(relay).create_upload(
        agency=agency, size=request.size, agency_bytes_in_use=in_use, device=device_id
    )
    return {"upload_id": session.session_id, "offset": 0, "size": session.size}


async def upload_state(relay: Relay, device_id: str, upload_id: str) -> dict[str, Any]:
    """GET /v1/uploads/{upload_id} [device]: where an interrupted upload resumes."""
    session = await _own_session(relay, device_id, upload_id)
    offset = await blob_store(relay).offset(upload_id)
    return {"upload_id": upload_id, "offset": offset, "size": session.size}


async def append(
    relay: Relay, device_id: str, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
) -> dict[str, Any]:
    """PUT /v1/uploads/{upload_id}?offset= [device]: the body's bytes, streamed to disk."""
    await _own_session(relay, device_id, upload_id)
    return {"offset": await blob_store(relay).append(upload_id, offset, chunks)}


async def complete(
    relay: Relay, device_id: str, upload_id: str, request: UploadCompletion
) -> dict[str, Any]:
    """POST /v1/uploads/{upload_id}/complete [device]: verify the hash, store, record."""
    session = await _own_session(relay, device_id, upload_id)
    blob_id = await blob_store(relay).complete(upload_id, request.blob)
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        await tx.insert_blob(
            blob_id=blob_id, size=session.size, uploader_device=device_id, agency=session.agency,
            at=now,
        )  # fmt: skip

    await relay.store.write(job)
    return {"blob": blob_id, "size": session.size}


async def abort(relay: Relay, device_id: str, upload_id: str) -> None:
    """DELETE /v1/uploads/{upload_id} [device]: drop the session and its bytes."""
    await _own_session(relay, device_id, upload_id)
    await blob_store(relay).abort(upload_id)


async def check_declared(relay: Relay, device_id: str, blob_ids: list[str]) -> list[str]:
    """The blob ids a sender declares with an envelope, each complete and uploaded by the
    sender's agency, or already fetchable by the sender (a forwarded file keeps its blob)."""
    declared = sorted(set(blob_ids))
    agency = device_agency(device_id)
    for blob_id in declared:
        record = await relay.store.blob(blob_id)
        if record is None or not await blob_store(relay).exists(blob_id):
            raise Unprocessable("unknown_blob", f"Attachment {blob_id} is not stored here.")
        if record.agency != agency and not await _may_fetch(relay, device_id, blob_id):
            raise Unprocessable(
                "blob_not_yours", f"Attachment {blob_id} was not uploaded by this agency."
            )
    return declared


async def _may_fetch(relay: Relay, device_id: str, blob_id: str) -> bool:
    parties = await relay.store.blob_parties(blob_id)
    if device_id in parties:
        return True
    # Supervisors review their agency's traffic, attachments included (section 12).
    device = await registered_device(relay, device_id)
    if DeviceCertificate.from_bytes(device.certificate).role != "supervisor":
        return False
    agency = device_agency(device_id)
    return any(device_agency(party) == agency for party in parties)


async def fetch(
    relay: Relay, device_id: str, blob_id: str, start: int
) -> tuple[int, AsyncIterator[bytes]]:
    """GET /v1/blobs/{blob_id}?start= [device]: (blob size, its bytes from `start`), for a
    party of an envelope declaring it; to anyone else the blob does not exist."""
    store = blob_store(relay)
    store.blob_path(blob_id)  # a malformed id is unknown
    if not await _may_fetch(relay, device_id, blob_id):
        raise NotFound("unknown_blob", "No such attachment is stored.")
    size = await store.size(blob_id)
    if start > size:
        raise NotFound("unknown_blob", "The attachment is shorter than the start offset.")
    return size, await store.read(blob_id, start=start)


async def open_for_fetch(
    relay: Relay, device_id: str, blob_id: str, start: int
) -> tuple[BinaryIO, int]:
    """As `fetch`, but the open blob file and its size, for an answer the kernel sends
    (sendfile); the caller closes the file."""
    store = blob_store(relay)
    store.blob_path(blob_id)  # a malformed id is unknown
    if not await _may_fetch(relay, device_id, blob_id):
        raise NotFound("unknown_blob", "No such attachment is stored.")
    handle, size = await store.open_blob(blob_id)
    if start > size:
        handle.close()
        raise NotFound("unknown_blob", "The attachment is shorter than the start offset.")
    return handle, size


async def release_purged(relay: Relay, message_ids: list[str]) -> int:
    """After retention purged `message_ids`: delete the blobs no unpurged envelope declares
    any more (a held envelope is never purged, so its blobs stay). Returns how many."""
    deleted = 0
    for message_id in message_ids:

        async def job(tx: WriteTx, message_id: str = message_id) -> list[str]:
            orphans = await tx.blobs_left_by_purge(message_id)
            for blob_id in orphans:
                await tx.delete_blob_records(blob_id)
            return orphans

        for blob_id in await relay.store.write(job):
            deleted += await blob_store(relay).delete(blob_id)
    return deleted


async def expire(relay: Relay) -> ExpiryReport:
    """Remove uploads open for over a day and complete blobs no envelope declared within a
    day of completion.

    Records first, files after: one write transaction forgets the stale undeclared blobs'
    records (a send declaring one is serialised with it: before, the blob is declared and
    kept; after, the send finds no record and is refused with `blob_expired`), then the
    files without a record are deleted. A blob's file never goes while a record says it is
    stored, so a declared blob is always fetchable."""
    store = blob_store(relay)
    cutoff = int(store.expiry_cutoff())

    async def job(tx: WriteTx) -> list[str]:
        return await tx.forget_undeclared_blobs(completed_before=cutoff)

    forgotten = await relay.store.write(job)
    if forgotten:
        log.info("attachments: %d undeclared blob records expired", len(forgotten))

    async def is_referenced(blob_id: str) -> bool:
        # A file is kept while its record exists (declared, or not yet a day old).
        return await relay.store.blob(blob_id) is not None

    return await store.expire(is_referenced=is_referenced)
