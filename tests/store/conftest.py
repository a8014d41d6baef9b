"""A migrated store on SQLite (a file in tmp_path) or in a fresh PostgreSQL schema."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from liaison.store import Store, database_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with Store(database_url(tmp_path)) as opened:
            yield opened
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = Store(
            database_url(tmp_path, url), connect_args={"server_settings": {"search_path": schema}}
        )
        async with store:
            yield store
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
