"""The receiving side of forwarding (PROTOCOL.md §16.6): a peer's batch of envelopes verified
against the peer's own log, logged here (`forwarded_in`), queued and pushed to this relay's
devices, answered with signed acknowledgements; device acknowledgements sent back; the peer's
`acknowledged` acks received."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from crypto.attachments import parse_blob_id
from crypto.certs import DeviceCertificate
from crypto.checkpoint import Checkpoint, verify_checkpoint
from crypto.encoding import b64d, b64e
from crypto.envelope import Envelope, EnvelopeHeader
from crypto.errors import ContentDigestMismatch, CryptoError, PeerMisbehaved
from crypto.federation import PeerAck, RelayIdentity, VerifiedRequest, sign_peer_ack
from crypto.keys import device_agency
from crypto.log_entries import (
    CertificateEntry,
    EnvelopeEntry,
    ForwardedInEntry,
    parse_log_entry,
)
from crypto.merkle import leaf_hash, verify_inclusion
from liaison.federation.faults import PeerLogMisbehaved, check_peer_checkpoint
from liaison.federation.outbound import InboundVerdict, classify_inbound
from liaison.server.blobs import BlobStore
from liaison.server.errors import ApiError, BadRequest, Conflict, NotFound, Unprocessable
from liaison.server.federation import foreign, peering, trace, witnessing
from liaison.server.federation.forwarding import keep_peer_acks
from liaison.server.federation.requests import refusal
from liaison.server.mailbox import schedule_push
from liaison.server.relay import Relay
from liaison.store import WriteTx

_locks: dict[tuple[int, str], asyncio.Lock] = {}
BLOB_READ_CHUNK = 256 * 1024  # bytes per read of a peer's blob streamed to disk
BLOB_IDLE_SECONDS = 60.0  # a blob's body that sends nothing for this long is cut
# What a blob that came from a peer relay is counted under (no agency of this relay uploaded it).
PEER_AGENCY = "peer"


class CheckpointUnknown(ApiError):
    """The batch's consistency proof starts from a size this relay does not hold (409)."""

    status = 409

    def __init__(self, held: int) -> None:
        super().__init__("checkpoint_unknown", "The consistency proof starts from another size.")
        self.held = held


class ItemRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ItemWaits(Exception):
    """An item that cannot be logged yet (a declared blob has not arrived): not attempted."""

    def __init__(self, code: str, sender: str) -> None:
        super().__init__(code)
        self.code = code
        self.sender = sender


@dataclass
class VerifiedItem:
    message_id: str
    header: EnvelopeHeader
    wire: bytes
    envelope_hash: bytes
    local: tuple[str, ...]
    blobs: tuple[str, ...] = ()


def _lock(relay: Relay, origin: str) -> asyncio.Lock:
    return _locks.setdefault((id(relay), origin), asyncio.Lock())


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise BadRequest("malformed_json", "The body is not JSON.") from exc
    if not isinstance(obj, dict):
        raise BadRequest("invalid_request", "The body must be a JSON object.")
    return obj


def _b64list(value: Any) -> list[bytes]:
    if not isinstance(value, list):
        raise CryptoError("a proof is a list")
    return [b64d(v) for v in value]


async def _peer_checkpoint(
    relay: Relay, identity: RelayIdentity, obj: dict[str, Any]
) -> Checkpoint:
    """The batch's checkpoint of the peer's log, checked against the last one held (§16.8)."""
    note = obj.get("checkpoint")
    if not isinstance(note, str):
        raise BadRequest("invalid_request", "checkpoint is missing.")
    async with _lock(relay, identity.origin):
        record = relay.federation.peers[identity.origin]
        held_note, held_size = record.checkpoint, record.checkpoint_size or 0
        try:
            cp = verify_checkpoint(
                note,
                key_name=identity.key_name,
                public_key=identity.public_key,
                origin=identity.origin,
            )
        except CryptoError as exc:
            _report(relay, identity.origin, "bad_signature")
            raise Unprocessable("peer_misbehaved", "The checkpoint does not verify.") from exc
        if cp.size < held_size:
            return cp  # an older batch still in flight: its signature is the peer's
        proof: Any = []
        if cp.size > held_size:
            proof = _proof_from(obj, held_size)
            if proof is None:
                raise CheckpointUnknown(held_size)
        try:
            check_peer_checkpoint(
                peer=identity,
                note=note,
                # An empty log is consistent with every later one (RFC 9162 has no proof).
                previous_note=held_note if held_size > 0 else None,
                consistency_proof=_b64list(proof),
                detected_at=relay.clock(),
            )
        except PeerLogMisbehaved as exc:
            # Two notes the peer signed that no append-only log produces: distrusted with the
            # evidence, as when witnessing it (PROTOCOL.md §16.7, §16.8).
            await witnessing.distrust(relay, record, exc)
            raise Unprocessable("peer_misbehaved", str(exc)) from exc
        except (PeerMisbehaved, CryptoError) as exc:
            _report(relay, identity.origin, getattr(exc, "reason", "malformed_answer"))
            raise Unprocessable("peer_misbehaved", "The checkpoint does not verify.") from exc
        if cp.size > held_size:
            # Held in memory at once; written with the batch's items (`_log_items`), or
            # alone when the batch logs nothing. A crash in between only makes the peer
            # prove consistency from the older size again (409 checkpoint_unknown).
            relay.federation.peers[identity.origin] = replace(
                record, checkpoint=note, checkpoint_size=cp.size
            )
        return cp


def _proof_from(obj: dict[str, Any], held_size: int) -> Any:
    """The request's consistency proof from `held_size`, or None: `consistency_from` with
    `consistency_proof`, else one of `consistency_alternatives` (the sizes of the sender's
    batches still in flight, any of which this relay may have verified meanwhile)."""
    if obj.get("consistency_from") == held_size:
        return obj.get("consistency_proof", [])
    alternatives = obj.get("consistency_alternatives", [])
    for alternative in alternatives if isinstance(alternatives, list) else []:
        if isinstance(alternative, dict) and alternative.get("from") == held_size:
            return alternative.get("proof", [])
    return None


def _report(relay: Relay, origin: str, reason: str) -> None:
    relay.federation.problems[origin] = f"misbehaved: {reason}"


def _included(data: bytes, index: Any, proof: Any, cp: Checkpoint) -> None:
    if not isinstance(index, int) or isinstance(index, bool):
        raise ItemRefused("not_included")
    try:
        verify_inclusion(leaf_hash(data), index, cp.size, _b64list(proof), cp.root_hash)
    except CryptoError as exc:
        raise ItemRefused("not_included") from exc


async def _verify_item(
    relay: Relay, origin: str, item: Any, cp: Checkpoint
) -> tuple[str | None, VerifiedItem]:
    if not isinstance(item, dict):
        raise ItemRefused("malformed_item")
    try:
        wire = b64d(item.get("envelope", ""))
        envelope = Envelope.from_bytes(wire)
        given_hash = b64d(item.get("envelope_hash", ""))
        certificate = DeviceCertificate.from_bytes(b64d(item.get("certificate", "")))
        envelope_entry_data = b64d(item.get("envelope_entry", ""))
        cert_entry_data = b64d(item.get("certificate_entry", ""))
        envelope_entry = parse_log_entry(envelope_entry_data)
        cert_entry = parse_log_entry(cert_entry_data)
    except CryptoError as exc:
        raise ItemRefused("malformed_item") from exc
    header = envelope.header
    envelope_hash = envelope.envelope_hash()
    if envelope_hash != given_hash:
        raise ItemRefused("hash_differs")
    if (
        not isinstance(envelope_entry, EnvelopeEntry)
        or envelope_entry.message_id != header.message_id
        or envelope_entry.envelope_hash != envelope_hash
        or envelope_entry.sender != header.sender_device
    ):
        raise ItemRefused("wrong_message")
    if (
        not isinstance(cert_entry, CertificateEntry)
        or cert_entry.device_id != header.sender_device
        or cert_entry.cert_hash != certificate.cert_hash()
        or certificate.device_id != header.sender_device
        or header.sender_cert_hash != certificate.cert_hash()
    ):
        raise ItemRefused("sender_certificate_mismatch")
    _included(envelope_entry_data, item.get("envelope_index"), item.get("envelope_proof"), cp)
    _included(cert_entry_data, item.get("certificate_index"), item.get("certificate_proof"), cp)
    if not await foreign.homed_on(relay, origin, device_agency(header.sender_device)):
        raise ItemRefused("sender_not_homed")
    if relay.clock() > certificate.not_after:
        raise ItemRefused("certificate_expired")
    try:
        envelope.verify_signature(certificate.signing_key)
    except CryptoError as exc:
        raise ItemRefused("bad_signature") from exc
    cache = relay.cert_cache
    unknown = [d for d in header.recipients if d not in cache]
    if unknown:
        for device_id, record in (await relay.store.devices(unknown)).items():
            cache[device_id] = record
    local = tuple(sorted(d for d in header.recipients if d in cache))
    if not local:
        raise ItemRefused("no_local_recipient")
    blob_ids = item.get("blobs", [])
    if not isinstance(blob_ids, list) or not all(isinstance(b, str) for b in blob_ids):
        raise ItemRefused("malformed_item")
    for blob_id in blob_ids:
        try:
            parse_blob_id(blob_id)
        except CryptoError as exc:
            raise ItemRefused("malformed_item") from exc
        if relay.blobs is None or not await relay.blobs.exists(blob_id):
            raise ItemWaits("blob_missing", header.sender_device)
    return header.sender_device, VerifiedItem(
        header.message_id, header, wire, envelope_hash, local, tuple(sorted(set(blob_ids)))
    )


async def receive_envelopes(relay: Relay, request: web.Request) -> dict[str, Any]:
    """POST /v1/federation/envelopes [peer]: per item, in batch order, `logged` (with the
    signed ack), `refused` (with a code) or `not_attempted` (an earlier item of its sender
    failed): a sender's items are logged in order or not at all."""
    began = trace.now()
    verified, body = await peering.authenticate_peer(relay, request, remember=False)
    authenticated = trace.now()
    origin = verified.sender_origin
    record = relay.federation.peers[origin]
    identity = RelayIdentity(origin, record.log_key)
    obj = _json_body(body)
    items = obj.get("items")
    if not isinstance(items, list):
        raise BadRequest("invalid_request", "items must be a list.")
    if began is not None:
        traced = [i.get("message_id", "") for i in items if isinstance(i, dict)]
        trace.mark("in_received", traced, began)
        trace.mark("in_authenticated", traced, authenticated)
    cp = await _peer_checkpoint(relay, identity, obj)
    results: dict[int, dict[str, Any]] = {}
    failed: set[str] = set()
    good: list[tuple[int, VerifiedItem]] = []
    for n, item in enumerate(items):
        message_id = item.get("message_id") if isinstance(item, dict) else None
        try:
            sender, checked = await _verify_item(relay, origin, item, cp)
        except ItemRefused as exc:
            results[n] = {"message_id": message_id, "status": "refused", "code": exc.code}
            continue
        except ItemWaits as exc:
            results[n] = {"message_id": message_id, "status": "not_attempted", "code": exc.code}
            failed.add(exc.sender)  # its sender's later items wait with it
            continue
        if sender in failed:
            results[n] = {"message_id": message_id, "status": "not_attempted"}
            continue
        good.append((n, checked))
    held = relay.federation.peers[origin]
    trace.mark("in_verified", (v.message_id for _n, v in good))
    if good:
        # The request's nonce is kept in the same transaction as the items it logs.
        results.update(await _log_items(relay, verified, good, held))
    else:
        await peering.remember_nonce(relay, verified)
        if held.checkpoint_size != record.checkpoint_size:
            await _save_held(relay, held)
    held = relay.federation.peers[origin].checkpoint_size
    return {"results": [results[n] for n in sorted(results)], "checkpoint_size": held}


async def _save_held(relay: Relay, held: Any) -> None:
    async def job(tx: WriteTx) -> None:
        await _write_held(tx, relay, held)

    await relay.store.write(job)


async def _write_held(tx: WriteTx, relay: Relay, held: Any) -> None:
    """The peer's newest verified checkpoint, unless a larger one was written meanwhile."""
    stored = await tx.peer_for_update(held.origin)
    if stored is not None and (stored.checkpoint_size or 0) < (held.checkpoint_size or 0):
        await tx.update_peer(
            held.origin,
            checkpoint=held.checkpoint,
            checkpoint_size=held.checkpoint_size,
            last_seen_at=relay.clock(),
        )


async def _log_items(
    relay: Relay, verified: VerifiedRequest, good: list[tuple[int, VerifiedItem]], held: Any
) -> dict[int, dict[str, Any]]:
    origin = verified.sender_origin
    now = relay.clock()
    own = relay.identity.origin
    encoded = {
        n: relay.log.encode(
            ForwardedInEntry(
                message_id=v.message_id,
                envelope_hash=v.envelope_hash,
                from_relay=origin,
                sender=v.header.sender_device,
                recipients=v.local,
                size=len(v.wire),
                at=now,
            )
        )
        for n, v in good
    }

    async def job(tx: WriteTx) -> dict[int, dict[str, Any]]:
        trace.mark("in_writing", (v.message_id for _n, v in good))
        await peering.nonce_kept(tx, relay, verified)
        await _write_held(tx, relay, held)
        out: dict[int, dict[str, Any]] = {}
        failed: set[str] = set()
        for n, v in good:
            sender = v.header.sender_device
            if sender in failed:
                out[n] = {"message_id": v.message_id, "status": "not_attempted"}
                continue
            existing = await tx.inbound_for_update(v.message_id)
            verdict = classify_inbound(
                None if existing is None else existing.envelope_hash, v.envelope_hash
            )
            if verdict is InboundVerdict.DUPLICATE:
                assert existing is not None
                out[n] = {"message_id": v.message_id, "status": "logged", "ack": b64e(existing.ack)}
                continue
            if verdict is InboundVerdict.CONFLICT:
                _report(relay, origin, "message_id_conflict")
                out[n] = {"message_id": v.message_id, "status": "refused", "code": "conflict"}
                failed.add(sender)
                continue
            check = await tx.send_precheck(
                message_id=v.message_id, sender_device=sender, devices=(sender, *v.local)
            )
            refusal = None
            if check.existing is not None:
                refusal = "duplicate_message_id"
            elif check.revoked:
                refusal = "revoked"
            elif check.last_counter is not None and v.header.counter <= check.last_counter:
                refusal = "duplicate_counter"
            if refusal is not None:
                out[n] = {"message_id": v.message_id, "status": "refused", "code": refusal}
                failed.add(sender)
                continue
            data, leaf = encoded[n]
            index = await tx.append_log(data, leaf, at=now)
            tx.insert_envelope(
                message_id=v.message_id,
                envelope_hash=v.envelope_hash,
                sender_device=sender,
                counter=v.header.counter,
                envelope=v.wire,
                log_index=index,
                received_at=now,
                recipients=v.local,
            )
            ack = sign_peer_ack(
                relay.identity.signing_key,
                relay=own,
                to_relay=origin,
                message_id=v.message_id,
                envelope_hash=v.envelope_hash,
                event="logged",
                device_id=None,
                log_index=index,
                at=now,
            ).to_bytes()
            await tx.insert_inbound(
                message_id=v.message_id,
                from_relay=origin,
                envelope_hash=v.envelope_hash,
                log_index=index,
                ack=ack,
                at=now,
            )
            if v.blobs:
                await tx.declare_blobs(v.message_id, v.blobs)
            schedule_push(relay, tx, v.message_id)
            out[n] = {"message_id": v.message_id, "status": "logged", "ack": b64e(ack)}
        logged = [v.message_id for _n, v in good]
        trace.mark("in_written", logged)
        tx.on_commit(lambda: trace.mark("in_committed", logged))
        return out

    return await relay.store.write(job)


async def receive_acks(relay: Relay, request: web.Request) -> dict[str, Any]:
    """POST /v1/federation/acks [peer]: `acknowledged` acks of envelopes forwarded from here."""
    verified, body = await peering.authenticate_peer(relay, request, remember=False)
    origin = verified.sender_origin
    identity = RelayIdentity(origin, relay.federation.peers[origin].log_key)
    obj = _json_body(body)
    raw = obj.get("acks")
    if not isinstance(raw, list):
        raise BadRequest("invalid_request", "acks must be a list.")
    acks = []
    for text in raw:
        try:
            ack = PeerAck.from_bytes(b64d(text))
            ack.verify(identity, addressed_to=relay.identity.origin)
        except CryptoError as exc:
            _report(relay, origin, "bad_signature")
            raise Unprocessable("peer_misbehaved", "An acknowledgement does not verify.") from exc
        if ack.event != "acknowledged":
            raise Conflict("peer_misbehaved", "Only device acknowledgements travel here.")
        acks.append(ack)

    async def nonce(tx: WriteTx) -> None:
        await peering.nonce_kept(tx, relay, verified)

    await keep_peer_acks(relay, origin, acks, first=nonce)  # one commit for both
    return {"kept": len(acks)}


async def blob_state(relay: Relay, request: web.Request, blob_id: str) -> dict[str, Any]:
    """GET /v1/federation/blobs/{blob_id} [peer]: how much of the blob this relay holds from
    the asking peer (stored, or the offset its transfer resumes at; §16.6)."""
    verified, _body = await peering.authenticate_peer(relay, request)
    store = _blob_store(relay, blob_id)
    name = _transfer_name(verified.sender_origin, blob_id)
    async with _transfer(relay, name):
        if await store.exists(blob_id):
            size = await store.size(blob_id)
            return {"blob": blob_id, "stored": True, "offset": size, "size": size}
        session_id = store.named_upload_id(name)
        try:
            session = await store.session(session_id)
            offset = await store.offset(session_id)
        except NotFound:
            return {"blob": blob_id, "stored": False, "offset": 0, "size": None}
    return {"blob": blob_id, "stored": False, "offset": offset, "size": session.size}


async def receive_blob(relay: Relay, request: web.Request, blob_id: str) -> dict[str, Any]:
    """PUT /v1/federation/blobs/{blob_id}?offset=&size= [peer]: bytes of an attachment of an
    envelope the peer is about to forward, streamed to disk from `offset` in a transfer that
    resumes after a drop; the blob is stored once all `size` bytes arrived and hash to
    `blob_id` (§14.6, §16.6). Neither end holds the blob in memory."""
    # The transfer is held from the request's first step (by the origin it claims, checked
    # next): the peer, seeing its connection drop, may ask where it stands before this
    # handler has even reached the body, and must then wait for what this request keeps.
    claimed = request.headers.get("Liaison-Origin", "")
    async with _transfer(relay, _transfer_name(claimed, blob_id)):
        return await _receive_blob(relay, request, blob_id)


async def _receive_blob(relay: Relay, request: web.Request, blob_id: str) -> dict[str, Any]:
    streamed = await peering.authenticate_peer_streamed(relay, request)
    store = _blob_store(relay, blob_id)
    offset = _query_int(request, "offset")
    size = _query_int(request, "size")
    if await store.exists(blob_id):
        # Already here (another transfer, or a device of this relay uploaded it): the body
        # is not read, the answer says so.
        stored = await store.size(blob_id)
        return {"blob": blob_id, "stored": True, "offset": stored, "size": stored}
    origin = streamed.request.sender_origin
    session = await store.open_named_upload(
        _transfer_name(origin, blob_id), agency=PEER_AGENCY, size=size,
        device=f"peer:{origin}"[:200],
    )  # fmt: skip
    body_hash = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        while True:
            # A connection that went silent (half open) ends the request, keeping what
            # arrived, instead of holding the transfer until TCP gives up.
            async with asyncio.timeout(BLOB_IDLE_SECONDS):
                chunk = await request.content.read(BLOB_READ_CHUNK)
            if not chunk:
                return
            yield chunk

    received = await store.append(session.session_id, offset, body(), body_hasher=body_hash)
    try:
        streamed.check_body(body_hash.digest())
    except ContentDigestMismatch as exc:
        # Bytes the peer did not sign: none of this transfer is kept.
        await store.abort(session.session_id)
        raise refusal(exc) from exc
    if received < size:
        return {"blob": blob_id, "stored": False, "offset": received, "size": size}
    await store.complete(session.session_id, blob_id)  # refuses bytes of another hash
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        await tx.insert_blob(
            blob_id=blob_id, size=size, uploader_device=session.device, agency=PEER_AGENCY,
            at=now,
        )  # fmt: skip

    await relay.store.write(job)
    return {"blob": blob_id, "stored": True, "offset": size, "size": size}


@asynccontextmanager
async def _transfer(relay: Relay, name: str) -> AsyncIterator[None]:
    """One request of a peer's transfer at a time (PUT and GET alike)."""
    transfers = relay.federation.blob_transfers
    lock, users = transfers.setdefault(name, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            yield
    finally:
        users[0] -= 1
        if users[0] == 0:
            transfers.pop(name, None)


def _transfer_name(origin: str, blob_id: str) -> str:
    """The upload session of one peer's transfer of one blob."""
    return f"{origin} {blob_id}"


def _blob_store(relay: Relay, blob_id: str) -> BlobStore:
    try:
        parse_blob_id(blob_id)
    except CryptoError as exc:
        raise BadRequest("bad_blob_id", "A blob id is 64 lower-case hex digits.") from exc
    if relay.blobs is None:
        raise Unprocessable("invalid_request", "This relay stores no attachments.")
    return relay.blobs


def _query_int(request: web.Request, name: str) -> int:
    text = request.query.get(name, "")
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("invalid_request", f"Query parameter {name} must be an integer.")
    return int(text)
