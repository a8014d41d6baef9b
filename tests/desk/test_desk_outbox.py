"""The desk's outbox over a real relay that stops and starts again: a message written while it
is down waits (banner, outbox page), goes once when it is back; a refused one stops the
sending until it is retried or deleted (with a confirmation)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from conftest import OpenDesk, csrf_of
from e2e_relay import RelayThread

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import OfficerSession
from liaison.client.home import Home
from liaison.client.outbox import OUTBOX_DIR


async def _post(client: TestClient, page: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def,type-arg]
    token = csrf_of(await (await client.get(page)).text())
    return await client.post(action, data={"csrf_token": token, **data})


async def _received(world: DemoContext) -> list[str]:
    home = Home(world.officers["li"].root, passphrase=lambda c: DEMO_PASSPHRASE)
    async with OfficerSession.open(home) as li:
        await li.sync()
        texts = []
        for record in li.inbox():
            opened = await li.read(record.message_id)
            texts.append(opened.payload.as_text())
        return texts


async def _until_outbox_empty(client: TestClient, seconds: float = 40.0) -> None:  # type: ignore[type-arg]
    for _ in range(int(seconds / 0.25)):
        page = await (await client.get("/outbox")).text()
        if "outbox-banner" not in page and 'class="outbox-' not in page:
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the outbox was not sent")


async def test_written_while_the_relay_is_down_then_sent_once_when_it_is_back(
    open_desk: OpenDesk, relay: RelayThread, world: DemoContext
) -> None:
    an, _s = await open_desk("an-phone", outbox_retry_seconds=0.3)
    before = len(await _received(world))
    relay.stop()
    try:
        texts = ["Chờ relay 1 / 等待 1", "Chờ relay 2 / 等待 2"]
        for text in texts:
            answer = await _post(
                an, "/compose", "/compose/message", {"to": "CN-GX-DXGA", "text": text}
            )
            page = await answer.text()
            assert answer.status == 200 and 'id="queued"' in page, page
        inbox = await (await an.get("/")).text()
        assert "outbox-banner" in inbox and "(2)" in inbox
        outbox = await (await an.get("/outbox")).text()
        assert outbox.index(texts[0]) < outbox.index(texts[1])
        assert outbox.count('class="outbox-waiting"') == 2
        folder = world.officers["an-phone"].root / OUTBOX_DIR
        for path in folder.glob("*.sealed"):
            assert b"relay" not in path.read_bytes()  # encrypted at rest
    finally:
        relay.start()
    await _until_outbox_empty(an)
    received = await _received(world)
    assert received[before:] == texts  # in order, each once


async def test_a_direct_refusal_is_shown_on_the_form_and_nothing_waits(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    an, _s = await open_desk("an-phone")
    answer = await _post(
        an, "/compose", "/compose/message", {"to": "CN-GX-DXGA/nobody", "text": "x"}
    )
    assert answer.status == 400 and 'class="failure"' in await answer.text()
    assert "outbox-banner" not in await (await an.get("/")).text()


async def test_the_outbox_pages_need_the_csrf_token(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    refused = await an.post("/outbox/send", data={})
    assert refused.status == 403
