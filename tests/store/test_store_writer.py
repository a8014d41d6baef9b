"""The group-commit writer: how writes are gathered into batches, and SQLite's WAL checkpoints."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from liaison.store import Store, database_url


async def _append(store: Store, data: bytes, *, turns: int = 0) -> int:
    """Append one log entry after `turns` turns of the event loop."""
    for _ in range(turns):
        await asyncio.sleep(0)

    async def job(tx):
        return await tx.append_log(data, hashlib.sha256(b"\x00" + data).digest(), at=1)

    return await store.write(job)


def _batches(store: Store) -> list[int]:
    """Entries appended per committed batch, filled in as batches commit."""
    sizes: list[int] = []
    store.add_commit_listener(lambda entries: sizes.append(len(entries)))
    return sizes


async def test_writes_arriving_over_a_few_loop_turns_share_one_commit(store: Store) -> None:
    batches = _batches(store)
    store.gather_turns = 4
    indexes = await asyncio.gather(*(_append(store, bytes([i]), turns=i % 3) for i in range(9)))
    assert sorted(indexes) == list(range(9))
    assert batches == [9]


async def test_without_gathering_later_writes_wait_for_the_next_commit(store: Store) -> None:
    batches = _batches(store)
    store.gather_turns = 0
    indexes = await asyncio.gather(*(_append(store, bytes([i]), turns=i % 3) for i in range(9)))
    assert sorted(indexes) == list(range(9))
    assert len(batches) > 1 and sum(batches) == 9


async def test_a_lone_write_is_not_held_back(store: Store) -> None:
    batches = _batches(store)
    assert await _append(store, b"alone") == 0
    assert await _append(store, b"next") == 1
    assert batches == [1, 1]


async def test_sqlite_wal_is_checkpointed_beside_the_writer(tmp_path: Path) -> None:
    database = tmp_path / "liaison.db"
    async with Store(database_url(tmp_path)) as store:
        # White box: the writer's own connection.
        writer = store.group_commit._sqlite.connection.dbapi_connection
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = database.stat().st_size
        payloads = [os.urandom(4000) for _ in range(200)]
        await asyncio.gather(*(_append(store, p) for p in payloads))
        # The writer never copies the WAL into the database file itself: the checkpoint
        # thread does, once the commits are reported to it.
        checkpointer = store.group_commit._checkpointer
        assert await asyncio.to_thread(checkpointer.wait_checkpointed, 10)
        assert database.stat().st_size >= before + 200 * 4000
        assert await store.log_size() == 200
    wal = tmp_path / "liaison.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    async with Store(database_url(tmp_path)) as reopened:
        stored = await reopened.leaf_hashes(0)
    assert sorted(stored) == sorted(hashlib.sha256(b"\x00" + p).digest() for p in payloads)


async def test_sqlite_write_waits_for_another_process_lock_without_blocking_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `liaison db purge` run beside the server takes SQLite's write lock for a while.
    async with Store(database_url(tmp_path)) as store:
        other = sqlite3.connect(tmp_path / "liaison.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.Event()
        wait_for_lock = store.group_commit._wait_for_write_lock

        async def observed(*args: object) -> None:
            waiting.set()
            await wait_for_lock(*args)

        monkeypatch.setattr(store.group_commit, "_wait_for_write_lock", observed)
        writing = asyncio.create_task(_append(store, b"after the other process"))
        await asyncio.wait_for(waiting.wait(), timeout=10)
        # The writer now waits for the lock in its thread. Were it waiting on the event loop,
        # this coroutine would not run again before its busy timeout, and the write would
        # have failed by then.
        for _ in range(10):
            await asyncio.sleep(0)  # turns of the loop, not a wait for time to pass
        assert not writing.done()
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(writing, timeout=10) == 0
        assert await _append(store, b"next") == 1  # and the writer begins on the loop again


async def test_closing_while_batches_commit_leaves_a_consistent_log(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    await store.open()
    writes = [asyncio.create_task(_append(store, bytes([i]))) for i in range(20)]
    await asyncio.wait(writes, return_when=asyncio.FIRST_COMPLETED)  # a batch has committed
    writes += [asyncio.create_task(_append(store, bytes([i]))) for i in range(20, 60)]
    for _ in range(3):  # the next batch gathers, and its COMMIT starts in the thread
        await asyncio.sleep(0)
    await store.close()
    answered = sorted(w.result() for w in writes if w.done() and not w.cancelled())
    for w in writes:
        w.cancel()
    async with Store(database_url(tmp_path)) as reopened:
        size = await reopened.log_size()
        entries = await reopened.log_entries(0, max(size, 1))
    # Every answered write is in the log, and the log head counts exactly the stored entries.
    assert [e.index for e in entries] == list(range(size))
    assert answered == list(range(len(answered))) and len(answered) <= size
