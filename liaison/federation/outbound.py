"""The sending relay's outbound queue to one peer, as a state machine the caller drives.

No I/O and no event loop: the relay's worker asks `next_batch`, sends it, and reports each
item's outcome; the store persists `to_rows()` in the transaction that changes them. Delivery
is at least once on the wire and exactly once in effect, because the receiving relay
deduplicates by message id (`classify_inbound`); per-sender order holds because an item is
offered only when every earlier item of its sender is delivered or offered in the same batch
before it (PROTOCOL.md §16.6).
"""

from __future__ import annotations

import random as _random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = [
    "Backlog",
    "InboundVerdict",
    "ItemState",
    "OutboundConflict",
    "OutboundItem",
    "OutboundQueue",
    "OutboundRow",
    "RetryPolicy",
    "classify_inbound",
    "peer_health",
]

_MESSAGE_ID_RE = re.compile(r"[0-9a-f]{32}")


class ItemState(StrEnum):
    """What the sending relay knows about one forwarded envelope."""

    PENDING = "pending"  # not yet acknowledged by the peer; waits for `next_attempt_at`
    IN_FLIGHT = "in_flight"  # handed to the worker by `next_batch`, outcome not reported yet
    DELIVERED = "delivered"  # the peer's signed `logged` acknowledgement was verified
    REFUSED = "refused"  # the peer refused it for good (kept, reported, never retried)


class OutboundConflict(ValueError):
    """The same message id enqueued again with another envelope hash (a relay bug)."""

    code = "outbound_conflict"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter: retry n waits uniform(0, min(cap, base·2^n))."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int, draw: Callable[[], float]) -> float:
        ceiling = min(self.cap, self.base * float(1 << min(attempts, 62)))
        return draw() * ceiling


@dataclass(frozen=True)
class OutboundItem:
    """One envelope to forward to the peer; `seq` is its place in the queue (enqueue order)."""

    seq: int
    message_id: str
    sender_device: str
    envelope_hash: bytes
    enqueued_at: float
    state: ItemState = ItemState.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class OutboundRow:
    """The persisted form of one item; one table row (peer, message_id) is the key.

    Columns: peer TEXT, seq BIGINT, message_id CHAR(32), sender_device TEXT,
    envelope_hash BYTES(32), enqueued_at, next_attempt_at, finished_at (DOUBLE, Unix seconds;
    finished_at NULL until delivered or refused), attempts INT, state TEXT (pending |
    delivered | refused: in flight is stored as pending, since a crash forgets what was on the
    wire and the peer deduplicates), last_error TEXT NULL.
    """

    peer: str
    seq: int
    message_id: str
    sender_device: str
    envelope_hash: bytes
    enqueued_at: float
    next_attempt_at: float
    finished_at: float | None
    attempts: int
    state: str
    last_error: str | None


@dataclass(frozen=True)
class Backlog:
    """What `liaison peer list` and `/v1/health` show for a peer."""

    undelivered: int
    in_flight: int
    refused: int
    oldest_enqueued_at: float | None
    oldest_age: float

    def degraded(self, threshold: float) -> bool:
        """A peer is degraded once its oldest undelivered item is older than `threshold` s."""
        return self.undelivered > 0 and self.oldest_age > threshold


class OutboundQueue:
    """The durable forwarding queue to one peer (sans-io)."""

    def __init__(
        self,
        peer: str,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.peer = peer
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._random = random
        self._items: dict[str, OutboundItem] = {}
        self._next_seq = 0

    # --- filling -------------------------------------------------------------------------------

    def enqueue(self, *, message_id: str, sender_device: str, envelope_hash: bytes) -> bool:
        """Add an envelope; True if new. Enqueuing a known message id again (any state) is a
        no-op, so the caller may re-enqueue after a crash without sending twice."""
        if not isinstance(message_id, str) or _MESSAGE_ID_RE.fullmatch(message_id) is None:
            raise ValueError("message id must be 32 lower-case hex digits")
        if not isinstance(envelope_hash, bytes) or len(envelope_hash) != 32:
            raise ValueError("envelope hash must be 32 bytes")
        known = self._items.get(message_id)
        if known is not None:
            if known.envelope_hash != envelope_hash:
                raise OutboundConflict("message id already queued with another envelope")
            return False
        now = self._clock()
        self._items[message_id] = OutboundItem(
            seq=self._next_seq,
            message_id=message_id,
            sender_device=sender_device,
            envelope_hash=envelope_hash,
            enqueued_at=now,
            next_attempt_at=now,
        )
        self._next_seq += 1
        return True

    # --- sending -------------------------------------------------------------------------------

    def next_batch(self, *, max_items: int = 64, per_sender: int = 16) -> list[OutboundItem]:
        """Due items to send now, in queue order, marked in flight.

        Per sender, only a run from the head of its undelivered items: the first one must be
        due and nothing of the sender may be in flight already; at most `per_sender` of them.
        The peer processes a batch in order and stops a sender's run at its first failure
        (§16.6), so order holds across retries.
        """
        now = self._clock()
        batch: list[OutboundItem] = []
        taken: dict[str, int] = {}
        blocked: set[str] = set()
        for item in sorted(self._items.values(), key=lambda i: i.seq):
            if item.state in (ItemState.DELIVERED, ItemState.REFUSED):
                continue
            sender = item.sender_device
            if sender in blocked:
                continue
            if item.state is ItemState.IN_FLIGHT:
                blocked.add(sender)
                continue
            count = taken.get(sender, 0)
            # The head must be due; items behind a due head ride along with it.
            if (count == 0 and item.next_attempt_at > now) or count >= per_sender:
                blocked.add(sender)
                continue
            if len(batch) >= max_items:
                break
            taken[sender] = count + 1
            batch.append(item)
        for item in batch:
            self._items[item.message_id] = replace(item, state=ItemState.IN_FLIGHT)
        return [self._items[item.message_id] for item in batch]

    def on_delivered(self, message_id: str) -> bool:
        """The peer's `logged` acknowledgement for the item verified. True the first time;
        a second acknowledgement (a duplicate answer, a resend after a crash) changes nothing."""
        item = self._items.get(message_id)
        if item is None or item.state is ItemState.DELIVERED:
            return False
        self._items[message_id] = replace(
            item, state=ItemState.DELIVERED, finished_at=self._clock(), last_error=None
        )
        return True

    def on_failed(self, message_ids: Iterable[str], *, error: str) -> None:
        """The send failed or its answer was lost: back off and retry. Items not in flight
        (already delivered, or unknown) are left alone."""
        now = self._clock()
        for message_id in message_ids:
            item = self._items.get(message_id)
            if item is None or item.state is not ItemState.IN_FLIGHT:
                continue
            delay = self.policy.delay(item.attempts, self._random)
            self._items[message_id] = replace(
                item,
                state=ItemState.PENDING,
                attempts=item.attempts + 1,
                next_attempt_at=now + delay,
                last_error=error,
            )

    def on_not_attempted(self, message_ids: Iterable[str]) -> None:
        """The peer skipped these (an earlier item of the sender failed in the same batch):
        back to pending, due with their sender's head, no attempt counted."""
        for message_id in message_ids:
            item = self._items.get(message_id)
            if item is not None and item.state is ItemState.IN_FLIGHT:
                self._items[message_id] = replace(item, state=ItemState.PENDING)

    def on_refused(self, message_id: str, *, error: str) -> None:
        """The peer refused the item for good (it will never accept it): kept and reported,
        never retried; the sender's later items are no longer held behind it."""
        item = self._items.get(message_id)
        if item is None or item.state in (ItemState.DELIVERED, ItemState.REFUSED):
            return
        self._items[message_id] = replace(
            item, state=ItemState.REFUSED, finished_at=self._clock(), last_error=error
        )

    def retry_now(self) -> None:
        """Make every pending item due (the peer is known to be back), keeping attempt counts."""
        now = self._clock()
        for message_id, item in list(self._items.items()):
            if item.state is ItemState.PENDING and item.next_attempt_at > now:
                self._items[message_id] = replace(item, next_attempt_at=now)

    def next_wakeup(self) -> float | None:
        """When `next_batch` next has something to offer by the clock alone: the earliest due
        time of a sender's head item with nothing of its sender in flight (None when no such
        head waits). Items behind a head go with it, and an in-flight item's outcome is an
        event of its own, so neither is a reason to wake up."""
        heads: dict[str, OutboundItem] = {}
        for item in self._items.values():
            if item.state in (ItemState.DELIVERED, ItemState.REFUSED):
                continue
            held = heads.get(item.sender_device)
            if held is None or item.seq < held.seq:
                heads[item.sender_device] = item
        in_flight = {
            i.sender_device for i in self._items.values() if i.state is ItemState.IN_FLIGHT
        }
        due = [
            head.next_attempt_at
            for sender, head in heads.items()
            if head.state is ItemState.PENDING and sender not in in_flight
        ]
        return min(due) if due else None

    # --- reporting -----------------------------------------------------------------------------

    def item(self, message_id: str) -> OutboundItem | None:
        return self._items.get(message_id)

    def backlog(self) -> Backlog:
        now = self._clock()
        waiting = [
            i for i in self._items.values() if i.state in (ItemState.PENDING, ItemState.IN_FLIGHT)
        ]
        oldest = min((i.enqueued_at for i in waiting), default=None)
        return Backlog(
            undelivered=len(waiting),
            in_flight=sum(1 for i in waiting if i.state is ItemState.IN_FLIGHT),
            refused=sum(1 for i in self._items.values() if i.state is ItemState.REFUSED),
            oldest_enqueued_at=oldest,
            oldest_age=0.0 if oldest is None else max(0.0, now - oldest),
        )

    def prune_delivered(self, *, older_than: float) -> int:
        """Forget delivered items finished before `older_than`; the peer's deduplication by
        message id keeps a later re-enqueue harmless. Answers how many were forgotten."""
        old = [
            m
            for m, i in self._items.items()
            if i.state is ItemState.DELIVERED
            and i.finished_at is not None
            and i.finished_at < older_than
        ]
        for message_id in old:
            del self._items[message_id]
        return len(old)

    # --- persistence ---------------------------------------------------------------------------

    def to_rows(self) -> list[OutboundRow]:
        return [self.row(item) for item in sorted(self._items.values(), key=lambda i: i.seq)]

    def row(self, item: OutboundItem) -> OutboundRow:
        """The item as stored: in flight is stored as pending (a restart sends it again)."""
        state = ItemState.PENDING if item.state is ItemState.IN_FLIGHT else item.state
        return OutboundRow(
            peer=self.peer,
            seq=item.seq,
            message_id=item.message_id,
            sender_device=item.sender_device,
            envelope_hash=item.envelope_hash,
            enqueued_at=item.enqueued_at,
            next_attempt_at=item.next_attempt_at,
            finished_at=item.finished_at,
            attempts=item.attempts,
            state=state.value,
            last_error=item.last_error,
        )

    @classmethod
    def from_rows(
        cls,
        peer: str,
        rows: Sequence[OutboundRow],
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
    ) -> OutboundQueue:
        """The queue as persisted; rows of other peers or unknown states are refused."""
        queue = cls(peer, policy=policy, clock=clock, random=random)
        for row in rows:
            if row.peer != peer:
                raise ValueError("row belongs to another peer")
            state = ItemState(row.state)
            if state is ItemState.IN_FLIGHT:
                raise ValueError("in-flight items are stored as pending")
            if row.message_id in queue._items:
                raise ValueError("message id appears twice")
            queue._items[row.message_id] = OutboundItem(
                seq=row.seq,
                message_id=row.message_id,
                sender_device=row.sender_device,
                envelope_hash=row.envelope_hash,
                enqueued_at=row.enqueued_at,
                state=state,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                last_error=row.last_error,
                finished_at=row.finished_at,
            )
            queue._next_seq = max(queue._next_seq, row.seq + 1)
        return queue


class InboundVerdict(StrEnum):
    """How a receiving relay treats a forwarded envelope, by message id (§16.6)."""

    NEW = "new"  # verify, log `forwarded_in`, store, answer a `logged` ack
    DUPLICATE = "duplicate"  # already logged: answer the first `logged` ack again, append nothing
    CONFLICT = "conflict"  # same message id, another envelope: the sending peer misbehaves


def classify_inbound(
    known_envelope_hash: bytes | None, received_envelope_hash: bytes
) -> InboundVerdict:
    """The receiving side's duplicate check: `known_envelope_hash` is what the relay already
    holds for the message id (None if nothing)."""
    if known_envelope_hash is None:
        return InboundVerdict.NEW
    if known_envelope_hash == received_envelope_hash:
        return InboundVerdict.DUPLICATE
    return InboundVerdict.CONFLICT


def peer_health(backlogs: dict[str, Backlog], *, degraded_after: float) -> list[str]:
    """The peers, sorted, whose oldest undelivered item is older than `degraded_after` seconds:
    `/v1/health` says "degraded" and names them when this is not empty."""
    return sorted(peer for peer, backlog in backlogs.items() if backlog.degraded(degraded_after))
