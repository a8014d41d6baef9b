"""The encrypted outbox over a real relay: queued while it is down, sent in order exactly once
when it answers, a crash between upload and confirm, a tampered item, two processes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import OfficerSession
from liaison.client import outbox as outbox_module
from liaison.client.home import Home
from liaison.client.outbox import BLOBS_DIR, OUTBOX_DIR, Outbox, send_waiting
from liaison.client.payload import Payload
from liaison.client.spool import SPOOL_DIR
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


def _home(ctx, name: str) -> Home:
    return Home(ctx.officers[name].root, passphrase=lambda c: DEMO_PASSPHRASE)


async def _received_texts(home: Home) -> list[str]:
    async with OfficerSession.open(home) as li:
        await li.sync()
        texts = []
        for record in li.inbox():
            opened = await li.read(record.message_id)
            if opened.payload.is_text:
                texts.append(opened.payload.as_text())
        return texts


def test_queued_while_the_relay_is_down_then_sent_in_order_exactly_once(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    texts = ["Tin thứ nhất / 第一条", "Tin thứ hai / 第二条", "Tin thứ ba / 第三条"]

    async def offline_compose() -> list:
        async with OfficerSession.open(an) as session:
            reports = [await session.send_or_queue(["CN-GX-DXGA"], Payload.text(t)) for t in texts]
            return [(item, report) for item, report in reports]

    relay.stop()
    try:
        queued = asyncio.run(offline_compose())
    finally:
        relay.start()
    for number, (item, report) in enumerate(queued, start=1):
        assert report.unreachable and not report.sent and report.waiting == number
        assert report.error is None
    files = sorted((an.root / OUTBOX_DIR).glob("*.sealed"))
    assert len(files) == 3
    for path, text in zip(files, texts, strict=True):  # encrypted at rest
        assert text.encode() not in path.read_bytes()
        assert "thứ".encode() not in path.read_bytes()

    async def listing_then_send() -> tuple[list, object, object]:
        async with OfficerSession.open(an) as session:
            listed = session.outbox().items()
            report = await session.send_outbox()
            again = await session.send_outbox()
            return listed, report, again

    listed, report, again = asyncio.run(listing_then_send())
    assert [i.summary for i in listed] == texts and all(i.state == "waiting" for i in listed)
    assert [item.summary for item, _sent in report.sent] == texts
    logs = [sent.log_index for _item, sent in report.sent]
    assert logs == sorted(logs) and report.waiting == 0 and report.error is None
    assert not again.sent and again.waiting == 0
    assert not list((an.root / OUTBOX_DIR).glob("*.sealed"))
    assert asyncio.run(_received_texts(li)) == texts
    sent_ids = {sent.message_id for _item, sent in report.sent}
    assert sent_ids <= {r.message_id for r in an.messages() if r.direction == "sent"}


class Killed(BaseException):
    """The process dying between the upload and the confirmation."""


def test_a_crash_between_upload_and_confirm_does_not_send_twice(
    relay: RelayThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    real_confirm = outbox_module.confirm
    uploads: list[int] = []

    async def dying(home, api, sealed, answer, payload, *, keys=None):
        uploads.append(answer.log_index)
        raise Killed

    async def first_run() -> None:
        async with OfficerSession.open(an) as session:
            session.queue(["CN-GX-DXGA"], Payload.text("một lần / 一次"))
            monkeypatch.setattr(outbox_module, "confirm", dying)
            with pytest.raises(Killed):
                await session.send_outbox()

    asyncio.run(first_run())
    (item,) = Outbox(an, _keys(an)).items()
    assert item.state == "sealed" and item.message_id  # the envelope kept before it left

    async def second_run():
        monkeypatch.setattr(outbox_module, "confirm", real_confirm)
        async with OfficerSession.open(an) as session:
            return await session.send_outbox()

    report = asyncio.run(second_run())
    ((again, sent),) = report.sent
    assert sent.message_id == item.message_id and sent.log_index == uploads[0]
    assert asyncio.run(_received_texts(li)) == ["một lần / 一次"]


def _keys(home: Home):
    from liaison.client import officer

    return officer.device_keys(home)


def test_a_tampered_outbox_item_is_refused_clearly_and_nothing_is_sent(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    keys = _keys(an)
    outbox = Outbox(an, keys)
    first = outbox.add(["CN-GX-DXGA"], Payload.text("first"), summary="first", now=1)
    outbox.add(["CN-GX-DXGA"], Payload.text("second"), summary="second", now=2)
    path = an.root / OUTBOX_DIR / f"{first.name}.sealed"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40
    path.write_bytes(bytes(data))

    listed = outbox.items()
    assert [i.damaged for i in listed] == [True, False]
    with pytest.raises(outbox_module.OutboxError) as refused:
        outbox.load(first.name)
    assert refused.value.code == "outbox_damaged" and first.item_id in str(refused.value)

    async def run():
        async with OfficerSession.open(an) as session:
            return await send_waiting(an, session.api, keys)

    report = asyncio.run(run())
    assert not report.sent and report.error is not None
    assert report.error.code == "outbox_damaged" and report.waiting == 2
    # A renamed item (another name in the associated data) does not open either.
    second = listed[1]
    src = an.root / OUTBOX_DIR / f"{second.name}.sealed"
    renamed = an.root / OUTBOX_DIR / f"{first.name[:-8]}00000000.sealed"
    src.rename(renamed)
    assert outbox.items()[0].damaged and outbox.items()[1].damaged
    renamed.rename(src)
    outbox.delete(first.item_id)
    report = asyncio.run(run())
    assert [i.summary for i, _s in report.sent] == ["second"] and report.waiting == 0
    assert asyncio.run(_received_texts(li)) == ["second"]


def test_while_another_process_holds_the_lock_nothing_is_sent(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an = _home(ctx, "an-phone")
    keys = _keys(an)
    outbox = Outbox(an, keys)
    outbox.add(["CN-GX-DXGA"], Payload.text("locked"), summary="locked", now=1)

    async def run():
        async with OfficerSession.open(an) as session:
            return await send_waiting(an, session.api, keys)

    with outbox.lock() as held:
        assert held
        report = asyncio.run(run())
    assert report.busy and not report.sent and report.waiting == 1
    assert [i.summary for i, _s in asyncio.run(run()).sent] == ["locked"]


def test_the_command_line_queues_lists_and_sends_the_outbox(
    relay: RelayThread, tmp_path: Path, cli: Cli
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    relay.stop()
    try:
        down = cli.at(an, "send", "--to", "CN-GX-DXGA", "--text", "hàng đợi / 队列", "--queue")
        assert "outbox" in down.stdout
        refused = cli.at(an, "send", "--to", "CN-GX-DXGA", "--text", "no queue", ok=False)
        assert refused.returncode == 1
        listed = json.loads(cli.at(an, "outbox", "list", "--json").stdout)
        assert [i["state"] for i in listed] == ["waiting"]
        assert "hàng đợi" not in json.dumps(listed)  # metadata only
        assert "hàng đợi" in cli.at(an, "outbox", "list").stdout  # the officer's own list
        unreachable = json.loads(cli.at(an, "outbox", "send", "--json").stdout)
        assert unreachable["unreachable"] and unreachable["waiting"] == 1
    finally:
        relay.start()
    sent = json.loads(cli.at(an, "outbox", "send", "--json").stdout)
    assert len(sent["sent"]) == 1 and sent["waiting"] == 0
    assert "empty" in cli.at(an, "outbox", "list").stdout
    up = json.loads(
        cli.at(an, "send", "--to", "CN-GX-DXGA", "--text", "online", "--queue", "--json").stdout
    )
    assert up["queued"] is False and up["message_id"]
    assert asyncio.run(_received_texts(li)) == ["hàng đợi / 队列", "online"]
    helped = cli.at(an, "outbox", "--help").stdout
    assert "list" in helped and "retry" in helped and "delete" in helped


def test_send_queue_with_a_file_keeps_only_its_blob_and_delivers_it_once(
    relay: RelayThread, tmp_path: Path, cli: Cli
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    marker = b"QUEUED-FILE-MARKER-" + os.urandom(8).hex().encode()
    document = marker + os.urandom(200_000) + marker
    source = tmp_path / "biên bản.pdf"
    source.write_bytes(document)
    relay.stop()
    try:
        down = cli.at(
            an,
            "send",
            "--to",
            "CN-GX-DXGA",
            "--text",
            "kèm tệp",
            "--file",
            str(source),
            "--queue",
            "--json",
        )
        assert json.loads(down.stdout)["queued"] is True
    finally:
        relay.start()
    source.unlink()  # the queued message no longer needs the officer's file
    blobs = list((an.root / BLOBS_DIR).glob("*.blob"))
    assert len(blobs) == 1 and marker not in blobs[0].read_bytes()  # ciphertext only
    assert not list((an.root / SPOOL_DIR).glob("*"))
    for path in (an.root / OUTBOX_DIR).glob("*.sealed"):
        assert marker not in path.read_bytes()
    sent = json.loads(cli.at(an, "outbox", "send", "--json").stdout)
    assert len(sent["sent"]) == 1 and sent["waiting"] == 0
    assert not list((an.root / BLOBS_DIR).glob("*"))  # gone with the item

    async def receive() -> list[bytes]:
        async with OfficerSession.open(li) as session:
            await session.sync()
            (record,) = session.inbox()
            saved = await session.save_attachments(record.message_id, tmp_path / "li")
            return [path.read_bytes() for path in saved]

    assert asyncio.run(receive()) == [document]
