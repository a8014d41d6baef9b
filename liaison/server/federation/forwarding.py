"""The sending side of forwarding (PROTOCOL.md §16.6): recipients homed on peers, the
`forwarded_out` entries and queue rows written with the envelope, and one worker per peer
that sends batches from the durable queue and takes the peer's signed acknowledgements.

Latency: the worker is woken when the write that enqueued commits (an asyncio event, no
polling), several batches are in flight per peer (the queue keeps each sender's order: nothing
of a sender is offered while one of its items is in flight), and the HTTP session is kept alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

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
from liaison.server.federation import peering
from liaison.server.federation.requests import BATCH_BYTES
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
    worker.wake.set()


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
        self._task: asyncio.Task[None] | None = None
        self._acks_pending = True
        self._peering_delay = PEERING_RETRY[0]
        self._cert_entries: dict[str, tuple[int, bytes, bytes]] = {}
        # message id -> (wire bytes, `envelope` entry data, its log index, declared blob ids),
        # until delivered
        self.payloads: dict[str, tuple[bytes, bytes, int, tuple[str, ...]]] = {}
        # Blobs the peer confirmed it stores (sent before the envelopes declaring them).
        self.sent_blobs: set[str] = set()

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
        if not self.mutual:
            await self._check_peering()
            if not self.mutual:
                return
        if self._acks_pending:
            await self._send_acks()
        while len(self.in_flight) < MAX_IN_FLIGHT:
            batch = self.queue.next_batch(max_items=MAX_BATCH_ITEMS)
            if not batch:
                break
            task = asyncio.create_task(self._send_batch(batch))
            self.in_flight.add(task)
            task.add_done_callback(self._done)

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
        """PUT the blob to the peer; None once it holds it, else what went wrong."""
        blobs = self.relay.blobs
        if blobs is None or not await blobs.exists(blob_id):
            return f"blob {blob_id[:12]} not stored here"
        data = b"".join([chunk async for chunk in await blobs.read(blob_id)])
        try:
            answer = await self.relay.federation.client.request(
                peer_origin=self.origin,
                base_url=url,
                method="PUT",
                target=f"{BLOBS_PATH}/{blob_id}",
                body=data,
                extra_headers={"Content-Type": "application/octet-stream"},
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.mutual = False
            return f"transport: {type(exc).__name__}"
        if answer.status != 200:
            return f"blob refused: {answer.status} {answer.code or ''}"
        self.sent_blobs.add(blob_id)
        return None

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
                "items": items,
            }
        )
        ids = [i["message_id"] for i in items]
        try:
            answer = await relay.federation.client.request(
                peer_origin=self.origin,
                base_url=record.url,
                method="POST",
                target=ENVELOPES_PATH,
                body=body,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.queue.on_failed(ids, error=f"transport: {type(exc).__name__}")
            self._note_problem(f"unreachable: {type(exc).__name__}")
            self.mutual = False  # probe with the peering check until it answers again
            await self._save(batch)
            return
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
        self.held_size = answer.data.get("checkpoint_size", self.held_size)
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
