"""Fixtures: a real relay on loopback over SQLite or PostgreSQL, and an OpenAPI-checking client."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from crypto.encoding import b64d
from liaison.server.app import STORE_KEY, Settings, create_app
from liaison.server.identity import ADMIN_TOKEN_FILE
from liaison.server.openapi import PATHS
from liaison.store.tables import metadata
from server.factory import NOW
from server.openapi_check import response_validator

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


_TEMPLATES = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in PATHS]


def template_of(path: str) -> str:
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    raise AssertionError(f"{path} is not in the OpenAPI document")


@dataclass
class Answer:
    status: int
    body: Any


class Api:
    """Calls the relay and checks every JSON answer against the OpenAPI document."""

    def __init__(self, client: TestClient, admin_token: str) -> None:
        self.client = client
        self.admin_token = admin_token
        self.seen: set[tuple[str, str, int]] = set()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        token: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(
            method, path, json=json, data=data, headers=headers, params=params
        )
        body = await response.json()
        template = template_of(path)
        validator = response_validator(template, method, response.status)
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, f"{method} {path} {response.status}: {errors} in {body}"
        self.seen.add((method, template, response.status))
        return Answer(response.status, body)

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Answer:
        return await self.call("POST", path, **kw)

    async def login(self, device: Any) -> str:
        """Challenge, sign, token: the device's bearer token."""
        server = (await self.get("/v1/server")).body
        challenge = await self.post("/v1/auth/challenge", json={"device_id": device.device_id})
        assert challenge.status == 200, challenge.body
        signature = device.sign_challenge(
            b64d(server["log_public_key"]), b64d(challenge.body["challenge"])
        )
        answer = await self.post(
            "/v1/auth/token",
            json={
                "device_id": device.device_id,
                "challenge": challenge.body["challenge"],
                "signature": _b64(signature),
            },
        )
        assert answer.status == 200, answer.body
        return answer.body["token"]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@pytest.fixture
async def relay(aiohttp_client: Callable[..., Any], settings: Settings) -> Any:
    """(Api, aiohttp application) of a started relay."""
    app = create_app(settings)
    client = await aiohttp_client(app)
    token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    return Api(client, token), app


@pytest.fixture
def api(relay: tuple[Api, Any]) -> Api:
    return relay[0]


async def row_counts(app: Any) -> dict[str, int]:
    """Rows per table: a refused request must leave every count unchanged."""
    store = app[STORE_KEY]
    counts = {}
    async with store.reader.connect() as conn:
        for table in metadata.sorted_tables:
            counts[table.name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar()
    return counts
