"""The relay as server tests call it: every JSON answer checked against the OpenAPI document,
and the row counts that show a refused request changed nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from crypto.encoding import b64d
from liaison.server.app import STORE_KEY
from liaison.server.openapi import PATHS
from liaison.store.tables import metadata
from tests.server.openapi_check import response_validator

_TEMPLATES = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in PATHS]


def template_of(path: str) -> str:
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    raise AssertionError(f"{path} is not in the OpenAPI document")


DEVICE_READS = {"/v1/log/entries", "/v1/agencies/{code}/devices"}


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
        # Directory and log reads need an enrolled device (issue 14, section 2): without a token
        # given, they go with the last device logged in, as a client's own reads do.
        self.reader_token: str | None = None

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
        if token is None and template_of(path) in DEVICE_READS:
            token = self.reader_token
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
        self.reader_token = answer.body["token"]
        return answer.body["token"]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


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
