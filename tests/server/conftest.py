"""Fixtures: a real relay on loopback over SQLite or PostgreSQL, and an OpenAPI-checking client."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from liaison.server.app import Settings, create_app
from tests.server.factory import NOW
from tests.server.relay_api import Api

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str | None, str | None]]:
    """(database URL, schema): SQLite in the data folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None, None
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url, schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, database: tuple[str | None, str | None], clock: Clock) -> Settings:
    url, schema = database
    return Settings(data_dir=tmp_path / "data", database_url=url, db_schema=schema, clock=clock)


@pytest.fixture
async def relay(aiohttp_client: Callable[..., Any], settings: Settings) -> Any:
    """(Api, aiohttp application) of a started relay."""
    shown: list[str] = []  # the admin token, shown once: the data folder keeps its hash
    app = create_app(replace(settings, announce_admin_token=shown.append))
    client = await aiohttp_client(app)
    return Api(client, shown[0]), app


@pytest.fixture
def api(relay: tuple[Api, Any]) -> Api:
    return relay[0]
