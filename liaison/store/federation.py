"""Federation storage (PROTOCOL.md §16, revision 0007): peers, agency homes, the outbound queue
per peer, acknowledgements going back, the inbound duplicate check, peer acks, request nonces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update

from liaison.federation.outbound import OutboundRow
from liaison.store.tables import (
    agency_homes,
    envelope_blobs,
    envelopes,
    federation_acks_out,
    federation_inbound,
    federation_nonces,
    federation_outbound,
    federation_review_outbox,
    federation_reviews,
    home_statements,
    peer_acks,
    peers,
)

_INSERT_OUTBOUND = insert(federation_outbound)
_SAVE_OUTBOUND = (
    update(federation_outbound)
    .where(
        and_(
            federation_outbound.c.peer == bindparam("p_peer"),
            federation_outbound.c.message_id == bindparam("p_message_id"),
        )
    )
    .values(
        next_attempt_at=bindparam("next_attempt_at"),
        finished_at=bindparam("finished_at"),
        attempts=bindparam("attempts"),
        state=bindparam("state"),
        last_error=bindparam("last_error"),
    )
)

PEER_ACTIVE = "active"
PEER_REMOVED = "removed"


@dataclass(frozen=True)
class PeerRecord:
    origin: str
    url: str
    log_key: bytes
    state: str
    added_at: int
    removed_at: int | None
    last_seen_at: int | None
    mutual_at: int | None
    checkpoint: str | None
    checkpoint_size: int | None
    last_error: str | None
    log_index: int
    cosigned_checkpoint: str | None = None
    cosigned_size: int | None = None
    cosigned_at: int | None = None
    distrusted_at: int | None = None
    distrust_reason: str | None = None
    misbehaviour: str | None = None  # the evidence, JSON (§13 format)

    @property
    def active(self) -> bool:
        return self.state == PEER_ACTIVE

    @property
    def distrusted(self) -> bool:
        """The peer showed a log that does not extend what this relay cosigned (§16.7)."""
        return self.distrusted_at is not None


@dataclass(frozen=True)
class InboundRecord:
    message_id: str
    from_relay: str
    envelope_hash: bytes
    log_index: int
    ack: bytes


@dataclass(frozen=True)
class PeerAckRecord:
    message_id: str
    event: str
    device_id: str | None
    from_relay: str
    ack: bytes
    peer_index: int
    log_index: int
    received_at: int


def _peer(row: Any) -> PeerRecord:
    return PeerRecord(
        origin=row.origin,
        url=row.url,
        log_key=bytes(row.log_key),
        state=row.state,
        added_at=int(row.added_at),
        removed_at=row.removed_at,
        last_seen_at=row.last_seen_at,
        mutual_at=row.mutual_at,
        checkpoint=row.checkpoint,
        checkpoint_size=row.checkpoint_size,
        last_error=row.last_error,
        log_index=int(row.log_index),
        cosigned_checkpoint=row.cosigned_checkpoint,
        cosigned_size=row.cosigned_size,
        cosigned_at=row.cosigned_at,
        distrusted_at=row.distrusted_at,
        distrust_reason=row.distrust_reason,
        misbehaviour=row.misbehaviour,
    )


def _outbound(row: Any) -> OutboundRow:
    return OutboundRow(
        peer=row.peer,
        seq=int(row.seq),
        message_id=row.message_id,
        sender_device=row.sender_device,
        envelope_hash=bytes(row.envelope_hash),
        enqueued_at=float(row.enqueued_at),
        next_attempt_at=float(row.next_attempt_at),
        finished_at=None if row.finished_at is None else float(row.finished_at),
        attempts=int(row.attempts),
        state=row.state,
        last_error=row.last_error,
    )


@dataclass(frozen=True)
class ReviewOutboxRow:
    """A review entry to forward to a peer relay (§16.6), or forwarded (`finished_at`)."""

    peer: str
    review_index: int
    message_id: str
    enqueued_at: int
    next_attempt_at: float
    attempts: int
    finished_at: int | None
    last_error: str | None


def _review_outbox_row(row: Any) -> ReviewOutboxRow:
    return ReviewOutboxRow(
        row.peer,
        int(row.review_index),
        row.message_id,
        int(row.enqueued_at),
        float(row.next_attempt_at),
        int(row.attempts),
        None if row.finished_at is None else int(row.finished_at),
        row.last_error,
    )


class FederationReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def peers(self) -> list[PeerRecord]:
        async with self.read_connection() as conn:
            return [_peer(r) for r in await conn.execute(select(peers).order_by(peers.c.origin))]

    async def peer(self, origin: str) -> PeerRecord | None:
        async with self.read_connection() as conn:
            row = (await conn.execute(select(peers).where(peers.c.origin == origin))).first()
        return None if row is None else _peer(row)

    async def agency_homes(self) -> dict[str, str]:
        """Agency code -> origin of its home relay, for agencies homed on another relay."""
        async with self.read_connection() as conn:
            rows = await conn.execute(select(agency_homes.c.agency, agency_homes.c.relay_origin))
            return {agency: origin for agency, origin in rows}

    async def outbound_rows(self, peer: str | None = None) -> list[OutboundRow]:
        query = select(federation_outbound).order_by(
            federation_outbound.c.peer, federation_outbound.c.seq
        )
        if peer is not None:
            query = query.where(federation_outbound.c.peer == peer)
        async with self.read_connection() as conn:
            return [_outbound(r) for r in await conn.execute(query)]

    async def unfinished_outbound_rows(self) -> list[OutboundRow]:
        """Every pending item of every peer (what the worker loads at start)."""
        query = (
            select(federation_outbound)
            .where(federation_outbound.c.state == "pending")
            .order_by(federation_outbound.c.peer, federation_outbound.c.seq)
        )
        async with self.read_connection() as conn:
            return [_outbound(r) for r in await conn.execute(query)]

    async def max_outbound_seq(self, peer: str) -> int:
        query = select(func.max(federation_outbound.c.seq)).where(
            federation_outbound.c.peer == peer
        )
        async with self.read_connection() as conn:
            value = (await conn.execute(query)).scalar()
        return -1 if value is None else int(value)

    async def acks_out(self, peer: str, limit: int = 256) -> list[tuple[int, bytes]]:
        """(id, signed ack bytes) of device acknowledgements not yet sent to `peer`."""
        query = (
            select(federation_acks_out.c.id, federation_acks_out.c.ack)
            .where(
                and_(federation_acks_out.c.peer == peer, federation_acks_out.c.sent_at.is_(None))
            )
            .order_by(federation_acks_out.c.id)
            .limit(limit)
        )
        async with self.read_connection() as conn:
            return [(int(i), bytes(a)) for i, a in await conn.execute(query)]

    async def envelope_bytes(self, message_id: str) -> tuple[bytes, int] | None:
        """(wire bytes, log index of its `envelope` entry) of a stored, unpurged envelope."""
        query = select(envelopes.c.envelope, envelopes.c.log_index).where(
            and_(envelopes.c.message_id == message_id, envelopes.c.purged_at.is_(None))
        )
        async with self.read_connection() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (bytes(row[0]), int(row[1]))

    async def declared_blobs(self, message_id: str) -> list[str]:
        query = select(envelope_blobs.c.blob_id).where(envelope_blobs.c.message_id == message_id)
        async with self.read_connection() as conn:
            return sorted(b for (b,) in await conn.execute(query))

    async def inbound(self, message_id: str) -> InboundRecord | None:
        query = select(federation_inbound).where(federation_inbound.c.message_id == message_id)
        async with self.read_connection() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return InboundRecord(
            row.message_id, row.from_relay, bytes(row.envelope_hash), row.log_index, bytes(row.ack)
        )

    async def message_peers(self, message_id: str) -> set[str]:
        """The peers a message crossed the border with: forwarded to, or forwarded from."""
        out = select(federation_outbound.c.peer).where(
            federation_outbound.c.message_id == message_id
        )
        inbound = select(federation_inbound.c.from_relay).where(
            federation_inbound.c.message_id == message_id
        )
        async with self.read_connection() as conn:
            found = {p for (p,) in await conn.execute(out)}
            found |= {p for (p,) in await conn.execute(inbound)}
        return found

    async def review_outbox(self, *, due_at: float | None = None) -> list[ReviewOutboxRow]:
        """Forwarded reviews, oldest first; with `due_at`, only those unanswered and due then."""
        query = select(federation_review_outbox).order_by(
            federation_review_outbox.c.review_index, federation_review_outbox.c.peer
        )
        if due_at is not None:
            query = query.where(
                and_(
                    federation_review_outbox.c.finished_at.is_(None),
                    federation_review_outbox.c.next_attempt_at <= due_at,
                )
            )
        async with self.read_connection() as conn:
            return [_review_outbox_row(row) for row in await conn.execute(query)]

    async def home_statement(self, agency: str) -> tuple[bytes, int, int] | None:
        """(statement bytes, issued_at, log index of its `home` entry) of an agency homed here."""
        query = select(home_statements).where(home_statements.c.agency == agency)
        async with self.read_connection() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (bytes(row.statement), row.issued_at, row.log_index)

    async def peer_acks(self, message_ids: list[str]) -> list[PeerAckRecord]:
        """Acknowledgements peers signed for these forwarded envelopes."""
        if not message_ids:
            return []
        query = (
            select(peer_acks)
            .where(peer_acks.c.message_id.in_(message_ids))
            .order_by(peer_acks.c.message_id, peer_acks.c.log_index)
        )
        async with self.read_connection() as conn:
            return [
                PeerAckRecord(
                    message_id=r.message_id,
                    event=r.event,
                    device_id=r.device_id or None,
                    from_relay=r.from_relay,
                    ack=bytes(r.ack),
                    peer_index=int(r.peer_index),
                    log_index=int(r.log_index),
                    received_at=int(r.received_at),
                )
                for r in await conn.execute(query)
            ]


class FederationWrites:
    """Writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write
    will_write: Any  # TxCore.will_write

    async def put_peer(
        self, *, origin: str, url: str, log_key: bytes, checkpoint: str, size: int, index: int,
        at: int,
    ) -> None:  # fmt: skip
        """Add the peer, or make a removed one active again (with its new URL, key, view)."""
        await self.execute_write(delete(peers).where(peers.c.origin == origin))
        await self.execute_write(
            insert(peers).values(
                origin=origin,
                url=url,
                log_key=log_key,
                state=PEER_ACTIVE,
                added_at=at,
                checkpoint=checkpoint,
                checkpoint_size=size,
                log_index=index,
            )
        )

    async def peer_for_update(self, origin: str) -> PeerRecord | None:
        row = (await self.conn.execute(select(peers).where(peers.c.origin == origin))).first()
        return None if row is None else _peer(row)

    async def remove_peer(self, origin: str, *, index: int, at: int) -> None:
        await self.execute_write(
            update(peers)
            .where(peers.c.origin == origin)
            .values(state=PEER_REMOVED, removed_at=at, log_index=index, mutual_at=None)
        )

    async def update_peer(self, origin: str, **values: Any) -> None:
        """Set `last_seen_at`, `mutual_at`, `checkpoint`, `checkpoint_size`, `last_error`, the
        witnessing columns (`cosigned_*`, `distrusted_at`, `distrust_reason`, `misbehaviour`)."""
        await self.execute_write(update(peers).where(peers.c.origin == origin).values(**values))

    async def set_agency_home(self, agency: str, relay_origin: str | None, *, at: int) -> None:
        """Record the agency's home relay (None: it lives here, or the record is dropped)."""
        await self.execute_write(delete(agency_homes).where(agency_homes.c.agency == agency))
        if relay_origin is not None:
            await self.execute_write(
                insert(agency_homes).values(agency=agency, relay_origin=relay_origin, updated_at=at)
            )

    async def insert_outbound(self, row: OutboundRow) -> bool:
        """Enqueue (in the envelope's own transaction: its message id is new, or the envelope
        insert of the same transaction fails first)."""
        await self.will_write()
        await self.conn.execute(_INSERT_OUTBOUND, [row.__dict__])
        return True

    async def save_outbound(self, rows: list[OutboundRow]) -> None:
        """Write back the state of queued items (delivered, refused, retried): one statement."""
        if not rows:
            return
        await self.will_write()
        await self.conn.execute(
            _SAVE_OUTBOUND,
            [
                {
                    "p_peer": r.peer,
                    "p_message_id": r.message_id,
                    "next_attempt_at": r.next_attempt_at,
                    "finished_at": r.finished_at,
                    "attempts": r.attempts,
                    "state": r.state,
                    "last_error": r.last_error,
                }
                for r in rows
            ],
        )

    async def insert_ack_out(self, *, peer: str, ack: bytes, at: int) -> None:
        await self.execute_write(
            insert(federation_acks_out).values(peer=peer, ack=ack, created_at=at)
        )

    async def mark_acks_sent(self, ids: list[int], *, at: int) -> None:
        if ids:
            await self.execute_write(
                update(federation_acks_out)
                .where(federation_acks_out.c.id.in_(ids))
                .values(sent_at=at)
            )

    async def inbound_for_update(self, message_id: str) -> InboundRecord | None:
        query = select(federation_inbound).where(federation_inbound.c.message_id == message_id)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return InboundRecord(
            row.message_id, row.from_relay, bytes(row.envelope_hash), row.log_index, bytes(row.ack)
        )

    async def insert_inbound(
        self, *, message_id: str, from_relay: str, envelope_hash: bytes, log_index: int,
        ack: bytes, at: int,
    ) -> None:  # fmt: skip
        await self.execute_write(
            insert(federation_inbound).values(
                message_id=message_id,
                from_relay=from_relay,
                envelope_hash=envelope_hash,
                log_index=log_index,
                ack=ack,
                received_at=at,
            )
        )

    async def peer_review_index(self, from_relay: str, review_index: int) -> int | None:
        """This relay's `peer_review` index for a peer's review entry, if logged already."""
        query = select(federation_reviews.c.log_index).where(
            and_(
                federation_reviews.c.from_relay == from_relay,
                federation_reviews.c.review_index == review_index,
            )
        )
        return (await self.conn.execute(query)).scalar()

    async def insert_peer_review(
        self, *, from_relay: str, review_index: int, message_id: str, log_index: int, at: int
    ) -> None:
        await self.execute_write(
            insert(federation_reviews).values(
                from_relay=from_relay,
                review_index=review_index,
                message_id=message_id,
                log_index=log_index,
                received_at=at,
            )
        )

    async def enqueue_review(
        self, *, peer: str, review_index: int, message_id: str, at: int
    ) -> None:
        await self.execute_write(
            insert(federation_review_outbox).values(
                peer=peer,
                review_index=review_index,
                message_id=message_id,
                enqueued_at=at,
                next_attempt_at=float(at),
                attempts=0,
                finished_at=None,
                last_error=None,
            )
        )

    async def update_review_outbox(
        self,
        *,
        peer: str,
        review_index: int,
        attempts: int,
        next_attempt_at: float,
        finished_at: int | None,
        last_error: str | None,
    ) -> None:
        key = and_(
            federation_review_outbox.c.peer == peer,
            federation_review_outbox.c.review_index == review_index,
            federation_review_outbox.c.finished_at.is_(None),
        )
        await self.execute_write(
            update(federation_review_outbox)
            .where(key)
            .values(
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                finished_at=finished_at,
                last_error=last_error,
            )
        )

    async def home_statement_for_update(self, agency: str) -> tuple[bytes, int, int] | None:
        query = select(home_statements).where(home_statements.c.agency == agency)
        row = (await self.conn.execute(query)).first()
        return None if row is None else (bytes(row.statement), row.issued_at, row.log_index)

    async def put_home_statement(
        self, *, agency: str, statement: bytes, issued_at: int, log_index: int
    ) -> None:
        await self.execute_write(delete(home_statements).where(home_statements.c.agency == agency))
        await self.execute_write(
            insert(home_statements).values(
                agency=agency, statement=statement, issued_at=issued_at, log_index=log_index
            )
        )

    async def insert_peer_ack(
        self, *, message_id: str, event: str, device_id: str | None, from_relay: str, ack: bytes,
        peer_index: int, log_index: int, at: int,
    ) -> bool:  # fmt: skip
        """Keep a peer's acknowledgement (the caller checked `peer_acks_held` first)."""
        await self.execute_write(
            insert(peer_acks).values(
                message_id=message_id,
                event=event,
                device_id=device_id or "",
                from_relay=from_relay,
                ack=ack,
                peer_index=peer_index,
                log_index=log_index,
                received_at=at,
            )
        )
        return True

    async def peer_acks_held(self, message_ids: list[str]) -> set[tuple[str, str, str | None]]:
        """(message id, event, device id) of the acknowledgements held for these messages."""
        if not message_ids:
            return set()
        query = select(peer_acks.c.message_id, peer_acks.c.event, peer_acks.c.device_id).where(
            peer_acks.c.message_id.in_(message_ids)
        )
        return {(m, e, d or None) for m, e, d in await self.conn.execute(query)}

    async def peer_ack_held(self, message_id: str, event: str, device_id: str | None) -> bool:
        key = and_(
            peer_acks.c.message_id == message_id,
            peer_acks.c.event == event,
            peer_acks.c.device_id == (device_id or ""),
        )
        return (
            await self.conn.execute(select(peer_acks.c.log_index).where(key))
        ).first() is not None

    async def remember_nonce(self, *, sender: str, nonce: str, expires_at: int, now: int) -> bool:
        """The shared replay cache (§16.3 step 7): False when the pair is held and unexpired
        (then nothing was written, so a caller may refuse without spoiling its batch); else
        the expired pairs are purged and this one is kept until `expires_at`."""
        key = and_(federation_nonces.c.sender == sender, federation_nonces.c.nonce == nonce)
        held = (await self.conn.execute(select(federation_nonces.c.expires_at).where(key))).first()
        if held is not None and held[0] >= now:
            return False
        await self.execute_write(
            delete(federation_nonces).where(federation_nonces.c.expires_at < now)
        )
        await self.execute_write(
            insert(federation_nonces).values(sender=sender, nonce=nonce, expires_at=expires_at)
        )
        return True
