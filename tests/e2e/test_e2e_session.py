"""The officer-session facade over a real relay: one unlock, then send, sync, read, ack, search."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crypto import keystore
from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import OfficerSession
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.client.payload import Payload
from liaison.client.read import OpenedMessage
from liaison.client.records import MessageRecord
from tests.e2e.e2e_relay import RelayThread, demo_world

TEXT = "Đề nghị xác minh / 请核查 (through the session facade)"


def test_a_session_unlocks_once_and_sends_syncs_reads_and_acknowledges(
    relay: RelayThread, tmp_path: Path, monkeypatch
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    unlocks: list[bytes] = []
    real_unlock = keystore.unlock

    def counted(data: bytes, passphrase: str) -> bytes:  # the Argon2id run
        unlocks.append(data)
        return real_unlock(data, passphrase)

    monkeypatch.setattr(keystore, "unlock", counted)

    async def exchange() -> tuple[str, list[MessageRecord], OpenedMessage, dict]:
        sender = Home(ctx.officers["an-phone"].root, passphrase=lambda c: DEMO_PASSPHRASE)
        async with OfficerSession.open(sender) as an:
            sent = await an.send(["CN-GX-DXGA"], Payload.text(TEXT))
            await an.send(["CN-GX-DXGA"], Payload.text(TEXT + " (2)"))
        receiver = Home(ctx.officers["li"].root, passphrase=lambda c: DEMO_PASSPHRASE)
        async with OfficerSession.open(receiver) as li:
            assert li.certificate.agency == "CN-GX-DXGA"
            new = await li.sync()
            opened = await li.read(sent.message_id[:10])
            await li.read(new[1].message_id)
            acked = await li.acknowledge(sent.message_id)
            assert [r.message_id for r in li.inbox(include_acknowledged=False)] == [
                new[1].message_id
            ]
        return sent.message_id, new, opened, acked

    message_id, new, opened, acked = asyncio.run(exchange())
    assert [r.message_id for r in new][0] == message_id and len(new) == 2
    assert all(isinstance(r, MessageRecord) and r.status == "new" for r in new)
    assert opened.message_id == message_id and opened.payload.as_text() == TEXT
    assert acked["message_id"] == message_id and isinstance(acked["log_index"], int)
    # Two sends (signing, sealing, perhaps signing in), two reads, an acknowledgement: one
    # keystore unlock per session, the device key of each officer.
    assert len(unlocks) == 2 and unlocks[0] != unlocks[1]


def test_an_offline_session_reads_the_cache_and_refuses_what_needs_the_relay(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "read")

    async def offline() -> list[MessageRecord]:
        home = Home(ctx.officers["an-phone"].root, passphrase=lambda c: DEMO_PASSPHRASE)
        async with OfficerSession.open(home, offline=True) as an:
            assert an.offline
            try:
                await an.sync()
            except ClientError as exc:
                assert exc.code == "offline"
            else:
                raise AssertionError("an offline session synced")
            return an.inbox()

    listed = asyncio.run(offline())
    assert [r.message_id for r in listed] == [ctx.sent["reply"].message_id]
