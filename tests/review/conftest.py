"""Review fixtures: a relay on loopback in the test's loop, the demo's agencies and officers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from liaison.cli.demo.tour import DemoContext, run_steps, steps_until
from liaison.client.transport import ApiClient
from liaison.server.app import Settings, create_app
from tests.review.review_world import World


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, aiohttp_server: Callable[..., Awaitable[Any]], tmp_path: Path
) -> AsyncIterator[World]:
    """SQLite by default; `@pytest.mark.parametrize("world", ["postgres"], indirect=True)` runs
    the relay on a fresh PostgreSQL schema instead."""
    url = schema = None
    if getattr(request, "param", "sqlite") == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(url)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
    try:
        async for world in _world(aiohttp_server, tmp_path, url, schema):
            yield world
    finally:
        if schema is not None:
            conn = await asyncpg.connect(url)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()


async def _world(
    aiohttp_server: Callable[..., Awaitable[Any]],
    tmp_path: Path,
    database_url: str | None,
    schema: str | None,
) -> AsyncIterator[World]:
    tokens: list[str] = []
    data_dir = tmp_path / "relay"
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        db_schema=schema,
        announce_admin_token=tokens.append,
    )
    server = await aiohttp_server(create_app(settings))
    url = str(server.make_url("")).rstrip("/")
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=url)
    ctx.admin_token = tokens[0]
    await run_steps(ctx, steps_until("send"))
    async with ApiClient(url) as api:
        ctx.api = api
        world = World(ctx, api, data_dir)
        world.supervisor = await world.enrol("ha", "VN-QN-CA", "pham.thu.ha", role="supervisor")
        yield world
