"""Two real relays on loopback, one per country: the Vietnamese one on SQLite, the Chinese one
on PostgreSQL when LIAISON_TEST_DATABASE_URL is set (else SQLite too), each on a real port so
that they call each other over HTTP as deployed relays do."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from crypto.federation import RelayIdentity
from liaison.server.app import SETTINGS_KEY, Settings, create_app
from liaison.server.keys import RELAY_KEY
from liaison.server.relay import Relay
from tests.server.relay_api import Api

VN_ORIGIN = "relay.vn-qn.liaison.example"
CN_ORIGIN = "relay.cn-gx.liaison.example"


@dataclass
class RunningRelay:
    name: str
    app: web.Application
    server: TestServer
    api: Api
    data_dir: Path
    database_url: str | None
    db_schema: str | None

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def relay(self) -> Relay:
        return self.app[RELAY_KEY]

    @property
    def identity(self) -> RelayIdentity:
        return RelayIdentity(self.relay.identity.origin, self.relay.identity.public_key)


@pytest.fixture
async def pg_schema() -> AsyncIterator[tuple[str | None, str | None]]:
    """(URL, schema) of a fresh PostgreSQL schema, or (None, None) without PostgreSQL."""
    url = os.environ.get("LIAISON_TEST_DATABASE_URL")
    if not url:
        yield None, None
        return
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url, schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
def start_relay(tmp_path: Path, aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    async def start(
        name: str, origin: str, database_url: str | None = None, db_schema: str | None = None
    ) -> RunningRelay:
        shown: list[str] = []
        data_dir = tmp_path / name
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            db_schema=db_schema,
            origin=origin,
            announce_admin_token=shown.append,
            purge_interval=0,
        )
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        client: TestClient = await aiohttp_client(server)
        return RunningRelay(
            name, app, server, Api(client, shown[0]), data_dir, database_url, db_schema
        )

    return start


@pytest.fixture
async def relays(
    start_relay: Callable[..., Any], pg_schema: tuple[str | None, str | None]
) -> tuple[RunningRelay, RunningRelay]:
    """(Vietnamese relay on SQLite, Chinese relay on PostgreSQL or SQLite), not peered yet."""
    vn = await start_relay("vn", VN_ORIGIN)
    cn = await start_relay("cn", CN_ORIGIN, *pg_schema)
    return vn, cn


async def restart(relay: RunningRelay) -> RunningRelay:
    """The relay's process stops (its app closes its store) and starts again on the same
    address and data: what is not in its database is gone. The caller closes
    `back.api.client` at the end."""
    port = relay.server.port
    await relay.server.close()
    return await start_again(relay, port)


async def start_again(relay: RunningRelay, port: int) -> RunningRelay:
    """A stopped relay started again on `port` with its data."""
    app = create_app(replace(relay.app[SETTINGS_KEY], announce_admin_token=None))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    back = RunningRelay(
        relay.name, app, server, relay.api, relay.data_dir, relay.database_url, relay.db_schema
    )
    back.api.client = TestClient(server)
    await back.api.client.start_server()
    return back
