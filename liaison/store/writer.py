"""The group-commit writer: every write of the relay, batched into one transaction per commit.

Jobs queued close together run in one transaction (one fsync) in the order they came; a job
that fails before writing changes nothing while its neighbours commit, and one that fails after
writing undoes the batch, whose jobs then rerun alone. Log entries, envelopes and deliveries,
the send path's rows, are deferred and inserted once per batch. On SQLite the batch's
statements run on the event loop over the sqlite3 driver and only the COMMIT goes to a thread
(the SQLite fast path); on PostgreSQL the batch runs on one async connection, and its hot
statements (the send checks, the deferred rows, the log size and the NOTIFYs) go to asyncpg
directly as prepared statements over arrays: one round trip for all of a batch's send checks
(given with the jobs, `SendCheck`), one for all of its rows (the PostgreSQL fast path;
docs/operations.md § Performance says what it saved).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from liaison.store.engine import BUSY_TIMEOUT_MS, WalCheckpointer
from liaison.store.records import EnvelopeRecord, LogEntryRecord
from liaison.store.tiles import write_tiles

T = TypeVar("T")
Tx = TypeVar("Tx", bound="TxCore")
log = logging.getLogger(__name__)

MAX_BATCH = 256
# After a batch of sends was overtaken by another process's commit, the next ones lock the log
# head from their start, as before revision 0010: under steady contention (two busy workers)
# an unlocked batch would mostly be overtaken and run twice; with one conflict every so many
# batches the writer still learns when the contention is over.
LOCKED_AFTER_CONFLICT = 32
GATHER_TURNS = 4  # event-loop turns a batch may wait for more writes (GroupCommitWriter._gather)
NOTIFY_CHUNK = 40  # items per NOTIFY: far below PostgreSQL's 8000-byte payload limit

# Built once: constructing SQLAlchemy statements per call costs more than running them.
_INSERT_LOG_QMARK = "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES (?, ?, ?, ?)"
_INSERT_ENVELOPES_QMARK = (
    "INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,"
    " log_index, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DELIVERIES_QMARK = (
    'INSERT INTO deliveries ("cursor", message_id, device_id, received_at) VALUES (?, ?, ?, ?)'
)
_LOG_SIZE_QMARK = "SELECT size FROM log_head WHERE id = 1"
_SET_LOG_SIZE_QMARK = "UPDATE log_head SET size = ? WHERE id = 1"
# PostgreSQL (asyncpg, prepared once per connection by its statement cache): a batch's log
# entries, envelopes and deliveries in one statement of arrays. The deliveries' foreign key
# sees the envelopes inserted by the same statement (checked at the statement's end), and
# WITH ORDINALITY keeps the cursors in the order the jobs came.
_FLUSH_ROWS_PG = (
    "log_rows AS ("
    " INSERT INTO log_entries (idx, data, leaf_hash, created_at)"
    " SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[])"
    "), envelope_rows AS ("
    " INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,"
    " log_index, received_at)"
    " SELECT * FROM unnest($5::varchar[], $6::bytea[], $7::varchar[], $8::bigint[],"
    " $9::bytea[], $10::int[], $11::bigint[], $12::bigint[])"
    ")"
    ", delivery_rows AS ("
    " INSERT INTO deliveries (message_id, device_id, received_at)"
    " SELECT m, d, t FROM unnest($13::varchar[], $14::varchar[], $15::bigint[])"
    " WITH ORDINALITY AS r(m, d, t, n)"
    " ORDER BY n"
    ' RETURNING "cursor", message_id, device_id'
    ")"
    ' SELECT "cursor", message_id, device_id FROM delivery_rows'
)
_FLUSH_PG = "WITH " + _FLUSH_ROWS_PG
# The same, locking the log head first if the version read at the batch's start still holds
# (a row with cursor -1 says it did; without it, the rows are undone with the batch).
_FLUSH_LOCKING_PG = "".join(  # (constants only)
    (
        "WITH head AS (",
        " UPDATE log_head SET version = version + 1 WHERE id = 1 AND version = $16 RETURNING 1",
        "), ",
        _FLUSH_ROWS_PG,
        " UNION ALL SELECT -1, NULL, NULL FROM head",
    )
)
# The log size and every NOTIFY of the batch, in one round trip at its end.
_FINISH_PG = (
    "WITH head AS (UPDATE log_head SET size = $1 WHERE id = 1 AND size <> $1)"
    " SELECT pg_notify(c, p) FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(c, p, n)"
    " ORDER BY n"
)
# A batch first reads the log head without locking it (size, and the version every committing
# batch raises) and runs its jobs; it locks the row only before its first write, by raising
# the version it read (_LOCK_HEAD_PG, or the first CTE of _FLUSH_LOCKING_PG). If another
# process's batch committed in between, the version has moved: nothing is written, the batch
# is undone and runs again from the lock (_LOCK_HEAD_NOW_PG). So the lock is held from the
# batch's writes to its COMMIT, not while its jobs run (two workers, issue 17 §2).
_READ_HEAD_PG = "SELECT size, version FROM log_head WHERE id = 1"
_LOCK_HEAD_PG = (
    "UPDATE log_head SET version = version + 1 WHERE id = 1 AND version = $1 RETURNING size"
)
_LOCK_HEAD_NOW_PG = "UPDATE log_head SET version = version + 1 WHERE id = 1 RETURNING size, version"
# The send checks of every send in a batch, in one round trip at the batch's start (a batch of
# sends reads them before locking log_head, and writes only if no other process's batch
# committed since, else runs again with the lock held from its start): per send,
# the envelope stored under its message id and its sender's highest counter; once, which of
# all the devices named are revoked.
_SEND_CHECKS_PG = (
    "SELECT q.m, q.s, e.envelope_hash, e.log_index, e.received_at, e.counter,"
    " (SELECT max(counter) FROM envelopes WHERE sender_device = q.s),"
    " (SELECT ARRAY(SELECT device_id FROM revocations WHERE device_id = ANY($3::varchar[])))"
    " FROM unnest($1::varchar[], $2::varchar[]) AS q(m, s)"
    " LEFT JOIN envelopes AS e ON e.message_id = q.m"
)


_RACE_STATES = {"23505", "40P01"}  # unique_violation, deadlock_detected


class _Conflict(Exception):
    """Another process's batch committed after this batch read the log head: its reads may be
    stale, so it is undone and runs again holding the lock from its start."""


@dataclass(frozen=True)
class SendCheck:
    """What a send job will ask `send_precheck`, given with the job so that the writer reads
    every send check of a batch at once (PostgreSQL)."""

    message_id: str
    sender_device: str
    devices: tuple[str, ...]


class Batch:
    """State shared by the jobs of one group commit: the log size and the deferred rows.

    Log entries, envelopes and deliveries are the hot path: they are collected and inserted
    with one executemany each when the batch ends, instead of one round trip per row.
    """

    def __init__(
        self, conn: Any, log_size: int, postgres: bool, version: int | None = None
    ) -> None:
        self.conn = conn
        self.log_size = log_size
        self.postgres = postgres
        # The log head's version read at the start (PostgreSQL), until the batch locks the row;
        # None once it holds the lock (and always on SQLite, whose writer holds the database).
        self.version = version
        self.log_rows: list[dict[str, Any]] = []
        self.envelope_rows: list[dict[str, Any]] = []
        self.delivery_rows: list[dict[str, Any]] = []
        self.envelopes: dict[str, EnvelopeRecord] = {}
        self.counters: dict[str, int] = {}
        self.cursors: dict[str, dict[str, int]] = {}
        # Read ahead for the batch's sends (PostgreSQL): (message id, sender) -> the row of
        # _SEND_CHECKS_PG (message id, sender, then as _SEND_PRECHECK_PG's); the devices
        # revoked then; and those revoked by this batch's jobs since.
        self.send_checks: dict[tuple[str, str], Any] = {}
        self.checked_revoked: frozenset[str] = frozenset()
        self.revoked_now: set[str] = set()
        self._driver: Any = None

    async def driver(self) -> Any:
        """PostgreSQL: the asyncpg connection under `conn`, inside the batch's transaction
        (hot statements only; the rest goes through SQLAlchemy on the same connection)."""
        if self._driver is None:
            raw = await self.conn.get_raw_connection()
            self._driver = raw.driver_connection
        return self._driver

    @property
    def locked(self) -> bool:
        return self.version is None

    async def lock(self) -> None:
        """Lock the log head before the batch's first write: if no batch committed since this
        one read it (its version unchanged), else raise _Conflict. A row locked before the log
        head could deadlock with a batch that holds the head and wants that row."""
        if self.version is None:
            return
        size = await (await self.driver()).fetchval(_LOCK_HEAD_PG, self.version)
        if size is None:
            raise _Conflict()
        self.version = None

    def merge(self, tx: TxCore) -> None:
        self.log_size = tx.log_size
        self.log_rows += tx.log_rows
        self.envelope_rows += tx.envelope_rows
        self.delivery_rows += tx.delivery_rows
        self.envelopes.update(tx.envelopes)
        for sender, counter in tx.counters.items():
            self.counters[sender] = max(counter, self.counters.get(sender, counter))

    async def read_send_checks(self, checks: list[SendCheck]) -> None:
        """Every send check of the batch in one statement (PostgreSQL)."""
        devices = sorted({d for c in checks for d in c.devices})
        rows = await (await self.driver()).fetch(
            _SEND_CHECKS_PG,
            [c.message_id for c in checks],
            [c.sender_device for c in checks],
            devices,
        )
        for row in rows:  # keyed by what each row names: a join keeps no order
            self.send_checks[(row[0], row[1])] = row
        if rows:
            self.checked_revoked = frozenset(rows[0][7])

    async def flush(self) -> None:
        if isinstance(self.conn, SyncConnection):
            self._flush_sqlite(self.conn)
            return
        if not (self.log_rows or self.envelope_rows or self.delivery_rows):
            return
        logs, envs, dels = self.log_rows, self.envelope_rows, self.delivery_rows
        driver = await self.driver()
        arrays = (
            [r["idx"] for r in logs],
            [r["data"] for r in logs],
            [r["leaf_hash"] for r in logs],
            [r["created_at"] for r in logs],
            [r["message_id"] for r in envs],
            [r["envelope_hash"] for r in envs],
            [r["sender_device"] for r in envs],
            [r["counter"] for r in envs],
            [r["envelope"] for r in envs],
            [r["size"] for r in envs],
            [r["log_index"] for r in envs],
            [r["received_at"] for r in envs],
            [r["message_id"] for r in dels],
            [r["device_id"] for r in dels],
            [r["received_at"] for r in dels],
        )
        if self.locked:
            rows = await driver.fetch(_FLUSH_PG, *arrays)
        else:
            try:
                rows = await driver.fetch(_FLUSH_LOCKING_PG, *arrays, self.version)
            except Exception as exc:
                # Another batch took the same log positions (or an envelope of the same id)
                # while this one was not locked: run again holding the lock, which tells a
                # true duplicate from a race.
                if getattr(exc, "sqlstate", None) in _RACE_STATES:
                    raise _Conflict() from exc
                raise
            if not any(cursor == -1 for cursor, _, _ in rows):
                raise _Conflict()
            self.version = None
        for cursor, message_id, device_id in rows:
            if cursor != -1:
                self.cursors.setdefault(message_id, {})[device_id] = int(cursor)

    def _flush_sqlite(self, conn: SyncConnection) -> None:
        # One writer holds the database: the next cursors are known without RETURNING.
        if self.log_rows:
            conn.raw_many(
                _INSERT_LOG_QMARK,
                [(r["idx"], r["data"], r["leaf_hash"], r["created_at"]) for r in self.log_rows],
            )
        if self.envelope_rows:
            conn.raw_many(
                _INSERT_ENVELOPES_QMARK,
                [
                    (
                        r["message_id"],
                        r["envelope_hash"],
                        r["sender_device"],
                        r["counter"],
                        r["envelope"],
                        r["size"],
                        r["log_index"],
                        r["received_at"],
                    )
                    for r in self.envelope_rows
                ],
            )
        if self.delivery_rows:
            last = conn.raw('SELECT max("cursor") FROM deliveries', ()).fetchone()[0] or 0
            rows = []
            for cursor, r in enumerate(self.delivery_rows, start=last + 1):
                rows.append((cursor, r["message_id"], r["device_id"], r["received_at"]))
                self.cursors.setdefault(r["message_id"], {})[r["device_id"]] = cursor
            conn.raw_many(_INSERT_DELIVERIES_QMARK, rows)


class SyncConnection:
    """A sync Connection behind AsyncConnection's awaitable `execute`.

    Its coroutines never suspend, so on SQLite a whole batch of jobs is driven to completion
    in one go on the event loop (GroupCommitWriter._sqlite_commit), where aiosqlite would cost
    a thread hop per statement.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor: Any = None

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if parameters is None:
            return self._conn.execute(statement)
        return self._conn.execute(statement, parameters)

    def _raw_cursor(self) -> Any:
        # The DB-API cursor of this very connection, so inside the same BEGIN IMMEDIATE
        # transaction; it skips SQLAlchemy's per-statement result set-up (hot path only).
        if self._cursor is None:
            self._cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        return self._cursor

    def raw(self, sql: str, parameters: Sequence[Any]) -> Any:
        """The sqlite3 driver directly, inside the same transaction (hot statements only)."""
        return self._raw_cursor().execute(sql, tuple(parameters))

    def raw_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._raw_cursor().executemany(sql, rows)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (see SyncConnection) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a write job awaited something other than the store")


class _Poisoned(Exception):
    """A job failed after writing: the batch is undone and its jobs rerun one by one."""


def _job_error(exc: Exception) -> BaseException:
    """The error to answer a failed job with (the job's own, for a job that had written)."""
    if isinstance(exc, _Poisoned) and exc.__cause__ is not None:
        return exc.__cause__
    if not isinstance(exc, _Poisoned):
        log.debug("write job failed", exc_info=exc)
    return exc


@dataclass
class TxCore:
    """One request's writes inside the writer's batch transaction: the state every area's
    writes share (liaison/store/repository.py adds them in `WriteTx`).

    A job that raises before writing leaves no trace; one that raises after an immediate
    write makes the store undo the whole batch and rerun each job alone, so a refused
    request never changes anything.
    """

    batch: Batch
    log_size: int = 0
    dirty: bool = False
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    envelope_rows: list[dict[str, Any]] = field(default_factory=list)
    delivery_rows: list[dict[str, Any]] = field(default_factory=list)
    envelopes: dict[str, EnvelopeRecord] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    appended: list[LogEntryRecord] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_flush: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    announcements: list[tuple[str, Callable[[], list[Any]]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_size = self.batch.log_size

    @property
    def conn(self) -> Any:
        return self.batch.conn

    @property
    def postgres(self) -> bool:
        return self.batch.postgres

    async def execute_write(self, statement: Any) -> Any:
        """Run a statement that changes rows (a failure after it undoes the whole batch)."""
        await self.will_write()
        return await self.conn.execute(statement)

    async def will_write(self) -> None:
        """Before a statement that changes rows: lock the log head (Batch.lock), and mark the
        job so that a failure after the statement undoes the whole batch."""
        await self.batch.lock()
        self.dirty = True

    # log
    async def append_log(self, data: bytes, leaf_hash: bytes, *, at: int) -> int:
        index = self.log_size
        self.log_rows.append({"idx": index, "data": data, "leaf_hash": leaf_hash, "created_at": at})
        self.log_size += 1
        self.appended.append(LogEntryRecord(index, data, leaf_hash))
        return index

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the batch is durably committed (never if this job fails)."""
        self.after_commit.append(callback)

    def on_flush(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` inside the transaction once the deferred rows are inserted."""
        self.after_flush.append(callback)

    def cursors(self, message_id: str) -> dict[str, int]:
        """Delivery cursors of `message_id` (known once the batch is flushed)."""
        return self.batch.cursors.get(message_id, {})

    def announce(self, channel: str, items: Callable[[], list[Any]]) -> None:
        """On PostgreSQL, NOTIFY `channel` of `items()` (evaluated once the batch's rows exist).

        Every job's items are sent together, a few NOTIFYs per batch, delivered to every
        listening process when the batch commits. SQLite (one process) ignores this.
        """
        if self.postgres:
            self.announcements.append((channel, items))


Job = Callable[[Tx], Awaitable[T]]
CommitListener = Callable[[list[LogEntryRecord]], None]


@dataclass
class _Pending:
    job: Job[Any, Any]
    future: asyncio.Future[Any]
    send_check: SendCheck | None = None


_Outcome = tuple[_Pending, "TxCore | None", Any, "BaseException | None"]


@dataclass(frozen=True)
class WriterBacklog:
    """How far behind the writer is (the readiness check, /v1/health): the writes waiting for
    their commit, how long the oldest has waited, and whether the writer still runs."""

    waiting: int
    oldest_wait: float  # seconds; 0.0 when nothing waits
    running: bool


class GroupCommitWriter(Generic[Tx]):
    """The one writer of a store: `start(engine)`, `write(job)`, `stop()`.

    `new_tx` makes the transaction object each job gets (the store's `WriteTx`).
    """

    def __init__(
        self, new_tx: Callable[[Batch], Tx], *, postgres: bool, gather_turns: int = GATHER_TURNS
    ) -> None:
        self._new_tx = new_tx
        self.postgres = postgres
        self.gather_turns = gather_turns
        self.engine: AsyncEngine | Engine | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[CommitListener] = []
        # Told of each committed batch: (writes, seconds of the whole batch, seconds of its
        # COMMIT alone); the relay's metrics (liaison/server/metrics.py) set it.
        self.on_batch: Callable[[int, float, float], None] | None = None
        # SQLite: the writer's one connection, the thread its COMMITs run in, and the thread
        # that checkpoints its write-ahead log.
        self._sqlite: Connection | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._checkpointer: WalCheckpointer | None = None
        # Writes not yet answered, by arrival, with their monotonic arrival time (backlog()).
        self._waiting: dict[int, float] = {}
        self._arrivals = itertools.count()
        # Batches run again holding the lock because another process committed first, and how
        # many batches still lock from their start since the last one (LOCKED_AFTER_CONFLICT).
        self.conflicts = 0
        self._locked_batches = 0

    def start(self, engine: AsyncEngine | Engine) -> None:
        self.engine = engine
        if isinstance(engine, Engine):
            self._sqlite = engine.connect()
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="liaison-sqlite-commit")
            self._checkpointer = WalCheckpointer(engine)
            self._checkpointer.start()
        self._task = asyncio.create_task(self._write_loop(), name="liaison-store-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._committer is not None:
            self._committer.shutdown(wait=True)
            self._committer = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if isinstance(self.engine, AsyncEngine):
            await self.engine.dispose()
        elif self.engine is not None:
            self.engine.dispose()
        self.engine = None

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after each committed batch with the log entries it appended, in order."""
        self._listeners.append(listener)

    async def write(self, job: Job[Tx, T], *, send_check: SendCheck | None = None) -> T:
        """Run `job` in the next group commit; answer once it is durable.

        Jobs queued together share one transaction (one fsync). A job that fails before
        writing changes nothing while its neighbours commit; one that fails after writing
        undoes the batch, whose jobs then rerun one by one.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future, send_check))
        arrival = next(self._arrivals)
        self._waiting[arrival] = time.monotonic()
        try:
            return await future
        finally:
            del self._waiting[arrival]

    def backlog(self) -> WriterBacklog:
        """The writes waiting for their commit (queued or in the batch being committed)."""
        oldest = next(iter(self._waiting.values()), None)
        return WriterBacklog(
            waiting=len(self._waiting),
            oldest_wait=0.0 if oldest is None else max(0.0, time.monotonic() - oldest),
            running=self._task is not None and not self._task.done(),
        )

    async def _gather(self) -> list[_Pending]:
        """The next batch: the first queued write, and those that follow it closely.

        While the queue keeps growing from one turn of the event loop to the next (requests
        already received are being parsed), wait up to `gather_turns` turns: a few turns
        cost microseconds, and a larger batch shares one commit and one fsync.
        """
        batch = [await self._queue.get()]
        for _ in range(self.gather_turns):
            waiting = self._queue.qsize()
            await asyncio.sleep(0)
            if self._queue.qsize() == waiting:
                break
        while len(batch) < MAX_BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write_loop(self) -> None:
        while True:
            batch = await self._gather()
            if len(batch) > 1:
                try:
                    await self._commit_once(batch)
                    continue
                except Exception:
                    # Undone: rerun each job alone so that only the faulty one fails.
                    log.debug("group commit undone; rerunning its jobs one by one", exc_info=True)
            for pending in batch:
                try:
                    await self._commit_once([pending])
                except Exception as exc:
                    self._finish([(pending, None, None, _job_error(exc))])

    async def _commit_once(self, batch: list[_Pending]) -> None:
        """The batch, first without the lock while its jobs run, then (if another process
        committed meanwhile) again holding it from the start."""
        optimistic = self.postgres and self._locked_batches == 0
        self._locked_batches = max(0, self._locked_batches - 1)
        try:
            await self._commit(batch, optimistic=optimistic)
        except _Conflict:
            self.conflicts += 1
            self._locked_batches = LOCKED_AFTER_CONFLICT
            await self._commit(batch, optimistic=False)

    async def _commit(self, batch: list[_Pending], *, optimistic: bool = False) -> None:
        started = time.perf_counter()
        if isinstance(self.engine, AsyncEngine):
            async with self.engine.begin() as conn:
                outcomes = await self._run_batch(conn, batch, optimistic)
                committing = time.perf_counter()  # the COMMIT runs as the block ends
        else:
            outcomes, committing = await self._sqlite_commit(batch)
        if self.on_batch is not None:
            ended = time.perf_counter()
            self.on_batch(len(batch), ended - started, ended - committing)
        self._finish(outcomes)

    async def _sqlite_commit(self, batch: list[_Pending]) -> tuple[list[_Outcome], float]:
        """The batch on SQLite: statements on the event loop, the COMMIT in a thread.

        The statements touch pages in memory, tens of microseconds each, and run where the
        requests were parsed: handing each batch's statements to a writer thread costs more
        than running them, because every sqlite3 call releases the GIL and the thread then
        waits for the busy loop to give it back. The COMMIT (the write-ahead log's write and
        fsync, about a millisecond) is the one hand-over per batch; meanwhile the loop goes
        on parsing the next batch's requests. bench/relay.py measured the designs (see
        docs/operations.md).

        The transaction is begun and ended on the sqlite3 connection itself: SQLAlchemy's
        transaction machinery costs about as much as a small batch's statements. Jobs that
        run SQLAlchemy statements join it (the begin listener sees it open), and their
        bookkeeping is closed after it.
        """
        conn, committer = self._sqlite, self._committer
        assert conn is not None and committer is not None
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        await self._sqlite_begin(dbapi, committer)
        try:
            outcomes = _drive(self._run_batch(SyncConnection(conn), batch))
            committing = time.perf_counter()
            commit = asyncio.get_running_loop().run_in_executor(committer, dbapi.execute, "COMMIT")
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                # Closing: let the COMMIT finish before anything else touches the connection
                # (an idempotent resend learns its outcome).
                await asyncio.wait([commit])
                raise
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
        finally:
            if conn.in_transaction():
                conn.rollback()  # SQLAlchemy's bookkeeping only: nothing is open any more
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return outcomes, committing

    async def _sqlite_begin(self, dbapi: sqlite3.Connection, committer: ThreadPoolExecutor) -> None:
        """BEGIN IMMEDIATE; if another process holds the write lock (`liaison db purge`, say),
        wait for it in the commit thread, as long as any connection waits, not on the loop."""
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        await self._wait_for_write_lock(dbapi, committer)

    @staticmethod
    async def _wait_for_write_lock(
        dbapi: sqlite3.Connection, committer: ThreadPoolExecutor
    ) -> None:
        """BEGIN IMMEDIATE in the commit thread, waiting up to the busy timeout for the lock."""

        def begin_waiting() -> None:
            dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            finally:
                dbapi.execute("PRAGMA busy_timeout=0")

        await asyncio.get_running_loop().run_in_executor(committer, begin_waiting)

    async def _run_batch(
        self, conn: Any, batch: list[_Pending], optimistic: bool = False
    ) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        if isinstance(conn, SyncConnection):
            start = int(conn.raw(_LOG_SIZE_QMARK, ()).fetchone()[0])
            state = Batch(conn, start, self.postgres)
        else:
            # The first statement through SQLAlchemy begins its transaction on the driver.
            # Only a batch of sends runs unlocked until its writes: a send's reads are its
            # checks (read ahead, below) and its rows are the batch's deferred ones, written
            # by the statement that locks the head (Batch.flush). Any other job may write
            # as it runs, so its batch locks the head first, as a write would.
            unlocked = optimistic and all(p.send_check is not None for p in batch)
            result = await conn.exec_driver_sql(_READ_HEAD_PG if unlocked else _LOCK_HEAD_NOW_PG)
            start, version = (int(v) for v in result.one())
            state = Batch(conn, start, self.postgres, version if unlocked else None)
            checks = [p.send_check for p in batch if p.send_check is not None]
            if len(checks) > 1:
                await state.read_send_checks(checks)
        for pending in batch:
            tx = self._new_tx(state)
            try:
                result = await pending.job(tx)
            except _Conflict:
                raise
            except Exception as exc:
                if tx.dirty:
                    raise _Poisoned() from exc
                outcomes.append((pending, None, None, exc))
                continue
            state.merge(tx)
            outcomes.append((pending, tx, result, None))
        await state.flush()
        # The Merkle tiles the batch completed, in its transaction (liaison/store/tiles.py).
        await write_tiles(state, start, state.log_size)
        channels: dict[str, list[Any]] = {}
        for _, tx, _, _ in outcomes:
            if tx is not None:
                for hook in tx.after_flush:
                    await hook()
                for channel, items in tx.announcements:
                    channels.setdefault(channel, []).extend(items())
        if isinstance(conn, SyncConnection):
            if state.log_size != start:
                conn.raw(_SET_LOG_SIZE_QMARK, (state.log_size,))
            return outcomes
        names: list[str] = []
        payloads: list[str] = []
        for channel, items in channels.items():
            for i in range(0, len(items), NOTIFY_CHUNK):
                names.append(channel)
                payloads.append(json.dumps(items[i : i + NOTIFY_CHUNK], separators=(",", ":")))
        if state.log_size != start or names:
            await state.lock()
            await (await state.driver()).execute(_FINISH_PG, state.log_size, names, payloads)
        return outcomes

    def _finish(self, outcomes: list[_Outcome]) -> None:
        appended = [entry for _, tx, _, _ in outcomes if tx is not None for entry in tx.appended]
        if appended:
            for listener in self._listeners:
                listener(appended)
        for pending, tx, result, error in outcomes:
            if tx is not None:
                for callback in tx.after_commit:
                    try:
                        callback()
                    except Exception:
                        log.exception("after-commit callback failed")
            if pending.future.done():
                continue
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(result)
