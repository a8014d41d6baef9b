"""Engine setup for SQLite (default, in the data folder) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)

# How long a connection waits for another one's lock before it gives up (SQLite).
BUSY_TIMEOUT_MS = 10_000

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILENAME = "liaison.db"


class DatabaseUrlError(ValueError):
    """A --db URL naming a database this server does not support."""

    code = "unsupported_database"


def database_url(data_dir: Path, db: str | None = None) -> str:
    """The SQLAlchemy async URL: `db` (postgresql://… or sqlite…) or SQLite in `data_dir`."""
    if not db:
        return f"sqlite+aiosqlite:///{(Path(data_dir) / SQLITE_FILENAME).resolve()}"
    url = make_url(db)
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if url.drivername in ("sqlite", "sqlite+aiosqlite"):
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database URL scheme: {url.drivername}")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def schema_connect_args(url: str, schema: str | None) -> dict[str, Any]:
    """Connection arguments that put the relay's tables in `schema` (PostgreSQL only)."""
    if schema and not is_sqlite(url):
        return {"server_settings": {"search_path": schema}}
    return {}


def asyncpg_dsn(url: str) -> str:
    """A PostgreSQL URL as asyncpg.connect takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_pragmas(engine: AsyncEngine | Engine, *, immediate: bool) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; take over BEGIN ourselves (the
    # SQLAlchemy-documented recipe). The writer begins IMMEDIATE so it holds the write lock
    # from the start; readers begin deferred and see a snapshot thanks to WAL.
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed (acknowledged) message survives power loss, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The writer begins on the event loop, so it must not wait there for another process's
        # write lock: it is told at once, and waits in its commit thread (Store._sqlite_begin).
        cursor.execute(f"PRAGMA busy_timeout={0 if immediate else BUSY_TIMEOUT_MS}")
        if immediate:
            # The writer never checkpoints: WalCheckpointer does, beside it.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(target, "begin")
    def _begin(connection: Connection) -> None:
        if immediate:
            dbapi = connection.connection.dbapi_connection
            if dbapi is not None and dbapi.in_transaction:
                return  # the store's writer began this transaction on the driver itself
        connection.exec_driver_sql(begin)


def create_engines(
    url: str, *, connect_args: dict[str, Any] | None = None
) -> tuple[AsyncEngine | Engine, AsyncEngine]:
    """(writer, reader) engines.

    On SQLite the writer is the standard sqlite3 driver with one connection, which the store's
    write loop uses on the event loop and hands to one thread for each COMMIT (see Store), where
    aiosqlite costs a thread hop per statement. Reads use aiosqlite.
    """
    args = dict(connect_args or {})
    if is_sqlite(url):
        sync_url = make_url(url).set(drivername="sqlite")
        writer: Engine = create_engine(
            sync_url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={**args, "check_same_thread": False},
        )
        reader = create_async_engine(url, pool_size=8, max_overflow=8, connect_args=args)
        _sqlite_pragmas(writer, immediate=True)
        _sqlite_pragmas(reader, immediate=False)
        return writer, reader
    # No JIT compilation: the relay's statements are short, but at ten million entries a time
    # range's cost estimate passes jit_above_cost and each review or audit page would spend
    # 10-15 ms compiling (bench/scale.py). The caller's server settings (search_path) stay.
    args["server_settings"] = {"jit": "off", **args.get("server_settings", {})}
    pg_writer = create_async_engine(url, pool_size=2, max_overflow=2, connect_args=args)
    reader = create_async_engine(url, pool_size=10, max_overflow=10, connect_args=args)
    return pg_writer, reader


class WalCheckpointer:
    """Checkpoints the SQLite write-ahead log from its own thread and connection.

    With SQLite's automatic checkpoints, the commit that takes the log past 1000 pages copies
    it into the database file and syncs that file inside the writer's serial section: a pause
    of several milliseconds, every second or so under load, for every write queued behind it.
    The writer's connection turns them off; this thread runs PASSIVE checkpoints beside it
    (SQLite lets one checkpoint run while one writer commits), at most every `interval`
    seconds while commits happen, with synchronous=FULL so the database file is synced before
    the log is reused. `stop` ends with a TRUNCATE checkpoint that empties the log.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.25) -> None:
        self.path = engine.url.database
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Commits the writer reported, and how many of them a completed checkpoint covers.
        self._progress = threading.Condition()
        self._commits = 0
        self._checkpointed = 0
        self._thread = threading.Thread(target=self._run, name="liaison-sqlite-checkpoint")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        """Called by the writer after each commit."""
        with self._progress:
            self._commits += 1
        self._wake.set()

    def wait_checkpointed(self, timeout: float) -> bool:
        """Block until a checkpoint has copied every commit reported so far into the database
        file (False after `timeout` seconds): what a caller waits on instead of polling."""
        with self._progress:
            target = self._commits
            return self._progress.wait_for(lambda: self._checkpointed >= target, timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _checkpoint(self, conn: sqlite3.Connection, mode: str) -> bool:
        """Run a checkpoint; whether it copied the whole log into the database file."""
        try:
            busy, log_frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:
            log.warning("SQLite %s checkpoint failed; the next one retries", mode, exc_info=True)
            return False
        return not busy and log_frames == copied

    def _run(self) -> None:
        if not self.path or self.path == ":memory:":
            return
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=FULL")
            while not self._stopping.is_set():
                self._wake.wait()
                self._stopping.wait(self.interval)  # let a few commits gather in the log
                self._wake.clear()
                if not self._stopping.is_set():
                    with self._progress:
                        covered = self._commits
                    if self._checkpoint(conn, "PASSIVE"):
                        with self._progress:
                            self._checkpointed = covered
                            self._progress.notify_all()
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Several relay processes may start together on one PostgreSQL database: one migrates at a time.
MIGRATION_LOCK_ID = 0x4C49414953  # "LIAIS"


def _upgrade_on(connection: Connection, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every pending Alembic migration up to `revision` (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on, revision)


def _current_on(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_on)
