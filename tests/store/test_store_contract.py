"""One contract for the store, run against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from liaison.store import Store
from liaison.store.engine import MIGRATIONS_DIR, current_revision, upgrade
from liaison.store.tables import metadata


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


async def _append(store: Store, data: bytes) -> int:
    async def job(tx):
        return await tx.append_log(data, _leaf(data), at=1)

    return await store.write(job)


async def _agency(tx, code: str = "VN-QN-CA") -> int:
    index = await tx.append_log(code.encode(), _leaf(code.encode()), at=1)
    await tx.insert_agency(
        code=code,
        country=code[:2],
        name_vi="Công an",
        name_zh="公安",
        root_key=b"r" * 32,
        log_index=index,
        at=1,
    )
    return index


async def _device(tx, device_id: str, agency: str = "VN-QN-CA") -> int:
    index = await tx.append_log(device_id.encode(), _leaf(device_id.encode()), at=1)
    await tx.insert_certificate(
        device_id=device_id,
        agency=agency,
        certificate=b"cert:" + device_id.encode(),
        cert_hash=hashlib.sha256(device_id.encode()).digest(),
        signing_key=b"s" * 32,
        encryption_key=b"e" * 32,
        not_before=0,
        not_after=10,
        log_index=index,
        at=1,
    )
    return index


async def test_migrations_create_exactly_the_declared_tables(store: Store) -> None:
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.reader.connect() as conn:
        assert await conn.run_sync(diff) == []
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None and head >= "0002"
    assert await current_revision(store.reader) == head
    await upgrade(store.reader)  # idempotent
    assert await current_revision(store.reader) == head


async def test_concurrent_appends_get_consecutive_indexes(store: Store) -> None:
    indexes = await asyncio.gather(*(_append(store, f"e{i}".encode()) for i in range(40)))
    assert sorted(indexes) == list(range(40))
    assert await store.log_size() == 40
    hashes = await store.leaf_hashes(0)
    assert hashes == [_leaf(f"e{i}".encode()) for i in sorted(range(40), key=indexes.__getitem__)]
    entries = await store.log_entries(10, 12)
    assert [(e.index, e.leaf_hash) for e in entries] == [(10, hashes[10]), (11, hashes[11])]


async def test_a_failing_job_leaves_no_trace_and_its_neighbours_commit(store: Store) -> None:
    async def failing(tx):
        await _agency(tx, "VN-HN-CA")
        raise ValueError("refused")

    good = [_append(store, b"a"), _append(store, b"b")]
    results = await asyncio.gather(good[0], store.write(failing), good[1], return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert sorted(results[0:1] + results[2:]) == [0, 1]
    assert await store.agency("VN-HN-CA") is None
    assert await store.log_size() == 2
    assert len(await store.leaf_hashes(0)) == 2


async def test_commit_listeners_see_appended_entries_in_order(store: Store) -> None:
    seen = []
    store.add_commit_listener(lambda entries: seen.extend(e.index for e in entries))
    await asyncio.gather(*(_append(store, bytes([i])) for i in range(5)))
    assert seen == [0, 1, 2, 3, 4]


async def test_directory_records_round_trip(store: Store) -> None:
    async def job(tx):
        await _agency(tx)
        await tx.insert_review_statement(
            agency="VN-QN-CA",
            key_id="K" * 32,
            statement=b"stmt",
            statement_hash=b"h" * 32,
            log_index=0,
            at=1,
        )
        await _device(tx, "VN-QN-CA:alice:phone")
        await _device(tx, "VN-QN-CA:bob:phone")
        await tx.insert_revocation(
            device_id="VN-QN-CA:bob:phone",
            revocation=b"rev",
            revocation_hash=b"x" * 32,
            log_index=3,
            at=1,
        )

    await store.write(job)
    agency = await store.agency("VN-QN-CA")
    assert (agency.name_zh, agency.review_statements, agency.log_index) == ("公安", (b"stmt",), 0)
    assert [a.code for a in await store.agencies()] == ["VN-QN-CA"]
    alice = await store.device("VN-QN-CA:alice:phone")
    assert (alice.revoked, alice.certificate, alice.log_index) == (
        False,
        b"cert:VN-QN-CA:alice:phone",
        1,
    )
    bob = await store.device("VN-QN-CA:bob:phone")
    assert (bob.revoked, bob.revocation, bob.revocation_log_index) == (True, b"rev", 3)
    listed = await store.agency_devices("VN-QN-CA")
    assert [d.device_id for d in listed] == ["VN-QN-CA:alice:phone", "VN-QN-CA:bob:phone"]
    found = await store.devices(["VN-QN-CA:bob:phone", "VN-QN-CA:nobody:phone"])
    assert list(found) == ["VN-QN-CA:bob:phone"]


async def test_tokens_report_expiry_and_revocation(store: Store) -> None:
    async def job(tx):
        await _agency(tx)
        await _device(tx, "VN-QN-CA:alice:phone")
        await tx.insert_token(
            token_hash=b"t" * 32, device_id="VN-QN-CA:alice:phone", expires_at=99, at=1
        )

    await store.write(job)
    token = await store.token(b"t" * 32)
    assert (token.device_id, token.expires_at, token.device_revoked) == (
        "VN-QN-CA:alice:phone",
        99,
        False,
    )

    async def revoke(tx):
        await tx.insert_revocation(
            device_id="VN-QN-CA:alice:phone",
            revocation=b"r",
            revocation_hash=b"h" * 32,
            log_index=1,
            at=2,
        )

    await store.write(revoke)
    assert (await store.token(b"t" * 32)).device_revoked is True
    assert await store.token(b"u" * 32) is None


async def test_challenges_are_single_use_and_expired_ones_purged(store: Store) -> None:
    async def issue(tx):
        await tx.insert_challenge(challenge=b"c" * 32, device_id="d", expires_at=50)
        await tx.insert_challenge(challenge=b"o" * 32, device_id="d", expires_at=5)

    await store.write(issue)

    async def use(tx):
        record = await tx.challenge(b"c" * 32)
        await tx.use_challenge(b"c" * 32)
        await tx.purge_expired(10)
        return record

    record = await store.write(use)
    assert (record.used, record.expires_at) == (False, 50)

    async def look(tx):
        return await tx.challenge(b"c" * 32), await tx.challenge(b"o" * 32)

    used, purged = await store.write(look)
    assert used.used is True and purged is None


async def test_send_precheck_sees_duplicates_counters_and_revocations(store: Store) -> None:
    async def setup(tx):
        await _agency(tx)
        await _device(tx, "VN-QN-CA:a:phone")
        await tx.insert_revocation(
            device_id="VN-QN-CA:a:phone",
            revocation=b"r",
            revocation_hash=b"h" * 32,
            log_index=1,
            at=1,
        )
        tx.insert_envelope(
            message_id="1" * 32,
            envelope_hash=b"e" * 32,
            sender_device="s",
            counter=4,
            envelope=b"x",
            log_index=0,
            received_at=3,
            recipients=["VN-QN-CA:a:phone"],
        )
        # Within the same transaction the pending envelope is already visible.
        return await tx.send_precheck(message_id="1" * 32, sender_device="s", devices=["x"])

    pending = await store.write(setup)
    assert (pending.existing.envelope_hash, pending.last_counter) == (b"e" * 32, 4)

    async def check(tx):
        return await tx.send_precheck(
            message_id="1" * 32, sender_device="s", devices=["s", "VN-QN-CA:a:phone"]
        )

    stored = await store.write(check)
    assert (stored.existing.log_index, stored.existing.received_at) == (0, 3)
    assert (stored.last_counter, stored.revoked) == (4, frozenset({"VN-QN-CA:a:phone"}))

    async def fresh(tx):
        return await tx.send_precheck(message_id="2" * 32, sender_device="t", devices=["t"])

    assert await store.write(fresh) == type(stored)(None, None, frozenset())


async def test_envelope_stored_once_with_one_delivery_per_device(store: Store) -> None:
    devices = ["VN-QN-CA:a:phone", "VN-QN-CA:b:phone", "VN-QN-CA:c:phone"]

    async def job(tx):
        index = await tx.append_log(b"env", _leaf(b"env"), at=1)
        tx.insert_envelope(
            message_id="0" * 32,
            envelope_hash=b"h" * 32,
            sender_device="VN-QN-CA:s:phone",
            counter=1,
            envelope=b"ciphertext",
            log_index=index,
            received_at=7,
            recipients=devices,
        )
        cursors = {}

        async def collect():
            cursors.update(tx.cursors("0" * 32))

        tx.on_flush(collect)
        return cursors

    cursors = await store.write(job)
    assert sorted(cursors) == devices and len(set(cursors.values())) == 3
    envelope = await store.envelope("0" * 32)
    assert (envelope.size, envelope.counter, envelope.log_index) == (10, 1, 0)

    async def counter(tx):
        return await tx.last_counter("VN-QN-CA:s:phone"), await tx.last_counter("nobody")

    assert await store.write(counter) == (1, None)
    page = await store.deliveries(devices[1], after=0, limit=10, include_acknowledged=False)
    assert [(d.message_id, d.envelope, d.acknowledged) for d in page] == [
        ("0" * 32, b"ciphertext", False)
    ]

    async def ack(tx):
        await tx.acknowledge(device_id=devices[1], message_id="0" * 32, log_index=1, at=8)

    await store.write(ack)
    assert await store.deliveries(devices[1], after=0, limit=10, include_acknowledged=False) == []
    [acked] = await store.deliveries(devices[1], after=0, limit=10, include_acknowledged=True)
    assert (acked.acknowledged, acked.ack_log_index) == (True, 1)
    assert (await store.delivery(devices[0], "0" * 32)).acknowledged is False


async def test_duplicate_sender_counter_is_refused_by_the_database(store: Store) -> None:
    async def job(tx, message_id):
        tx.insert_envelope(
            message_id=message_id,
            envelope_hash=message_id.encode(),
            sender_device="s",
            counter=1,
            envelope=b"x",
            log_index=0,
            received_at=1,
            recipients=["d"],
        )

    await store.write(lambda tx: job(tx, "1" * 32))
    results = await asyncio.gather(
        store.write(lambda tx: job(tx, "2" * 32)),
        _append(store, b"neighbour"),
        return_exceptions=True,
    )
    assert isinstance(results[0], Exception)
    assert results[1] == 0  # the neighbour in the same group commit still commits
    assert await store.envelope("2" * 32) is None


async def test_deliveries_paginate_by_cursor(store: Store) -> None:
    async def job(tx, i):
        tx.insert_envelope(
            message_id=f"{i:032x}",
            envelope_hash=bytes([i]) * 32,
            sender_device="s",
            counter=i,
            envelope=b"x",
            log_index=i,
            received_at=1,
            recipients=["d"],
        )

    for i in range(5):
        await store.write(lambda tx, i=i: job(tx, i))
    first = await store.deliveries("d", after=0, limit=2, include_acknowledged=False)
    rest = await store.deliveries("d", after=first[-1].cursor, limit=10, include_acknowledged=False)
    assert [d.message_id for d in first + rest] == [f"{i:032x}" for i in range(5)]
