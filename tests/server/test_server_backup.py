"""`liaison db backup` / `liaison db restore` (issue 17 §4): a backup restored into a fresh data
folder and database serves the log up to the backup's checkpoint and the queued messages."""

from __future__ import annotations

import secrets
import stat
import tarfile
from dataclasses import replace

import asyncpg
import pytest

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d
from crypto.merkle import verify_consistency
from liaison.server.app import create_app
from liaison.server.database import BackupError, backup_relay, restore_relay
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import Api


async def _checkpoint(api):
    server = (await api.get("/v1/server")).body
    answer = (await api.get("/v1/log/checkpoint")).body
    return verify_checkpoint(
        answer["checkpoint"],
        key_name=server["log_key_name"],
        public_key=b64d(server["log_public_key"]),
        origin=server["origin"],
    )


async def _consistent(api, old, new) -> None:
    proof = (await api.get("/v1/log/consistency", params={"from": old.size, "to": new.size})).body
    verify_consistency(
        old.size, new.size, old.root_hash, new.root_hash, [b64d(h) for h in proof["proof"]]
    )


async def test_restore_serves_the_log_and_queue_of_the_backup(
    aiohttp_client, relay, settings, database, tmp_path
) -> None:
    api, _app = relay
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    early = await _checkpoint(api)  # a client that synced up to here
    sender = await api.login(alice)
    queued = [alice.seal([wei], f"trước sao lưu {i}") for i in range(3)]
    for envelope in queued:
        assert (await send(api, sender, envelope)).status == 201
    blob = settings.data_dir / "blobs" / "ab" / ("ab" + "0" * 62)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"ciphertext")
    at_backup = await _checkpoint(api)

    out = tmp_path / "relay.backup"
    lines: list[str] = []
    manifest = await backup_relay(
        settings.data_dir, settings.database_url, settings.db_schema, out, progress=lines.append
    )
    assert lines, "progress lines are reported"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the log signing key
    assert manifest["log_size"] == at_backup.size
    with tarfile.open(out) as tar:
        assert "data/log-signing.key" in tar.getnames()
    with pytest.raises(BackupError) as refused:
        await backup_relay(settings.data_dir, settings.database_url, settings.db_schema, out)
    assert refused.value.code == "file_exists"

    # After the backup: one more message, and a client that sees the later checkpoint.
    later_envelope = alice.seal([wei], "sau sao lưu")
    assert (await send(api, sender, later_envelope)).status == 201
    later = await _checkpoint(api)
    assert later.size > at_backup.size

    url, _schema = database
    target_schema = None
    if url is not None:
        target_schema = f"t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(url)
        await conn.execute(f'CREATE SCHEMA "{target_schema}"')
        await conn.close()
    try:
        fresh = replace(settings, data_dir=tmp_path / "restored", db_schema=target_schema)
        restored = await restore_relay(out, fresh.data_dir, url, target_schema)
        assert restored["restored_revision"]
        assert (fresh.data_dir / "blobs" / "ab" / blob.name).read_bytes() == b"ciphertext"
        key = fresh.data_dir / "log-signing.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        with pytest.raises(BackupError) as again:
            await restore_relay(out, fresh.data_dir, url, target_schema)
        assert again.value.code == "target_not_empty"
        # --force replaces the relay just restored (its tables dropped, loaded again).
        forced = await restore_relay(out, fresh.data_dir, url, target_schema, force=True)
        assert forced["restored_revision"] == restored["restored_revision"]

        second = Api(await aiohttp_client(create_app(fresh)), api.admin_token)
        after = await _checkpoint(second)
        # The same log, signed by the same key, up to the backup's checkpoint.
        assert (after.size, after.root_hash) == (at_backup.size, at_backup.root_hash)
        await _consistent(second, early, after)
        # Messages queued before the backup are fetchable by their recipient.
        receiver = await second.login(wei)
        page = (await second.get("/v1/messages", token=receiver)).body
        ids = [m["message_id"] for m in page["messages"]]
        assert ids == [e.header.message_id for e in queued]
        # The log grows on from the restored checkpoint, consistently.
        assert (
            await send(second, await second.login(alice), alice.seal([wei], "mới"))
        ).status == 201
        grown = await _checkpoint(second)
        await _consistent(second, at_backup, grown)
        # Expected: a client that saw the later checkpoint detects the rollback. The restored
        # log at that client's size has another root (a different entry was logged there), so
        # no consistency proof from its checkpoint can verify.
        assert grown.size == later.size and grown.root_hash != later.root_hash
        answer = await second.get(
            "/v1/log/consistency", params={"from": later.size, "to": grown.size}
        )
        assert answer.status == 200
        with pytest.raises(ValueError):
            verify_consistency(
                later.size,
                grown.size,
                later.root_hash,
                grown.root_hash,
                [b64d(h) for h in answer.body["proof"]],
            )
    finally:
        if target_schema is not None:
            conn = await asyncpg.connect(url)
            await conn.execute(f'DROP SCHEMA "{target_schema}" CASCADE')
            await conn.close()
