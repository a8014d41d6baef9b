"""Repository of the relay: pooled reads; every write through the group-commit writer."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from liaison.store.engine import (
    BUSY_TIMEOUT_MS,
    WalCheckpointer,
    create_engines,
    is_sqlite,
    upgrade,
)
from liaison.store.records import (
    AgencyRecord,
    ChallengeRecord,
    DeliveryRecord,
    DeviceRecord,
    EnvelopeRecord,
    LogEntryRecord,
    ReviewStatementRecord,
    TokenRecord,
)
from liaison.store.tables import (
    agencies,
    auth_challenges,
    auth_tokens,
    certificates,
    deliveries,
    envelopes,
    log_entries,
    log_head,
    review_statements,
    revocations,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BATCH = 256
GATHER_TURNS = 4  # event-loop turns a batch may wait for more writes (Store._gather)
NOTIFY_CHUNK = 40  # items per NOTIFY: far below PostgreSQL's 8000-byte payload limit


# --- named query helpers, shared by reads and by write transactions -------------------------


async def _agency(conn: AsyncConnection, code: str) -> AgencyRecord | None:
    row = (await conn.execute(select(agencies).where(agencies.c.code == code))).first()
    if row is None:
        return None
    statements = await _review_statement_bytes(conn, [code])
    return _agency_record(row, statements.get(code, ()))


async def _review_statement_bytes(
    conn: AsyncConnection, codes: Sequence[str] | None
) -> dict[str, tuple[bytes, ...]]:
    query = select(review_statements.c.agency, review_statements.c.statement).order_by(
        review_statements.c.log_index
    )
    if codes is not None:
        query = query.where(review_statements.c.agency.in_(codes))
    result: dict[str, list[bytes]] = {}
    for agency, statement in await conn.execute(query):
        result.setdefault(agency, []).append(bytes(statement))
    return {code: tuple(items) for code, items in result.items()}


def _agency_record(row: Any, statements: tuple[bytes, ...]) -> AgencyRecord:
    return AgencyRecord(
        code=row.code,
        country=row.country,
        name_vi=row.name_vi,
        name_zh=row.name_zh,
        root_key=bytes(row.root_key),
        log_index=row.log_index,
        review_statements=statements,
    )


_device_columns = (
    certificates,
    revocations.c.revocation,
    revocations.c.log_index.label("revocation_log_index"),
)


def _device_query():  # type: ignore[no-untyped-def]
    return select(*_device_columns).select_from(
        certificates.outerjoin(revocations, revocations.c.device_id == certificates.c.device_id)
    )


def _device_record(row: Any) -> DeviceRecord:
    return DeviceRecord(
        device_id=row.device_id,
        agency=row.agency,
        certificate=bytes(row.certificate),
        cert_hash=bytes(row.cert_hash),
        signing_key=bytes(row.signing_key),
        encryption_key=bytes(row.encryption_key),
        not_before=row.not_before,
        not_after=row.not_after,
        log_index=row.log_index,
        revocation=None if row.revocation is None else bytes(row.revocation),
        revocation_log_index=row.revocation_log_index,
    )


async def _device(conn: AsyncConnection, device_id: str) -> DeviceRecord | None:
    row = (await conn.execute(_device_query().where(certificates.c.device_id == device_id))).first()
    return None if row is None else _device_record(row)


async def _devices(conn: AsyncConnection, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
    ids = list(device_ids)
    if not ids:
        return {}
    rows = await conn.execute(_device_query().where(certificates.c.device_id.in_(ids)))
    return {row.device_id: _device_record(row) for row in rows}


def _envelope_record(row: Any) -> EnvelopeRecord:
    return EnvelopeRecord(
        message_id=row.message_id,
        envelope_hash=bytes(row.envelope_hash),
        sender_device=row.sender_device,
        counter=row.counter,
        size=row.size,
        log_index=row.log_index,
        received_at=row.received_at,
    )


_envelope_meta = (
    envelopes.c.message_id,
    envelopes.c.envelope_hash,
    envelopes.c.sender_device,
    envelopes.c.counter,
    envelopes.c.size,
    envelopes.c.log_index,
    envelopes.c.received_at,
)


async def _envelope(conn: AsyncConnection, message_id: str) -> EnvelopeRecord | None:
    query = select(*_envelope_meta).where(envelopes.c.message_id == message_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _envelope_record(row)


def _delivery_query():  # type: ignore[no-untyped-def]
    return select(
        deliveries.c.cursor,
        deliveries.c.message_id,
        deliveries.c.device_id,
        deliveries.c.acknowledged_at,
        deliveries.c.ack_log_index,
        envelopes.c.envelope,
        envelopes.c.log_index,
        envelopes.c.received_at,
    ).select_from(deliveries.join(envelopes, envelopes.c.message_id == deliveries.c.message_id))


def _delivery_record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        cursor=row.cursor,
        message_id=row.message_id,
        device_id=row.device_id,
        envelope=bytes(row.envelope),
        log_index=row.log_index,
        received_at=row.received_at,
        acknowledged=row.acknowledged_at is not None,
        ack_log_index=row.ack_log_index,
    )


async def _delivery(
    conn: AsyncConnection, device_id: str, message_id: str
) -> DeliveryRecord | None:
    query = _delivery_query().where(
        and_(deliveries.c.device_id == device_id, deliveries.c.message_id == message_id)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _delivery_record(row)


# --- write side --------------------------------------------------------------------------


@dataclass(frozen=True)
class SendPrecheck:
    """What a send must know, read in one statement inside the writer's transaction."""

    existing: EnvelopeRecord | None
    last_counter: int | None
    revoked: frozenset[str]


# Built once: constructing SQLAlchemy statements per call costs more than running them.
_SEND_PRECHECK = text(
    "SELECT"
    " (SELECT envelope_hash FROM envelopes WHERE message_id = :m),"
    " (SELECT log_index FROM envelopes WHERE message_id = :m),"
    " (SELECT received_at FROM envelopes WHERE message_id = :m),"
    " (SELECT counter FROM envelopes WHERE message_id = :m),"
    " (SELECT max(counter) FROM envelopes WHERE sender_device = :s),"
    " (SELECT count(*) FROM revocations WHERE device_id IN :devices)"
).bindparams(bindparam("devices", expanding=True))
# The same for the SQLite writer, on the sqlite3 driver directly (hot path).
_SEND_PRECHECK_QMARK = (
    "SELECT"
    " (SELECT envelope_hash FROM envelopes WHERE message_id = ?),"
    " (SELECT log_index FROM envelopes WHERE message_id = ?),"
    " (SELECT received_at FROM envelopes WHERE message_id = ?),"
    " (SELECT counter FROM envelopes WHERE message_id = ?),"
    " (SELECT max(counter) FROM envelopes WHERE sender_device = ?),"
    " (SELECT count(*) FROM revocations WHERE device_id IN ({marks}))"
)
_INSERT_LOG_QMARK = "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES (?, ?, ?, ?)"
_INSERT_ENVELOPES_QMARK = (
    "INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,"
    " log_index, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DELIVERIES_QMARK = (
    'INSERT INTO deliveries ("cursor", message_id, device_id) VALUES (?, ?, ?)'
)
_LOG_SIZE_QMARK = "SELECT size FROM log_head WHERE id = 1"
_SET_LOG_SIZE_QMARK = "UPDATE log_head SET size = ? WHERE id = 1"
_INSERT_LOG = insert(log_entries)
_INSERT_ENVELOPES = insert(envelopes)
_INSERT_DELIVERIES = insert(deliveries).returning(
    deliveries.c.cursor,
    deliveries.c.message_id,
    deliveries.c.device_id,
    sort_by_parameter_order=True,
)
_LOG_SIZE_FOR_UPDATE = select(log_head.c.size).where(log_head.c.id == 1).with_for_update()
_SET_LOG_SIZE = update(log_head).where(log_head.c.id == 1).values(size=bindparam("new_size"))


class _Batch:
    """State shared by the jobs of one group commit: the log size and the deferred rows.

    Log entries, envelopes and deliveries are the hot path: they are collected and inserted
    with one executemany each when the batch ends, instead of one round trip per row.
    """

    def __init__(self, conn: Any, log_size: int, postgres: bool) -> None:
        self.conn = conn
        self.log_size = log_size
        self.postgres = postgres
        self.log_rows: list[dict[str, Any]] = []
        self.envelope_rows: list[dict[str, Any]] = []
        self.delivery_rows: list[dict[str, Any]] = []
        self.envelopes: dict[str, EnvelopeRecord] = {}
        self.counters: dict[str, int] = {}
        self.cursors: dict[str, dict[str, int]] = {}

    def merge(self, tx: WriteTx) -> None:
        self.log_size = tx.log_size
        self.log_rows += tx.log_rows
        self.envelope_rows += tx.envelope_rows
        self.delivery_rows += tx.delivery_rows
        self.envelopes.update(tx.envelopes)
        for sender, counter in tx.counters.items():
            self.counters[sender] = max(counter, self.counters.get(sender, counter))

    async def flush(self) -> None:
        if isinstance(self.conn, _SyncConn):
            self._flush_sqlite(self.conn)
            return
        if self.log_rows:
            await self.conn.execute(_INSERT_LOG, self.log_rows)
        if self.envelope_rows:
            await self.conn.execute(_INSERT_ENVELOPES, self.envelope_rows)
        if self.delivery_rows:
            result = await self.conn.execute(_INSERT_DELIVERIES, self.delivery_rows)
            for cursor, message_id, device_id in result:
                self.cursors.setdefault(message_id, {})[device_id] = int(cursor)

    def _flush_sqlite(self, conn: _SyncConn) -> None:
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
                rows.append((cursor, r["message_id"], r["device_id"]))
                self.cursors.setdefault(r["message_id"], {})[r["device_id"]] = cursor
            conn.raw_many(_INSERT_DELIVERIES_QMARK, rows)


class _SyncConn:
    """A sync Connection behind AsyncConnection's awaitable `execute`.

    Its coroutines never suspend, so on SQLite a whole batch of jobs is driven to completion
    in one go on the event loop (Store._sqlite_commit), where aiosqlite would cost a thread hop
    per statement.
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
    """Run a coroutine that never suspends (see _SyncConn) to its result."""
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
class WriteTx:
    """One request's writes inside the writer's batch transaction.

    A job that raises before writing leaves no trace; one that raises after an immediate
    write makes the store undo the whole batch and rerun each job alone, so a refused
    request never changes anything.
    """

    batch: _Batch
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
        self.dirty = True
        return await self.conn.execute(statement)

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

    # directory
    async def agency(self, code: str) -> AgencyRecord | None:
        return await _agency(self.conn, code)

    async def insert_agency(
        self,
        *,
        code: str,
        country: str,
        name_vi: str,
        name_zh: str,
        root_key: bytes,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(agencies).values(
                code=code,
                country=country,
                name_vi=name_vi,
                name_zh=name_zh,
                root_key=root_key,
                log_index=log_index,
                created_at=at,
            )
        )

    async def review_statement_by_hash(self, statement_hash: bytes) -> ReviewStatementRecord | None:
        query = select(review_statements).where(
            review_statements.c.statement_hash == statement_hash
        )
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return ReviewStatementRecord(
            row.agency, row.key_id, bytes(row.statement), bytes(row.statement_hash), row.log_index
        )

    async def insert_review_statement(
        self,
        *,
        agency: str,
        key_id: str,
        statement: bytes,
        statement_hash: bytes,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(review_statements).values(
                agency=agency,
                key_id=key_id,
                statement=statement,
                statement_hash=statement_hash,
                log_index=log_index,
                created_at=at,
            )
        )

    async def device(self, device_id: str) -> DeviceRecord | None:
        return await _device(self.conn, device_id)

    async def insert_certificate(
        self,
        *,
        device_id: str,
        agency: str,
        certificate: bytes,
        cert_hash: bytes,
        signing_key: bytes,
        encryption_key: bytes,
        not_before: int,
        not_after: int,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(certificates).values(
                device_id=device_id,
                agency=agency,
                certificate=certificate,
                cert_hash=cert_hash,
                signing_key=signing_key,
                encryption_key=encryption_key,
                not_before=not_before,
                not_after=not_after,
                log_index=log_index,
                created_at=at,
            )
        )

    async def insert_revocation(
        self, *, device_id: str, revocation: bytes, revocation_hash: bytes, log_index: int, at: int
    ) -> None:
        await self.execute_write(
            insert(revocations).values(
                device_id=device_id,
                revocation=revocation,
                revocation_hash=revocation_hash,
                log_index=log_index,
                created_at=at,
            )
        )

    # authentication
    async def insert_challenge(self, *, challenge: bytes, device_id: str, expires_at: int) -> None:
        await self.execute_write(
            insert(auth_challenges).values(
                challenge=challenge, device_id=device_id, expires_at=expires_at, used=0
            )
        )

    async def challenge(self, challenge: bytes) -> ChallengeRecord | None:
        query = select(auth_challenges).where(auth_challenges.c.challenge == challenge)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return ChallengeRecord(bytes(row.challenge), row.device_id, row.expires_at, bool(row.used))

    async def use_challenge(self, challenge: bytes) -> None:
        await self.execute_write(
            update(auth_challenges).where(auth_challenges.c.challenge == challenge).values(used=1)
        )

    async def insert_token(
        self, *, token_hash: bytes, device_id: str, expires_at: int, at: int
    ) -> None:
        await self.execute_write(
            insert(auth_tokens).values(
                token_hash=token_hash, device_id=device_id, expires_at=expires_at, created_at=at
            )
        )

    async def purge_expired(self, now: int) -> None:
        """Forget spent and stale challenges and tokens (they were never logged)."""
        await self.execute_write(delete(auth_challenges).where(auth_challenges.c.expires_at < now))
        await self.execute_write(delete(auth_tokens).where(auth_tokens.c.expires_at < now))

    # mailbox
    async def envelope(self, message_id: str) -> EnvelopeRecord | None:
        pending = self.envelopes.get(message_id) or self.batch.envelopes.get(message_id)
        return pending or await _envelope(self.conn, message_id)

    async def last_counter(self, sender_device: str) -> int | None:
        query = select(func.max(envelopes.c.counter)).where(
            envelopes.c.sender_device == sender_device
        )
        stored = (await self.conn.execute(query)).scalar()
        return self._with_pending_counter(sender_device, stored)

    def _with_pending_counter(self, sender: str, stored: int | None) -> int | None:
        known = [c for c in (stored, self.counters.get(sender), self.batch.counters.get(sender))]
        present = [c for c in known if c is not None]
        return max(present) if present else None

    async def send_precheck(
        self, *, message_id: str, sender_device: str, devices: Sequence[str]
    ) -> SendPrecheck:
        """Existing envelope of this id, the sender's last counter, which devices are revoked."""
        if isinstance(self.conn, _SyncConn):
            marks = ",".join("?" * len(devices))
            row = self.conn.raw(
                _SEND_PRECHECK_QMARK.format(marks=marks),
                (message_id,) * 4 + (sender_device, *devices),
            ).fetchone()
        else:
            params = {"m": message_id, "s": sender_device, "devices": list(devices)}
            row = (await self.conn.execute(_SEND_PRECHECK, params)).one()
        existing = self.envelopes.get(message_id) or self.batch.envelopes.get(message_id)
        if existing is None and row[0] is not None:
            existing = EnvelopeRecord(
                message_id, bytes(row[0]), sender_device, row[3], 0, row[1], row[2]
            )
        revoked: frozenset[str] = frozenset()
        if row[5]:
            found = await self.conn.execute(
                select(revocations.c.device_id).where(revocations.c.device_id.in_(list(devices)))
            )
            revoked = frozenset(device for (device,) in found)
        return SendPrecheck(existing, self._with_pending_counter(sender_device, row[4]), revoked)

    def insert_envelope(
        self,
        *,
        message_id: str,
        envelope_hash: bytes,
        sender_device: str,
        counter: int,
        envelope: bytes,
        log_index: int,
        received_at: int,
        recipients: Sequence[str],
    ) -> None:
        """Store the envelope once and queue one delivery per recipient (at the batch's end)."""
        self.envelope_rows.append(
            {
                "message_id": message_id,
                "envelope_hash": envelope_hash,
                "sender_device": sender_device,
                "counter": counter,
                "envelope": envelope,
                "size": len(envelope),
                "log_index": log_index,
                "received_at": received_at,
            }
        )
        self.delivery_rows += [
            {"message_id": message_id, "device_id": device_id} for device_id in recipients
        ]
        self.envelopes[message_id] = EnvelopeRecord(
            message_id, envelope_hash, sender_device, counter, len(envelope), log_index, received_at
        )
        self.counters[sender_device] = max(counter, self.counters.get(sender_device, counter))

    async def delivery(self, device_id: str, message_id: str) -> DeliveryRecord | None:
        return await _delivery(self.conn, device_id, message_id)

    async def acknowledge(
        self, *, device_id: str, message_id: str, log_index: int, at: int
    ) -> None:
        await self.execute_write(
            update(deliveries)
            .where(and_(deliveries.c.device_id == device_id, deliveries.c.message_id == message_id))
            .values(acknowledged_at=at, ack_log_index=log_index)
        )


Job = Callable[[WriteTx], Awaitable[T]]
CommitListener = Callable[[list[LogEntryRecord]], None]


@dataclass
class _Pending:
    job: Job[Any]
    future: asyncio.Future[Any]


_Outcome = tuple[_Pending, "WriteTx | None", Any, "BaseException | None"]


class Store:
    """The relay's storage. `open()` then `close()`; use as an async context manager."""

    def __init__(
        self,
        url: str,
        *,
        connect_args: dict[str, Any] | None = None,
        gather_turns: int = GATHER_TURNS,
    ) -> None:
        self.url = url
        self.postgres = not is_sqlite(url)
        self._connect_args = connect_args
        self.gather_turns = gather_turns
        self.writer: AsyncEngine | Engine | None = None
        self.reader: AsyncEngine | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[CommitListener] = []
        # SQLite: the writer's one connection, the thread its COMMITs run in, and the thread
        # that checkpoints its write-ahead log.
        self._sqlite: Connection | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._checkpointer: WalCheckpointer | None = None

    async def open(self, *, migrate: bool = True) -> None:
        self.writer, self.reader = create_engines(self.url, connect_args=self._connect_args)
        if migrate:
            await upgrade(self.reader)
        if isinstance(self.writer, Engine):
            self._sqlite = self.writer.connect()
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="liaison-sqlite-commit")
            self._checkpointer = WalCheckpointer(self.writer)
            self._checkpointer.start()
        self._task = asyncio.create_task(self._write_loop(), name="liaison-store-writer")

    async def close(self) -> None:
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
        if isinstance(self.writer, AsyncEngine):
            await self.writer.dispose()
        elif self.writer is not None:
            self.writer.dispose()
        if self.reader is not None:
            await self.reader.dispose()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after each committed batch with the log entries it appended, in order."""
        self._listeners.append(listener)

    # --- writes ---------------------------------------------------------------------------

    async def write(self, job: Job[T]) -> T:
        """Run `job` in the next group commit; answer once it is durable.

        Jobs queued together share one transaction (one fsync). A job that fails before
        writing changes nothing while its neighbours commit; one that fails after writing
        undoes the batch, whose jobs then rerun one by one.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        return await future

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
                    await self._commit(batch)
                    continue
                except Exception:
                    # Undone: rerun each job alone so that only the faulty one fails.
                    log.debug("group commit undone; rerunning its jobs one by one", exc_info=True)
            for pending in batch:
                try:
                    await self._commit([pending])
                except Exception as exc:
                    self._finish([(pending, None, None, _job_error(exc))])

    async def _commit(self, batch: list[_Pending]) -> None:
        if isinstance(self.writer, AsyncEngine):
            async with self.writer.begin() as conn:
                outcomes = await self._run_batch(conn, batch)
        else:
            outcomes = await self._sqlite_commit(batch)
        self._finish(outcomes)

    async def _sqlite_commit(self, batch: list[_Pending]) -> list[_Outcome]:
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
            outcomes = _drive(self._run_batch(_SyncConn(conn), batch))
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
        return outcomes

    @staticmethod
    async def _sqlite_begin(dbapi: sqlite3.Connection, committer: ThreadPoolExecutor) -> None:
        """BEGIN IMMEDIATE; if another process holds the write lock (`liaison db purge`, say),
        wait for it in the commit thread, as long as any connection waits, not on the loop."""
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise

        def begin_waiting() -> None:
            dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            finally:
                dbapi.execute("PRAGMA busy_timeout=0")

        await asyncio.get_running_loop().run_in_executor(committer, begin_waiting)

    async def _run_batch(self, conn: Any, batch: list[_Pending]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        if isinstance(conn, _SyncConn):
            start = int(conn.raw(_LOG_SIZE_QMARK, ()).fetchone()[0])
        else:
            start = int((await conn.execute(_LOG_SIZE_FOR_UPDATE)).scalar_one())
        state = _Batch(conn, start, self.postgres)
        for pending in batch:
            tx = WriteTx(state)
            try:
                result = await pending.job(tx)
            except Exception as exc:
                if tx.dirty:
                    raise _Poisoned() from exc
                outcomes.append((pending, None, None, exc))
                continue
            state.merge(tx)
            outcomes.append((pending, tx, result, None))
        await state.flush()
        channels: dict[str, list[Any]] = {}
        for _, tx, _, _ in outcomes:
            if tx is not None:
                for hook in tx.after_flush:
                    await hook()
                for channel, items in tx.announcements:
                    channels.setdefault(channel, []).extend(items())
        for channel, items in channels.items():
            for i in range(0, len(items), NOTIFY_CHUNK):
                payload = json.dumps(items[i : i + NOTIFY_CHUNK], separators=(",", ":"))
                await conn.execute(select(func.pg_notify(channel, payload)))
        if state.log_size != start:
            if isinstance(conn, _SyncConn):
                conn.raw(_SET_LOG_SIZE_QMARK, (state.log_size,))
            else:
                await conn.execute(_SET_LOG_SIZE, {"new_size": state.log_size})
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

    # --- reads ----------------------------------------------------------------------------

    def read_connection(self) -> Any:
        """A pooled read connection: `async with store.read_connection() as conn`."""
        assert self.reader is not None
        return self.reader.connect()

    async def agency(self, code: str) -> AgencyRecord | None:
        async with self.read_connection() as conn:
            return await _agency(conn, code)

    async def agencies(self) -> list[AgencyRecord]:
        async with self.read_connection() as conn:
            rows = (await conn.execute(select(agencies).order_by(agencies.c.code))).all()
            statements = await _review_statement_bytes(conn, None)
        return [_agency_record(row, statements.get(row.code, ())) for row in rows]

    async def device(self, device_id: str) -> DeviceRecord | None:
        async with self.read_connection() as conn:
            return await _device(conn, device_id)

    async def devices(self, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
        async with self.read_connection() as conn:
            return await _devices(conn, device_ids)

    async def agency_devices(self, agency: str) -> list[DeviceRecord]:
        query = _device_query().where(certificates.c.agency == agency)
        async with self.read_connection() as conn:
            rows = await conn.execute(query.order_by(certificates.c.device_id))
            return [_device_record(row) for row in rows]

    async def review_statements(self, agency: str) -> list[ReviewStatementRecord]:
        query = (
            select(review_statements)
            .where(review_statements.c.agency == agency)
            .order_by(review_statements.c.log_index)
        )
        async with self.read_connection() as conn:
            rows = await conn.execute(query)
            return [
                ReviewStatementRecord(
                    r.agency, r.key_id, bytes(r.statement), bytes(r.statement_hash), r.log_index
                )
                for r in rows
            ]

    async def token(self, token_hash: bytes) -> TokenRecord | None:
        query = (
            select(auth_tokens.c.device_id, auth_tokens.c.expires_at, revocations.c.device_id)
            .select_from(
                auth_tokens.outerjoin(
                    revocations, revocations.c.device_id == auth_tokens.c.device_id
                )
            )
            .where(auth_tokens.c.token_hash == token_hash)
        )
        async with self.read_connection() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TokenRecord(device_id=row[0], expires_at=row[1], device_revoked=row[2] is not None)

    async def envelope(self, message_id: str) -> EnvelopeRecord | None:
        async with self.read_connection() as conn:
            return await _envelope(conn, message_id)

    async def deliveries(
        self, device_id: str, *, after: int, limit: int, include_acknowledged: bool
    ) -> list[DeliveryRecord]:
        """The device's deliveries with cursor > `after`, oldest first, at most `limit`."""
        query = _delivery_query().where(
            and_(
                deliveries.c.device_id == device_id,
                deliveries.c.cursor > after,
                envelopes.c.purged_at.is_(None),  # retention deleted the ciphertext
            )
        )
        if not include_acknowledged:
            query = query.where(deliveries.c.acknowledged_at.is_(None))
        query = query.order_by(deliveries.c.cursor).limit(limit)
        async with self.read_connection() as conn:
            return [_delivery_record(row) for row in await conn.execute(query)]

    async def delivery(self, device_id: str, message_id: str) -> DeliveryRecord | None:
        async with self.read_connection() as conn:
            return await _delivery(conn, device_id, message_id)

    async def log_size(self) -> int:
        query = select(log_head.c.size).where(log_head.c.id == 1)
        async with self.read_connection() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def leaf_hashes(self, start: int, end: int | None = None) -> list[bytes]:
        """Leaf hashes of entries start ≤ index < end, in index order."""
        query = select(log_entries.c.leaf_hash).where(log_entries.c.idx >= start)
        if end is not None:
            query = query.where(log_entries.c.idx < end)
        async with self.read_connection() as conn:
            return [bytes(h) for (h,) in await conn.execute(query.order_by(log_entries.c.idx))]

    async def log_entries(self, start: int, end: int) -> list[LogEntryRecord]:
        query = (
            select(log_entries)
            .where(and_(log_entries.c.idx >= start, log_entries.c.idx < end))
            .order_by(log_entries.c.idx)
        )
        async with self.read_connection() as conn:
            return [
                LogEntryRecord(row.idx, bytes(row.data), bytes(row.leaf_hash))
                for row in await conn.execute(query)
            ]
