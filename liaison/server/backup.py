"""`liaison db backup` and `liaison db restore`: the relay's database, keys and blobs in one file.

The backup is an uncompressed tar (its contents are ciphertext and keys: compression gains
little), written as OUT.partial with mode 0600 and renamed when complete:

    manifest.json                 format, database kind, schema revision, rows per table, log size
    data/log-signing.key, data/admin.token.blake2b, data/server.json   the relay's identity
    database/liaison.db           SQLite: a copy by the online backup API
    database/<table>.copy         PostgreSQL: each table in COPY text format, all from one
                                  REPEATABLE READ READ ONLY snapshot
    blobs/<xx>/<blob id>          the complete attachment blobs (open uploads are not kept)

The database is copied first, the blobs after it: blobs are immutable and complete before any
envelope refers to them, so every blob the copied database names is in the backup.

Restore refuses a target that already holds a relay (keys in the data folder or tables in the
database) unless `force`; it then builds the schema up to the backup's revision, loads the rows,
and migrates to the newest revision.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from liaison.i18n import _
from liaison.server.blobs import BLOBS_DIR
from liaison.server.identity import ADMIN_TOKEN_HASH_FILE, SERVER_FILE, SIGNING_KEY_FILE
from liaison.store.engine import (
    asyncpg_dsn,
    current_revision,
    database_url,
    is_sqlite,
    schema_connect_args,
    upgrade,
)

FORMAT = "liaison-backup"
VERSION = 1
MANIFEST = "manifest.json"
IDENTITY_FILES = (SIGNING_KEY_FILE, ADMIN_TOKEN_HASH_FILE, SERVER_FILE)
SQLITE_MEMBER = "database/liaison.db"
# Tables migrations own: restored by migrating to the backup's revision, not copied.
NOT_COPIED = {"alembic_version"}

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore refused: a translated message and a code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _quiet(_line: str) -> None:
    pass


# --- backup ------------------------------------------------------------------------------------
async def backup_relay(
    data_dir: Path,
    db: str | None,
    schema: str | None,
    out: Path,
    *,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Write the relay's backup to `out`; answers its manifest."""
    data_dir = Path(data_dir)
    out = Path(out)
    if not (data_dir / SIGNING_KEY_FILE).is_file():
        raise BackupError(
            _("{folder} holds no relay (no {file}).").format(
                folder=data_dir, file=SIGNING_KEY_FILE
            ),
            "no_relay",
        )
    if out.exists():
        raise BackupError(
            _("{path} already exists; choose a new file name.").format(path=out), "file_exists"
        )
    url = database_url(data_dir, db)
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="liaison-backup-") as work:
        workdir = Path(work)
        (workdir / "database").mkdir()
        if is_sqlite(url):
            manifest = await asyncio.to_thread(_sqlite_snapshot, url, workdir, progress)
        else:
            manifest = await _postgres_snapshot(url, schema, workdir, progress)
        manifest.update(format=FORMAT, version=VERSION, created=int(time.time()))
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
                for name in IDENTITY_FILES:
                    if (data_dir / name).is_file():
                        tar.add(data_dir / name, arcname=f"data/{name}")
                for path in sorted((workdir / "database").iterdir()):
                    tar.add(path, arcname=f"database/{path.name}")
                count, size = _add_blobs(tar, data_dir / BLOBS_DIR, progress)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, out)
    progress(_("Blobs: {count} files, {mib:.1f} MiB.").format(count=count, mib=size / 1048576))
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_blobs(tar: tarfile.TarFile, root: Path, progress: Progress) -> tuple[int, int]:
    count = size = 0
    if not root.is_dir():
        return 0, 0
    for prefix in sorted(root.iterdir()):
        if not prefix.is_dir() or prefix.name == "uploads":
            continue  # open uploads are resumable state, not kept: clients upload again
        for blob in sorted(prefix.iterdir()):
            try:
                tar.add(blob, arcname=f"blobs/{prefix.name}/{blob.name}")
            except FileNotFoundError:
                continue  # expired since the database copy: no copied row names it any more
            count += 1
            size += blob.stat().st_size if blob.exists() else 0
            if count % 1000 == 0:
                progress(_("Blobs: {count} files so far…").format(count=count))
    return count, size


def _sqlite_snapshot(url: str, workdir: Path, progress: Progress) -> dict[str, Any]:
    source_path = make_url(url).database
    if not source_path or not Path(source_path).is_file():
        raise BackupError(_("No database at {path}.").format(path=source_path), "no_database")
    target = workdir / SQLITE_MEMBER
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        # The online backup API: a consistent copy while the relay keeps writing.
        source.backup(
            copy,
            pages=4096,
            progress=lambda _status, remaining, total: (
                progress(
                    _("Database: {done} of {total} pages copied.").format(
                        done=total - remaining, total=total
                    )
                )
                if total > 4096
                else None
            ),
        )
        copy.execute("PRAGMA journal_mode=DELETE")
        tables = [
            row[0]
            for row in copy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        rows = {
            t: copy.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in tables
        }
        revision = _sqlite_revision(copy)
    finally:
        copy.close()
        source.close()
    progress(
        _("Database copied: {tables} tables, {rows} rows.").format(
            tables=len(rows), rows=sum(rows.values())
        )
    )
    return {
        "database": "sqlite",
        "revision": revision,
        "tables": rows,
        "log_size": rows.get("log_entries", 0),
    }


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


_PG_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
_PG_FOREIGN_KEYS = """
SELECT child.relname, parent.relname
FROM pg_constraint c
JOIN pg_class child ON child.oid = c.conrelid
JOIN pg_class parent ON parent.oid = c.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace
WHERE c.contype = 'f' AND n.nspname = current_schema()
"""


async def _pg_connect(url: str, schema: str | None) -> Any:
    import asyncpg

    settings = schema_connect_args(url, schema).get("server_settings", {})
    return await asyncpg.connect(asyncpg_dsn(url), server_settings=settings)


def _dependency_order(tables: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Tables ordered so that each comes after the tables its foreign keys name."""
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in edges:
        if child in parents and parent in parents and child != parent:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, p in parents.items() if not p - set(ordered))
        if not ready:  # a cycle (none today): keep the rest in name order
            ready = sorted(parents)
        for table in ready:
            ordered.append(table)
            del parents[table]
    return ordered


async def _postgres_snapshot(
    url: str, schema: str | None, workdir: Path, progress: Progress
) -> dict[str, Any]:
    conn = await _pg_connect(url, schema)
    try:
        # One snapshot for every table: what the database held at one instant.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            tables = [r[0] for r in await conn.fetch(_PG_TABLES) if r[0] not in NOT_COPIED]
            edges = [(r[0], r[1]) for r in await conn.fetch(_PG_FOREIGN_KEYS)]
            revision = None
            if "alembic_version" in [r[0] for r in await conn.fetch(_PG_TABLES)]:
                revision = await conn.fetchval("SELECT version_num FROM alembic_version")
            rows: dict[str, int] = {}
            for table in tables:
                status = await conn.copy_from_table(
                    table, output=str(workdir / "database" / f"{table}.copy"), format="text"
                )
                rows[table] = int(status.split()[-1])
                progress(_("Table {table}: {rows} rows.").format(table=table, rows=rows[table]))
    finally:
        await conn.close()
    return {
        "database": "postgresql",
        "revision": revision,
        "tables": rows,
        "table_order": _dependency_order(tables, edges),
        "log_size": rows.get("log_entries", 0),
    }


# --- restore -----------------------------------------------------------------------------------
async def restore_relay(
    source: Path,
    data_dir: Path,
    db: str | None,
    schema: str | None,
    *,
    force: bool = False,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Restore the backup `source` into `data_dir` and its database; answers its manifest
    with `restored_revision`, the schema revision after migrating to the newest."""
    data_dir = Path(data_dir)
    url = database_url(data_dir, db)
    with tempfile.TemporaryDirectory(prefix="liaison-restore-") as work:
        workdir = Path(work)
        manifest = await asyncio.to_thread(_unpack, Path(source), workdir)
        wanted = "sqlite" if is_sqlite(url) else "postgresql"
        if manifest["database"] != wanted:
            raise BackupError(
                _("This backup is of a {kind} database; restore it into a {kind} database.").format(
                    kind=manifest["database"]
                ),
                "wrong_database",
            )
        if not force and _folder_holds_relay(data_dir):
            raise BackupError(
                _("{folder} already holds a relay; give --force to replace it.").format(
                    folder=data_dir
                ),
                "target_not_empty",
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        if wanted == "sqlite":
            await asyncio.to_thread(_sqlite_restore, url, workdir, force, progress)
        else:
            await _postgres_restore(url, schema, workdir, manifest, force, progress)
        _restore_files(workdir, data_dir, progress)
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, connect_args=schema_connect_args(url, schema))
    try:
        await upgrade(engine)
        manifest["restored_revision"] = await current_revision(engine)
    finally:
        await engine.dispose()
    return manifest


def _unpack(source: Path, workdir: Path) -> dict[str, Any]:
    try:
        with tarfile.open(source, mode="r") as tar:
            tar.extractall(workdir, filter="data")
        manifest = json.loads((workdir / MANIFEST).read_text("utf-8"))
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise BackupError(
            _("{path} is not a Liaison backup: {reason}").format(path=source, reason=exc),
            "not_a_backup",
        ) from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(
            _("{path} is not a Liaison backup this version can read.").format(path=source),
            "not_a_backup",
        )
    return manifest


def _folder_holds_relay(data_dir: Path) -> bool:
    if any((data_dir / name).exists() for name in IDENTITY_FILES):
        return True
    blobs = data_dir / BLOBS_DIR
    return blobs.is_dir() and any(p.is_dir() and any(p.iterdir()) for p in blobs.iterdir())


def _restore_files(workdir: Path, data_dir: Path, progress: Progress) -> None:
    for name in IDENTITY_FILES:
        src = workdir / "data" / name
        if not src.is_file():
            continue
        target = data_dir / name
        target.unlink(missing_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(src.read_bytes())
            os.fsync(fh.fileno())
    blobs = workdir / "blobs"
    count = 0
    if blobs.is_dir():
        for prefix in blobs.iterdir():
            (data_dir / BLOBS_DIR / prefix.name).mkdir(parents=True, exist_ok=True)
            for blob in prefix.iterdir():
                shutil.copy2(blob, data_dir / BLOBS_DIR / prefix.name / blob.name)
                count += 1
    progress(_("Keys and {count} blobs restored.").format(count=count))


def _sqlite_restore(url: str, workdir: Path, force: bool, progress: Progress) -> None:
    path = Path(make_url(url).database or "")
    if path.exists() and path.stat().st_size > 0 and not force:
        conn = sqlite3.connect(path)
        try:
            used = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
        finally:
            conn.close()
        if used:
            raise BackupError(
                _("The database {name} already holds tables; give --force to replace it.").format(
                    name=path
                ),
                "target_not_empty",
            )
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(workdir / SQLITE_MEMBER)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    progress(_("Database restored."))


async def _postgres_restore(
    url: str,
    schema: str | None,
    workdir: Path,
    manifest: dict[str, Any],
    force: bool,
    progress: Progress,
) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    order: list[str] = manifest.get("table_order") or sorted(manifest["tables"])
    conn = await _pg_connect(url, schema)
    try:
        present = {r[0] for r in await conn.fetch(_PG_TABLES)}
        # The backup's tables and those of the newest schema (a target migrated further).
        from liaison.store.tables import metadata

        relay_tables = present & (set(order) | NOT_COPIED | set(metadata.tables))
        if relay_tables and not force:
            raise BackupError(
                _("The database already holds the relay's tables; give --force to replace them."),
                "target_not_empty",
            )
        async with conn.transaction():
            for table in sorted(relay_tables):
                await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    finally:
        await conn.close()
    # The schema as it was when the backup was taken, then its rows, then the newest schema.
    if manifest.get("revision"):
        engine = create_async_engine(url, connect_args=schema_connect_args(url, schema))
        try:
            await upgrade(engine, manifest["revision"])
        finally:
            await engine.dispose()
    conn = await _pg_connect(url, schema)
    try:
        async with conn.transaction():
            # Rows the migrations seeded (e.g. log_head) give way to the backup's.
            await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in order))
            for table in order:
                await conn.copy_to_table(
                    table, source=str(workdir / "database" / f"{table}.copy"), format="text"
                )
                progress(
                    _("Table {table}: {rows} rows.").format(
                        table=table, rows=manifest["tables"][table]
                    )
                )
            # Sequences continue after the restored rows.
            for table in order:
                columns = await conn.fetch(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = $1",
                    table,
                )
                for (column,) in columns:
                    sequence = await conn.fetchval(
                        "SELECT pg_get_serial_sequence(quote_ident($1), $2)", table, column
                    )
                    if sequence:
                        # Names from the catalogue, not from input.
                        query = f'SELECT setval($1, COALESCE(max("{column}"), 0) + 1, false) FROM "{table}"'  # noqa: S608, E501
                        await conn.execute(query, sequence)
    finally:
        await conn.close()
