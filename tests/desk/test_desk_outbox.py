"""The desk's outbox over a real relay that stops and starts again: a message written while it
is down waits (banner, outbox page), goes once when it is back; a refused one stops the
sending until it is retried or deleted (with a confirmation)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient
from conftest import OpenDesk, csrf_of
from e2e_relay import RelayThread

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import OfficerSession
from liaison.client.home import Home
from liaison.client.outbox import BLOBS_DIR, OUTBOX_DIR
from liaison.client.spool import SPOOL_DIR


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


async def test_a_message_with_a_file_written_while_the_relay_is_down_waits_then_goes_once(
    open_desk: OpenDesk, relay: RelayThread, world: DemoContext, tmp_path: Path
) -> None:
    an, _s = await open_desk("an-phone", outbox_retry_seconds=0.3)
    li_home = Home(world.officers["li"].root, passphrase=lambda c: DEMO_PASSPHRASE)
    async with OfficerSession.open(li_home) as li:
        await li.sync()
        before = {r.message_id for r in li.inbox()}
    marker = b"OUTBOX-FILE-MARKER-" + os.urandom(8).hex().encode()
    document = marker + os.urandom(300_000) + marker
    text = "Kèm biên bản / 附记录"
    sender = world.officers["an-phone"].root
    relay.stop()
    try:
        form = aiohttp.FormData()
        form.add_field("csrf_token", csrf_of(await (await an.get("/compose")).text()))
        form.add_field("to", "CN-GX-DXGA")
        form.add_field("text", text)
        form.add_field("files", document, filename="biên bản.pdf", content_type="application/pdf")
        answer = await an.post("/compose/message", data=form)
        page = await answer.text()
        assert answer.status == 200 and 'id="queued"' in page, page
        blobs = list((sender / BLOBS_DIR).glob("*.blob"))
        assert len(blobs) == 1 and marker not in blobs[0].read_bytes()  # ciphertext only
        for path in (sender / OUTBOX_DIR).glob("*.sealed"):
            assert marker not in path.read_bytes() and text.encode() not in path.read_bytes()
        assert not any((sender / SPOOL_DIR).iterdir())
    finally:
        relay.start()
    await _until_outbox_empty(an)
    assert not any((sender / BLOBS_DIR).iterdir())  # removed with the delivered item
    async with OfficerSession.open(li_home) as li:
        await li.sync()
        new = [r.message_id for r in li.inbox() if r.message_id not in before]
        assert len(new) == 1  # delivered once
        opened = await li.read(new[0])
        assert opened.payload.as_text() == text
        (saved,) = await li.save_attachments(new[0], tmp_path / "li")  # verified on the way
        assert saved.read_bytes() == document
