"""The sending side of forwarding (PROTOCOL.md §16.6): recipients homed on peers, the
`forwarded_out` entries and queue rows written with the envelope, and one worker per peer
that sends batches from the durable queue and takes the peer's signed acknowledgements.

Latency: the write that enqueued puts the batch on the wire on the loop's next turn after its
commit (no polling; the worker's own loop handles peering, acks and retries), several batches
are in flight per peer (the queue keeps each sender's order: nothing of a sender is offered
while one of its items is in flight), and the HTTP session is kept alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, BinaryIO

import aiohttp
import msgspec

from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError, PeerMisbehaved
from crypto.federation import PeerAck, RelayIdentity, sign_peer_ack
from crypto.keys import device_agency
from crypto.log_entries import ForwardedOutEntry, PeerAckEntry
from liaison.federation.faults import check_forward_ack
from liaison.federation.outbound import (
    OutboundItem,
    OutboundQueue,
    OutboundRow,
    peer_health,
)
from liaison.server.errors import NotFound
from liaison.server.federation import peering, trace
from liaison.server.federation.requests import BATCH_BYTES, BLOB_SEND_CHUNK
from liaison.server.relay import Relay
from liaison.store import WriteTx

log = logging.getLogger(__name__)

ENVELOPES_PATH = "/v1/federation/envelopes"
ACKS_PATH = "/v1/federation/acks"
BLOBS_PATH = "/v1/federation/blobs"
MAX_BATCH_ITEMS = 32
MAX_IN_FLIGHT = 8  # batches on the wire per peer (their bookkeeping writes are not counted)
# Seconds between peering checks while the peer is not mutual or not reachable: a cheap signed
# GET, so that a peer coming back gets its backlog at once rather than after a long back-off.
PEERING_RETRY = (0.25, 5.0)

_encode = msgspec.json.Encoder().encode


# --- on the send path ----------------------------------------------------------------------


async def foreign_recipients(relay: Relay, missing: Sequence[str]) -> dict[str, list[str]]:
    """Peer origin -> recipients homed there, among devices not registered on this relay.
    An unknown device of an agency homed nowhere stays unknown (the caller refuses it)."""
    if not missing:
        return {}
    await peering.refresh_peers(relay)
    result: dict[str, list[str]] = {}
    for device_id in missing:
        try:
            peer = relay.federation.home_of(device_agency(device_id))
        except CryptoError:
            peer = None
        if peer is not None:
            result.setdefault(peer, []).append(device_id)
    return result


async def enqueue_in(
    relay: Relay,
    tx: WriteTx,
    *,
    message_id: str,
    envelope_hash: bytes,
    sender_device: str,
    foreign: dict[str, list[str]],
    now: int,
    payload: tuple[bytes, bytes, int, tuple[str, ...]] | None = None,
) -> None:
    """In the envelope's own transaction: one `forwarded_out` entry and one queue row per peer;
    the peer's worker takes the item once the transaction commits."""
    for peer, recipients in sorted(foreign.items()):
        entry = ForwardedOutEntry(
            message_id=message_id,
            envelope_hash=envelope_hash,
            to_relay=peer,
            recipients=tuple(sorted(recipients)),
            at=now,
        )
        await relay.log.append(tx, entry)
        row = OutboundRow(
            peer=peer,
            seq=time.time_ns(),
            message_id=message_id,
            sender_device=sender_device,
            envelope_hash=envelope_hash,
            enqueued_at=time.time(),
            next_attempt_at=0.0,
            finished_at=None,
            attempts=0,
            state="pending",
            last_error=None,
        )
        if await tx.insert_outbound(row):
            tx.on_commit(lambda peer=peer: _committed(relay, peer, message_id, sender_device,
                                                      envelope_hash, payload))  # fmt: skip


def _committed(
    relay: Relay,
    peer: str,
    message_id: str,
    sender_device: str,
    envelope_hash: bytes,
    payload: tuple[bytes, bytes, int, tuple[str, ...]] | None,
) -> None:
    trace.mark("out_committed", (message_id,))
    worker = relay.federation.workers.get(peer)
    if worker is None:
        return  # picked up from the rows when the worker starts
    if payload is not None:
        # The wire bytes, `envelope` entry and its index, kept until delivered: the worker
        # reads nothing back from the database on the hot path.
        worker.payloads[message_id] = payload
    worker.queue.enqueue(
        message_id=message_id, sender_device=sender_device, envelope_hash=envelope_hash
    )
    worker.dispatch_soon()


# --- blobs to a peer ---------------------------------------------------------------------


def resume_offset(state: dict[str, Any], size: int) -> int:
    """Where a transfer of a `size`-byte blob resumes, from the peer's (untrusted) answer to
    GET /v1/federation/blobs/{id}: its offset if it holds part of this very transfer, else 0."""
    offset, peer_size = state.get("offset"), state.get("size")
    if (
        isinstance(offset, int)
        and not isinstance(offset, bool)
        and peer_size == size
        and 0 <= offset <= size
    ):
        return offset
    return 0


def file_sha256(handle: BinaryIO, start: int, end: int) -> bytes:
    """SHA-256 of the file's bytes [start, end): the signed digest of a streamed body, read
    beforehand (a second read of the same bytes, from the page cache when it holds them)."""
    hasher = hashlib.sha256()
    position = start
    while position < end:
        block = os.pread(handle.fileno(), min(BLOB_SEND_CHUNK, end - position), position)
        if not block:
            raise OSError("the blob file is shorter than its size")
        hasher.update(block)
        position += len(block)
    return hasher.digest()


async def file_chunks(handle: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    """The file's bytes [start, end), one read at a time in a worker thread."""
    position = start
    while position < end:
        size = min(BLOB_SEND_CHUNK, end - position)
        block = await asyncio.to_thread(os.pread, handle.fileno(), size, position)
        if not block:
            raise OSError("the blob file is shorter than its size")
        position += len(block)
        yield block


# --- the worker ----------------------------------------------------------------------------


class PeerWorker:
    """Forwards the queue of one peer; acknowledgements of devices here go back the same way."""

    def __init__(self, relay: Relay, origin: str, rows: list[OutboundRow]) -> None:
        self.relay = relay
        self.origin = origin
        self.queue = OutboundQueue.from_rows(origin, rows)
        self.wake = asyncio.Event()
        self.wake.set()
        self.mutual = False
        self.held_size: int | None = None  # the size of our log the peer last verified
        self.in_flight: set[asyncio.Task[None]] = set()
        # Checkpoint sizes of the batches posted and not answered yet (how many of each).
        self.posted_sizes: Counter[int] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._acks_pending = True
        self._dispatch_scheduled = False
        self._peering_delay = PEERING_RETRY[0]
        self._cert_entries: dict[str, tuple[int, bytes, bytes]] = {}
        # message id -> (wire bytes, `envelope` entry data, its log index, declared blob ids),
        # until delivered
        self.payloads: dict[str, tuple[bytes, bytes, int, tuple[str, ...]]] = {}
        # Blobs the peer confirmed it stores (sent before the envelopes declaring them).
        self.sent_blobs: set[str] = set()
        self._blob_locks: dict[str, asyncio.Lock] = {}

    # life

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"liaison-forward-{self.origin}")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self.in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def identity(self) -> RelayIdentity | None:
        record = self.relay.federation.peers.get(self.origin)
        return None if record is None else RelayIdentity(record.origin, record.log_key)

    def ack_waiting(self) -> None:
        self._acks_pending = True
        self.wake.set()

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("federation worker for %s failed a step", self.origin)
                await asyncio.sleep(1.0)
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        if not self.mutual:
            timeout: float | None = self._peering_delay
        elif len(self.in_flight) >= MAX_IN_FLIGHT:
            timeout = None  # a batch's end wakes the worker
        else:
            due = self.queue.next_wakeup()
            timeout = None if due is None else max(0.0, due - time.time())
        if self.wake.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)

    async def _step(self) -> None:
        if self.identity is None:
            self.mutual = False
            return
        if self.relay.federation.peers[self.origin].distrusted:
            # Its log forked (§16.7): nothing goes to it; the queue waits for the operator.
            self.mutual = False
            self._peering_delay = PEERING_RETRY[1]
            return
        if not self.mutual:
            await self._check_peering()
            if not self.mutual:
                return
        if self._acks_pending:
            await self._send_acks()
        self._dispatch()

    def _dispatch(self) -> None:
        """Put batches on the wire while there is room."""
        while len(self.in_flight) < MAX_IN_FLIGHT:
            batch = self.queue.next_batch(max_items=MAX_BATCH_ITEMS)
            if not batch:
                break
            task = asyncio.create_task(self._send_batch(batch))
            self.in_flight.add(task)
            task.add_done_callback(self._done)

    def dispatch_soon(self) -> None:
        """After a commit that enqueued: dispatch on the loop's next turn, once for all the
        items that commit enqueued (its other callbacks run first), rather than through the
        worker's wake-up and step, which cost the hop two more turns of a busy loop."""
        if self._dispatch_scheduled:
            return
        self._dispatch_scheduled = True
        asyncio.get_running_loop().call_soon(self._dispatch_now)

    def _dispatch_now(self) -> None:
        self._dispatch_scheduled = False
        running = self._task is not None and not self._task.done()
        if not running:
            return  # stopped: its rows are picked up when a worker starts again
        record = self.relay.federation.peers.get(self.origin)
        if self.mutual and record is not None and not record.distrusted:
            self._dispatch()
        else:
            self.wake.set()  # not peered (yet), or distrusted: the worker's step decides

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.wake.set()

    # peering

    async def _check_peering(self) -> None:
        record = self.relay.federation.peers.get(self.origin)
        if record is None:
            return
        try:
            answer = await self.relay.federation.client.request(
                peer_origin=self.origin,
                base_url=record.url,
                method="GET",
                target=peering.PEERING_PATH,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._note_problem(f"unreachable: {type(exc).__name__}")
            self._peering_delay = min(PEERING_RETRY[1], self._peering_delay * 2)
            return
        if answer.status == 200 and isinstance(answer.data, dict) and answer.data.get("peered"):
            self.mutual = True
            self.held_size = answer.data.get("checkpoint_size")
            self._peering_delay = PEERING_RETRY[0]
            self.relay.federation.problems.pop(self.origin, None)
            self.queue.retry_now()  # the peer answers: what waited for it goes now
            await self._touch(mutual=True)
            return
        self._note_problem(f"not peered ({answer.code or answer.status})")
        self._peering_delay = min(PEERING_RETRY[1], self._peering_delay * 2)

    def _note_problem(self, text: str) -> None:
        self.relay.federation.problems[self.origin] = text

    async def _touch(self, *, mutual: bool = False, error: str | None = None) -> None:
        now = self.relay.clock()
        values: dict[str, Any] = {"last_seen_at": now, "last_error": error}
        if mutual:
            values["mutual_at"] = now

        async def job(tx: WriteTx) -> None:
            await tx.update_peer(self.origin, **values)

        await self.relay.store.write(job)

    # envelopes

    async def _alternatives(self, held: int, size: int) -> list[dict[str, Any]]:
        """Consistency proofs to `size` from the checkpoints of batches still on the wire: the
        peer may have verified one of them by the time this batch arrives, and then proves
        this one from it instead of refusing it (409 `checkpoint_unknown`, one more trip)."""
        sizes = sorted(n for n in self.posted_sizes if n != held and 0 < n < size)
        return [
            {"from": n, "proof": [b64e(h) for h in await self.relay.log.consistency_proof(n, size)]}
            for n in sizes
        ]

    async def _item_json(self, item: OutboundItem, size: int) -> dict[str, Any] | None:
        relay = self.relay
        held = self.payloads.get(item.message_id)
        if held is not None:
            wire, entry_data, envelope_index, blob_ids = held
        else:  # queued before a restart: read back
            stored = await relay.store.envelope_bytes(item.message_id)
            if stored is None:
                return None
            wire, envelope_index = stored
            [entry] = await relay.store.log_entries(envelope_index, envelope_index + 1)
            entry_data = entry.data
            blob_ids = tuple(await relay.store.declared_blobs(item.message_id))
        cert = await self._certificate(item.sender_device)
        if cert is None:
            return None
        cert_index, cert_entry, certificate = cert
        tree = await relay.log.view([envelope_index, cert_index], size)
        return {
            "message_id": item.message_id,
            "envelope": b64e(wire),
            "envelope_hash": b64e(item.envelope_hash),
            "envelope_entry": b64e(entry_data),
            "envelope_index": envelope_index,
            "envelope_proof": [b64e(h) for h in tree.inclusion_proof(envelope_index, size)],
            "certificate": b64e(certificate),
            "certificate_entry": b64e(cert_entry),
            "certificate_index": cert_index,
            "certificate_proof": [b64e(h) for h in tree.inclusion_proof(cert_index, size)],
            "blobs": sorted(blob_ids),
        }

    async def _send_blob(self, url: str, blob_id: str) -> str | None:
        """Send the blob to the peer, resuming where an earlier transfer stopped; None once the
        peer holds it, else what went wrong (the batch is retried later)."""
        blobs = self.relay.blobs
        if blobs is None or not await blobs.exists(blob_id):
            return f"blob {blob_id[:12]} not stored here"
        # Two batches declaring one blob: one transfer, the other waits for its outcome.
        async with self._blob_locks.setdefault(blob_id, asyncio.Lock()):
            if blob_id in self.sent_blobs:
                return None
            try:
                problem = await self._transfer_blob(url, blob_id)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.mutual = False
                return f"transport: {type(exc).__name__}"
            finally:
                self._blob_locks.pop(blob_id, None)
            if problem is None:
                self.sent_blobs.add(blob_id)
            return problem

    async def _transfer_blob(self, url: str, blob_id: str) -> str | None:
        """Ask the peer how much it holds (GET), then stream the rest from the file in one
        signed PUT whose Content-Digest was hashed from the file first (PROTOCOL.md §16.6)."""
        client = self.relay.federation.client
        blobs = self.relay.blobs
        assert blobs is not None
        target = f"{BLOBS_PATH}/{blob_id}"
        state = await client.request(
            peer_origin=self.origin, base_url=url, method="GET", target=target
        )
        if state.status != 200 or not isinstance(state.data, dict):
            return f"blob state: {state.status} {state.code or ''}"
        if state.data.get("stored") is True:
            return None
        try:
            handle, size = await blobs.open_blob(blob_id)
        except NotFound:  # purged meanwhile
            return f"blob {blob_id[:12]} not stored here"
        try:
            offset = resume_offset(state.data, size)
            digest = await asyncio.to_thread(file_sha256, handle, offset, size)
            answer = await client.put_stream(
                peer_origin=self.origin,
                base_url=url,
                target=f"{target}?offset={offset}&size={size}",
                body=file_chunks(handle, offset, size),
                size=size - offset,
                body_sha256=digest,
            )
        finally:
            await asyncio.to_thread(handle.close)
        if answer.status == 200 and isinstance(answer.data, dict):
            if answer.data.get("stored") is True:
                return None
        return f"blob refused: {answer.status} {answer.code or ''}"

    async def _certificate(self, device_id: str) -> tuple[int, bytes, bytes] | None:
        """(log index, `certificate` entry data, certificate bytes) of a sender: read once,
        certificates never change (a new key is a new device id)."""
        held = self._cert_entries.get(device_id)
        if held is None:
            record = await self.relay.store.device(device_id)
            if record is None:
                return None
            [entry] = await self.relay.store.log_entries(record.log_index, record.log_index + 1)
            held = (record.log_index, entry.data, record.certificate)
            self._cert_entries[device_id] = held
        return held

    async def _send_batch(self, batch: list[OutboundItem]) -> None:
        try:
            await self._send_batch_once(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("forwarding a batch to %s failed", self.origin)
            self.queue.on_failed([i.message_id for i in batch], error="internal error")

    async def _send_batch_once(self, batch: list[OutboundItem]) -> None:
        relay = self.relay
        trace.mark("out_batch", (i.message_id for i in batch))
        record = relay.federation.peers.get(self.origin)
        if record is None:
            self.queue.on_not_attempted([i.message_id for i in batch])
            return
        if all(i.message_id in self.payloads for i in batch):
            # On SQLite the tree holds this process's commits: no read when it covers them.
            await relay.log.catch_up(1 + max(self.payloads[i.message_id][2] for i in batch))
        else:
            await relay.log.catch_up()
        size, note = relay.log.checkpoint()
        items = []
        missing = []
        # Held in memory on the hot path; read back concurrently after a restart.
        built = await asyncio.gather(*(self._item_json(item, size) for item in batch))
        budget = BATCH_BYTES
        deferred: set[str] = set()  # senders whose items wait for the next batch
        later: list[str] = []
        for item, data in zip(batch, built, strict=True):
            if data is None:
                missing.append(item)
                continue
            cost = len(data["envelope"]) + 4096
            if item.sender_device in deferred or (items and cost > budget):
                deferred.add(item.sender_device)  # keeps the sender's order
                later.append(item.message_id)
                continue
            budget -= cost
            items.append(data)
        if later:
            self.queue.on_not_attempted(later)
        for item in missing:  # purged or unknown here: nothing to send, ever
            self.queue.on_refused(item.message_id, error="not_stored")
        # The attachments go first, each on its own signed request (PROTOCOL.md §16.6).
        for blob_id in sorted({b for i in items for b in i["blobs"]} - self.sent_blobs):
            problem = await self._send_blob(record.url, blob_id)
            if problem is not None:
                ids = [i["message_id"] for i in items]
                self.queue.on_failed(ids, error=problem)
                self._note_problem(problem)
                await self._save(batch)
                return
        held = self.held_size if self.held_size is not None else 0
        consistency = await relay.log.consistency_proof(held, size) if 0 < held <= size else []
        body = _encode(
            {
                "checkpoint": note,
                "consistency_from": held,
                "consistency_proof": [b64e(h) for h in consistency],
                "consistency_alternatives": await self._alternatives(held, size),
                "items": items,
            }
        )
        ids = [i["message_id"] for i in items]
        trace.mark("out_posted", ids)
        self.posted_sizes[size] += 1
        try:
            answer = await relay.federation.client.request(
                peer_origin=self.origin,
                base_url=record.url,
                method="POST",
                target=ENVELOPES_PATH,
                body=body,
            )
            trace.mark("out_answered", ids)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.queue.on_failed(ids, error=f"transport: {type(exc).__name__}")
            self._note_problem(f"unreachable: {type(exc).__name__}")
            self.mutual = False  # probe with the peering check until it answers again
            await self._save(batch)
            return
        finally:
            self.posted_sizes[size] -= 1
            if self.posted_sizes[size] <= 0:
                del self.posted_sizes[size]
        if answer.status == 409 and answer.code == "checkpoint_unknown":
            held = answer.data.get("checkpoint_size") if isinstance(answer.data, dict) else None
            if isinstance(held, int) and not isinstance(held, bool) and held >= 0:
                self.held_size = held
            else:
                self.queue.on_failed(ids, error="checkpoint_unknown without a size")
                await self._save(batch)
                return
            self.queue.on_not_attempted(ids)
            return
        if answer.status in (401, 403):
            self.mutual = False  # removed on the other side, or our clock: check peering again
            self.queue.on_failed(ids, error=f"refused: {answer.code}")
            self._note_problem(f"refused ({answer.code})")
            await self._save(batch)
            return
        if answer.status != 200 or not isinstance(answer.data, dict):
            self.queue.on_failed(ids, error=f"status {answer.status} {answer.code or ''}")
            self._note_problem(f"answered {answer.status} {answer.code or ''}")
            await self._save(batch)
            return
        self.relay.federation.problems.pop(self.origin, None)
        answered = answer.data.get("checkpoint_size")
        if isinstance(answered, int) and not isinstance(answered, bool):
            # Concurrent batches' answers may come back out of order; what the peer holds
            # only grows (a 409 names it exactly when it does not).
            self.held_size = max(answered, self.held_size or 0)
        await self._outcomes(batch, answer.data.get("results", []))

    async def _outcomes(self, batch: list[OutboundItem], results: list[Any]) -> None:
        identity = self.identity
        assert identity is not None
        own = self.relay.identity.origin
        by_id = {item.message_id: item for item in batch}
        acks: list[PeerAck] = []
        answered: set[str] = set()
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            message_id = result.get("message_id")
            item = by_id.get(message_id)  # type: ignore[arg-type]
            if item is None or message_id in answered:
                continue
            answered.add(item.message_id)
            status = result.get("status")
            if status == "logged":
                try:
                    ack = check_forward_ack(
                        peer=identity,
                        own_origin=own,
                        message_id=item.message_id,
                        sent_envelope_hash=item.envelope_hash,
                        ack_bytes=b64d(result.get("ack", "")),
                    )
                except (PeerMisbehaved, CryptoError) as exc:
                    reason = getattr(exc, "reason", "malformed_answer")
                    log.warning("peer %s answered wrongly: %s", self.origin, reason)
                    self._note_problem(f"misbehaved: {reason}")
                    self.queue.on_failed([item.message_id], error=f"peer_misbehaved: {reason}")
                    continue
                acks.append(ack)
            elif status == "refused":
                self.queue.on_refused(item.message_id, error=str(result.get("code")))
            else:
                if result.get("code") == "blob_missing":  # the peer lost it: send it again
                    held = self.payloads.get(item.message_id)
                    self.sent_blobs.difference_update(held[3] if held else ())
                self.queue.on_not_attempted([item.message_id])
        unanswered = [i.message_id for i in batch if i.message_id not in answered]
        if unanswered:
            self.queue.on_not_attempted(unanswered)
        # Delivered in memory at once, so the senders' next items may go while the acks and
        # the rows are written: a crash before that write resends them, and the peer answers
        # its first acknowledgement again (it deduplicates by message id).
        for ack in acks:
            self.queue.on_delivered(ack.message_id)
            self.payloads.pop(ack.message_id, None)
        # The batch is off the wire: its slot is free while its bookkeeping is written.
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.discard(task)  # type: ignore[arg-type]
        self.wake.set()
        rows = self._rows(batch)
        await keep_peer_acks(self.relay, self.origin, acks, rows=rows)
        trace.mark("out_acks_kept", (ack.message_id for ack in acks))
        # Delivered items live on as rows; the queue in memory keeps what is still to do.
        self.queue.prune_delivered(older_than=time.time() + 1)

    def _rows(self, batch: list[OutboundItem]) -> list[OutboundRow]:
        """The persisted form of these items as the queue holds them now (in flight is
        stored as pending: `OutboundQueue.row`)."""
        items = (self.queue.item(sent.message_id) for sent in batch)
        return [self.queue.row(item) for item in items if item is not None]

    async def _save(self, batch: list[OutboundItem]) -> None:
        rows = self._rows(batch)

        async def job(tx: WriteTx) -> None:
            await tx.save_outbound(rows)

        await self.relay.store.write(job)

    # device acknowledgements going back

    async def _send_acks(self) -> None:
        self._acks_pending = False
        record = self.relay.federation.peers.get(self.origin)
        if record is None:
            return
        pending = await self.relay.store.acks_out(self.origin)
        if not pending:
            return
        body = _encode({"acks": [b64e(ack) for _id, ack in pending]})
        try:
            answer = await self.relay.federation.client.request(
                peer_origin=self.origin,
                base_url=record.url,
                method="POST",
                target=ACKS_PATH,
                body=body,
            )
        except (aiohttp.ClientError, TimeoutError, OSError):
            self._acks_pending = True
            return
        if answer.status != 200:
            self._acks_pending = True
            return
        ids = [i for i, _ack in pending]
        now = self.relay.clock()

        async def job(tx: WriteTx) -> None:
            await tx.mark_acks_sent(ids, at=now)

        await self.relay.store.write(job)
        if len(pending) >= 256:
            self._acks_pending = True
            self.wake.set()


async def keep_peer_acks(
    relay: Relay,
    origin: str,
    acks: list[PeerAck],
    *,
    rows: list[OutboundRow] | None = None,
    first: Callable[[WriteTx], Awaitable[None]] | None = None,
) -> None:
    """Log each verified peer acknowledgement once (`peer_ack`) and keep it for the sender;
    with `rows`, write back those queue items' state in the same transaction; `first` runs
    before anything in it (the request's nonce)."""
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        if first is not None:
            await first(tx)
        if rows:
            await tx.save_outbound(rows)
        held = await tx.peer_acks_held(sorted({ack.message_id for ack in acks}))
        for ack in acks:
            entry = PeerAckEntry(
                message_id=ack.message_id,
                envelope_hash=ack.envelope_hash,
                from_relay=origin,
                event=ack.event,
                device_id=ack.device_id,
                peer_index=ack.log_index,
                signature=ack.signature,
                at=now,
            )
            key = (ack.message_id, ack.event, ack.device_id)
            if key in held:
                continue
            held.add(key)
            index = await relay.log.append(tx, entry)
            await tx.insert_peer_ack(
                message_id=ack.message_id,
                event=ack.event,
                device_id=ack.device_id,
                from_relay=origin,
                ack=ack.to_bytes(),
                peer_index=ack.log_index,
                log_index=index,
                at=now,
            )

    await relay.store.write(job)


async def device_acknowledged(relay: Relay, tx: WriteTx, message_id: str, device_id: str,
                              index: int, now: int) -> None:  # fmt: skip
    """In a device's ack transaction: a forwarded envelope's ack goes back to its sender's
    relay as a signed `acknowledged` peer ack."""
    inbound = await tx.inbound_for_update(message_id)
    if inbound is None:
        return
    ack = sign_peer_ack(
        relay.identity.signing_key,
        relay=relay.identity.origin,
        to_relay=inbound.from_relay,
        message_id=message_id,
        envelope_hash=inbound.envelope_hash,
        event="acknowledged",
        device_id=device_id,
        log_index=index,
        at=now,
    )
    await tx.insert_ack_out(peer=inbound.from_relay, ack=ack.to_bytes(), at=now)

    def wake() -> None:
        worker = relay.federation.workers.get(inbound.from_relay)
        if worker is not None:
            worker.ack_waiting()

    tx.on_commit(wake)


# --- workers' life -------------------------------------------------------------------------


async def start_workers(relay: Relay) -> None:
    """One worker per active peer, each with its queue as persisted."""
    state = relay.federation
    rows = await relay.store.unfinished_outbound_rows()
    for origin in state.peers:
        if origin not in state.workers:
            worker = PeerWorker(relay, origin, [r for r in rows if r.peer == origin])
            state.workers[origin] = worker
            worker.start()


async def stop_workers(relay: Relay) -> None:
    workers = list(relay.federation.workers.values())
    relay.federation.workers.clear()
    for worker in workers:
        await worker.stop()


async def sync_workers(relay: Relay) -> None:
    """Start workers of peers added since, stop those of peers removed."""
    state = relay.federation
    for origin in list(state.workers):
        if origin not in state.peers:
            await state.workers.pop(origin).stop()
    if any(origin not in state.workers for origin in state.peers):
        await start_workers(relay)


def backlogs(relay: Relay) -> dict[str, Any]:
    return {origin: w.queue.backlog() for origin, w in relay.federation.workers.items()}


def degraded_peers(relay: Relay) -> list[str]:
    """Peers whose oldest undelivered item is older than the threshold (/v1/health)."""
    return peer_health(backlogs(relay), degraded_after=relay.federation.degraded_after)


def distrusted_peers(relay: Relay) -> list[dict[str, Any]]:
    """Peers distrusted for a log that does not extend what this relay cosigned (§16.7)."""
    return [
        {"origin": origin, "reason": record.distrust_reason}
        for origin, record in sorted(relay.federation.peers.items())
        if record.distrusted
    ]
