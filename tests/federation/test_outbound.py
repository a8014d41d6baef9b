"""The outbound forwarding queue (liaison/federation/outbound.py) and the inbound dedup check."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.federation.outbound import (
    InboundVerdict,
    ItemState,
    OutboundConflict,
    OutboundQueue,
    RetryPolicy,
    classify_inbound,
    peer_health,
)

PEER = "relay.cn-gx.liaison.example"


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mid(n: int) -> str:
    return f"{n:032x}"


def ehash(n: int) -> bytes:
    return n.to_bytes(32, "big")


def queue(clock: Clock, draw=lambda: 1.0, **policy) -> OutboundQueue:
    return OutboundQueue(PEER, policy=RetryPolicy(**policy), clock=clock, random=draw)


def test_enqueue_is_idempotent_by_message_id():
    q = queue(Clock())
    assert q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:an:phone", envelope_hash=ehash(1))
    assert not q.enqueue(
        message_id=mid(1), sender_device="VN-QN-CA:an:phone", envelope_hash=ehash(1)
    )
    assert q.backlog().undelivered == 1
    with pytest.raises(OutboundConflict):
        q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:an:phone", envelope_hash=ehash(2))


def test_enqueue_after_delivery_sends_nothing_again():
    q = queue(Clock())
    q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:an:phone", envelope_hash=ehash(1))
    [item] = q.next_batch()
    assert q.on_delivered(item.message_id)
    assert not q.on_delivered(item.message_id)  # acknowledged twice: harmless
    assert not q.enqueue(
        message_id=mid(1), sender_device="VN-QN-CA:an:phone", envelope_hash=ehash(1)
    )
    assert q.next_batch() == []


def test_a_batch_takes_a_run_per_sender_in_order_and_blocks_while_in_flight():
    q = queue(Clock())
    for n, sender in enumerate(["a", "b", "a", "a", "b"]):
        q.enqueue(message_id=mid(n), sender_device=f"VN-QN-CA:{sender}:p", envelope_hash=ehash(n))
    batch = q.next_batch(per_sender=2)
    assert [i.message_id for i in batch] == [mid(0), mid(1), mid(2), mid(4)]
    assert all(i.state is ItemState.IN_FLIGHT for i in batch)
    # Sender a's third item waits until its earlier ones are settled.
    assert q.next_batch() == []
    for item in batch:
        q.on_delivered(item.message_id)
    assert [i.message_id for i in q.next_batch()] == [mid(3)]


def test_failure_backs_off_with_full_jitter_and_holds_the_senders_later_items():
    clock = Clock()
    draws = iter([0.5, 0.25, 1.0])
    q = queue(clock, draw=lambda: next(draws), base=2.0, cap=5.0)
    q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(1))
    q.enqueue(message_id=mid(2), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(2))
    first = q.next_batch(per_sender=1)
    q.on_failed([i.message_id for i in first], error="peer_unreachable")
    item = q.item(mid(1))
    assert item.attempts == 1 and item.next_attempt_at == clock.now + 0.5 * 2.0
    assert item.last_error == "peer_unreachable"
    assert q.next_batch() == []  # head not due, and mid(2) may not overtake it
    clock.now += 1.0
    q.on_failed([i.message_id for i in q.next_batch(per_sender=1)], error="peer_unreachable")
    assert q.item(mid(1)).next_attempt_at == clock.now + 0.25 * 4.0
    clock.now += 1.0
    q.on_failed([i.message_id for i in q.next_batch(per_sender=1)], error="peer_unreachable")
    assert q.item(mid(1)).next_attempt_at == clock.now + 1.0 * 5.0  # capped at 5, not 8
    q.retry_now()
    assert [i.message_id for i in q.next_batch()] == [mid(1), mid(2)]


def test_not_attempted_items_return_without_counting_an_attempt():
    q = queue(Clock())
    for n in range(3):
        q.enqueue(message_id=mid(n), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(n))
    batch = q.next_batch()
    q.on_failed([batch[0].message_id], error="temporary")
    q.on_not_attempted([i.message_id for i in batch[1:]])
    assert [q.item(mid(n)).attempts for n in range(3)] == [1, 0, 0]
    assert {q.item(mid(n)).state for n in range(3)} == {ItemState.PENDING}


def test_refused_item_is_kept_reported_and_does_not_block_its_sender():
    q = queue(Clock())
    for n in range(2):
        q.enqueue(message_id=mid(n), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(n))
    q.next_batch(per_sender=1)
    q.on_refused(mid(0), error="sender_not_in_log")
    assert q.backlog().refused == 1
    assert [i.message_id for i in q.next_batch()] == [mid(1)]


def test_backlog_age_and_health():
    clock = Clock()
    q = queue(clock)
    assert q.backlog().undelivered == 0 and not q.backlog().degraded(60)
    q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(1))
    clock.now += 30
    q.enqueue(message_id=mid(2), sender_device="VN-QN-CA:b:p", envelope_hash=ehash(2))
    clock.now += 45
    backlog = q.backlog()
    assert backlog.undelivered == 2 and backlog.oldest_age == 75
    assert peer_health(
        {PEER: backlog, "relay.other": queue(clock).backlog()}, degraded_after=60
    ) == [PEER]
    assert peer_health({PEER: backlog}, degraded_after=75) == []


def test_rows_round_trip_and_in_flight_is_stored_as_pending():
    clock = Clock()
    q = queue(clock)
    for n in range(3):
        q.enqueue(message_id=mid(n), sender_device=f"VN-QN-CA:s{n}:p", envelope_hash=ehash(n))
    batch = q.next_batch()
    q.on_delivered(batch[0].message_id)
    q.on_failed([batch[1].message_id], error="timeout")
    rows = q.to_rows()
    assert [r.state for r in rows] == ["delivered", "pending", "pending"]
    again = OutboundQueue.from_rows(PEER, rows, clock=clock, random=lambda: 1.0)
    assert again.to_rows() == rows
    assert again.item(mid(2)).state is ItemState.PENDING
    with pytest.raises(ValueError):
        OutboundQueue.from_rows("relay.other", rows)
    clock.now += 10
    assert again.prune_delivered(older_than=clock.now) == 1
    assert again.item(mid(0)) is None


def test_inbound_duplicate_detection_by_message_id():
    assert classify_inbound(None, ehash(1)) is InboundVerdict.NEW
    assert classify_inbound(ehash(1), ehash(1)) is InboundVerdict.DUPLICATE
    assert classify_inbound(ehash(1), ehash(2)) is InboundVerdict.CONFLICT


# --- property: any interleaving delivers every message exactly once, in per-sender order -------


class Receiver:
    """The receiving relay as §16.6 has it: deduplicates by message id, refuses a sender's
    message out of order (its counter check), processes a batch in order and stops a sender's
    run at its first failure."""

    def __init__(self) -> None:
        self.logged: dict[str, bytes] = {}
        self.log: list[str] = []
        self.next_counter: dict[str, int] = {}

    def accept(self, item, counter: int) -> str:
        verdict = classify_inbound(self.logged.get(item.message_id), item.envelope_hash)
        assert verdict is not InboundVerdict.CONFLICT
        if verdict is InboundVerdict.DUPLICATE:
            return "ok"
        expected = self.next_counter.get(item.sender_device, 0)
        assert counter == expected, "a sender's message arrived out of order"
        self.next_counter[item.sender_device] = counter + 1
        self.logged[item.message_id] = item.envelope_hash
        self.log.append(item.message_id)
        return "ok"


operations = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(0, 3)),
        st.tuples(st.just("reenqueue"), st.integers(0, 50)),
        # outcome per batch: all delivered / request lost before the peer / the peer processed
        # a prefix and the answer was lost / one item failed transiently / crash mid-flight
        st.tuples(st.just("send"), st.sampled_from(["ok", "lost", "prefix", "item", "crash"])),
        st.tuples(st.just("tick"), st.floats(0, 400)),
        st.tuples(st.just("retry_now"), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=operations, seed=st.integers(0, 2**32 - 1), per_sender=st.integers(1, 4))
def test_any_interleaving_delivers_each_message_once_in_per_sender_order(ops, seed, per_sender):
    rnd = random.Random(seed)
    clock = Clock()
    q = OutboundQueue(PEER, policy=RetryPolicy(base=1.0, cap=60.0), clock=clock, random=rnd.random)
    receiver = Receiver()
    counters: dict[str, int] = {}
    order: dict[str, int] = {}  # message id -> its sender's counter
    enqueued: dict[str, list[str]] = {}
    made = 0

    def send(outcome: str) -> None:
        nonlocal q
        batch = q.next_batch(max_items=rnd.randint(1, 6), per_sender=per_sender)
        if not batch:
            return
        ids = [i.message_id for i in batch]
        if outcome == "lost":
            q.on_failed(ids, error="unreachable")
            return
        if outcome in ("prefix", "crash"):
            for item in batch[: rnd.randint(0, len(batch))]:
                receiver.accept(item, order[item.message_id])
            if outcome == "crash":
                q = OutboundQueue.from_rows(
                    PEER, q.to_rows(), policy=q.policy, clock=clock, random=rnd.random
                )
            else:
                q.on_failed(ids, error="answer lost")
            return
        failing = rnd.randrange(len(batch)) if outcome == "item" else None
        stopped: set[str] = set()
        for position, item in enumerate(batch):
            if item.sender_device in stopped:
                q.on_not_attempted([item.message_id])
            elif position == failing:
                stopped.add(item.sender_device)
                q.on_failed([item.message_id], error="temporary")
            else:
                receiver.accept(item, order[item.message_id])
                q.on_delivered(item.message_id)

    for op, arg in ops:
        if op == "enqueue":
            sender = f"VN-QN-CA:officer{arg}:phone"
            message_id = mid(made)
            order[message_id] = counters.get(sender, 0)
            counters[sender] = order[message_id] + 1
            enqueued.setdefault(sender, []).append(message_id)
            assert q.enqueue(message_id=message_id, sender_device=sender, envelope_hash=ehash(made))
            made += 1
        elif op == "reenqueue" and arg < made:
            item = q.item(mid(arg))
            assert not q.enqueue(
                message_id=mid(arg), sender_device=item.sender_device, envelope_hash=ehash(arg)
            )
        elif op == "send":
            send(arg)
        elif op == "tick":
            clock.now += arg
        elif op == "retry_now":
            q.retry_now()

    # The peer comes back for good: everything drains.
    for _ in range(10 * made + 10):
        if q.backlog().undelivered == 0:
            break
        clock.now += 61.0
        send("ok")
    assert q.backlog().undelivered == 0
    assert sorted(receiver.log) == sorted(mid(n) for n in range(made))  # each exactly once
    for sender, ids in enqueued.items():
        assert [m for m in receiver.log if m in set(ids)] == ids
    assert all(q.item(mid(n)).state is ItemState.DELIVERED for n in range(made))


def test_a_later_item_never_overtakes_its_senders_backed_off_head():
    clock = Clock()
    q = queue(clock, draw=lambda: 0.5)
    q.enqueue(message_id=mid(1), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(1))
    q.on_failed([i.message_id for i in q.next_batch()], error="unreachable")
    q.enqueue(message_id=mid(2), sender_device="VN-QN-CA:a:p", envelope_hash=ehash(2))
    q.enqueue(message_id=mid(3), sender_device="VN-QN-CA:b:p", envelope_hash=ehash(3))
    assert [i.message_id for i in q.next_batch()] == [mid(3)]
