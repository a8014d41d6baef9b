"""The relay's database as the operator's commands reach it: its URL, its schema, its upgrade.

The command line goes through here rather than into `liaison.store` (the store is the relay's:
import-linter's contract in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

from liaison.server.backup import BackupError, backup_relay, restore_relay
from liaison.store.engine import (
    asyncpg_dsn,
    current_revision,
    database_url,
    is_sqlite,
    schema_connect_args,
    upgrade,
)

__all__ = [
    "BackupError",
    "backup_relay",
    "database_url",
    "is_sqlite",
    "restore_relay",
    "schema_exists",
    "upgrade_database",
]


async def schema_exists(url: str, schema: str) -> bool:
    """Whether PostgreSQL schema `schema` exists (the relay never creates one: that takes a
    privilege its role need not have)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))
    finally:
        await conn.close()


async def upgrade_database(data_dir: Path, db: str | None, schema: str | None) -> str | None:
    """Migrate the relay's tables to the newest revision; answers that revision."""
    from sqlalchemy.ext.asyncio import create_async_engine

    url = database_url(data_dir, db)
    engine = create_async_engine(url, connect_args=schema_connect_args(url, schema))
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()
