"""Review fixtures: a relay on loopback in the test's loop, the demo's agencies and officers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from review_world import World

from liaison.cli.demo import DemoContext, run_steps, steps_until
from liaison.client.transport import ApiClient
from liaison.server.app import Settings, create_app


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


@pytest.fixture
async def world(
    aiohttp_server: Callable[..., Awaitable[Any]], tmp_path: Path
) -> AsyncIterator[World]:
    tokens: list[str] = []
    data_dir = tmp_path / "relay"
    server = await aiohttp_server(
        create_app(Settings(data_dir=data_dir, announce_admin_token=tokens.append))
    )
    url = str(server.make_url("")).rstrip("/")
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=url)
    ctx.admin_token = tokens[0]
    await run_steps(ctx, steps_until("send"))
    async with ApiClient(url) as api:
        ctx.api = api
        world = World(ctx, api, data_dir)
        world.supervisor = await world.enrol("ha", "VN-QN-CA", "pham.thu.ha", role="supervisor")
        yield world
