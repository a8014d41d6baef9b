"""Readiness (GET /v1/health) and liveness (GET /v1/health/live) of a real relay: ready when the
database answers and the writer keeps up, 503 not_ready while a lock holds the writer back or
the database does not answer, ready again once the cause is gone."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from liaison.server.app import create_app
from liaison.server.relay import ReadinessLimits
from liaison.store.engine import SQLITE_FILENAME
from tests.server.factory import vietnam_agency
from tests.server.relay_api import Api

# Bounded waits: each poll is one request, and the condition holds within a few of them.
POLLS = 200


async def _until_health(api: Api, status: int) -> Any:
    for _ in range(POLLS):
        answer = await api.get("/v1/health")
        if answer.status == status:
            return answer.body
        await asyncio.sleep(0.02)  # the oldest write's wait grows with time itself
    raise AssertionError(f"/v1/health never answered {status}: {answer.body}")


async def _started(aiohttp_client: Any, settings: Any) -> Api:
    shown: list[str] = []
    client = await aiohttp_client(create_app(replace(settings, announce_admin_token=shown.append)))
    return Api(client, shown[0])


async def test_health_is_ready_and_says_what_it_checked(api: Api) -> None:
    answer = await api.get("/v1/health")
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "ok"
    assert answer.body["database"]["status"] == "ok"
    writer = answer.body["writer"]
    # A background write of the starting relay (federation, purge) may be in its commit.
    assert writer["status"] == "ok" and writer["waiting"] <= 1
    assert 0.0 <= writer["oldest_wait_seconds"] < ReadinessLimits().max_write_wait


async def test_liveness_answers_while_the_process_is_up(api: Api) -> None:
    answer = await api.get("/v1/health/live")
    assert (answer.status, answer.body["status"]) == (200, "ok")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_not_ready_while_a_lock_holds_the_writer_back(aiohttp_client, settings) -> None:
    settings = replace(settings, readiness=ReadinessLimits(max_write_wait=0.1))
    api = await _started(aiohttp_client, settings)
    holder = sqlite3.connect(settings.data_dir / SQLITE_FILENAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: the relay's writer waits
    try:
        agency = vietnam_agency()
        write = asyncio.create_task(
            api.post("/v1/agencies", json=agency.registration(), token=api.admin_token)
        )
        body = await _until_health(api, 503)
        assert (body["status"], body["code"]) == ("unavailable", "not_ready")
        # The registration waits; a background write of the relay (federation, purge) may too.
        assert body["writer"]["status"] == "behind" and body["writer"]["waiting"] >= 1
        assert body["database"]["status"] == "ok"  # reads go on beside the held lock
        assert "writer does not keep up" in body["message"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await write).status == 201
    body = await _until_health(api, 200)
    assert body["writer"]["waiting"] == 0


class PausableProxy:
    """A TCP proxy on loopback between the relay and PostgreSQL; paused, it forwards nothing,
    as a database host that stopped answering."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()

    async def close(self) -> None:
        self.flowing.set()
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:  # both ends see the connection end: nothing waits on it
            writer.close()


@pytest.fixture
async def proxied(aiohttp_client, settings) -> AsyncIterator[tuple[Any, PausableProxy]]:
    """Settings whose PostgreSQL is reached through a PausableProxy."""
    url = urlsplit(settings.database_url)
    proxy = PausableProxy(url.hostname or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    netloc = f"{url.username}@127.0.0.1:{port}" if url.username else f"127.0.0.1:{port}"
    try:
        yield replace(settings, database_url=urlunsplit(url._replace(netloc=netloc))), proxy
    finally:
        await proxy.close()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_not_ready_while_the_database_does_not_answer(proxied, aiohttp_client) -> None:
    settings, proxy = proxied
    settings = replace(settings, readiness=ReadinessLimits(database_timeout=0.3))
    api = await _started(aiohttp_client, settings)
    assert (await api.get("/v1/health")).status == 200
    proxy.flowing.clear()
    answer = await api.get("/v1/health")
    assert answer.status == 503, answer.body
    assert answer.body["database"]["status"] == "timeout"
    assert "database does not answer in time" in answer.body["message"]
    assert (await api.get("/v1/health/live")).status == 200  # alive, only not ready
    proxy.flowing.set()
    await _until_health(api, 200)
