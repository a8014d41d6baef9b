"""Edge rules of attachment blobs at the relay (crypto/PROTOCOL.md section 14.6), over HTTP:

- a blob expiring while a send that declares it is in flight: the send either succeeds and the
  blob is kept, or is refused with `422 blob_expired` and nothing is stored;
- only the parties of a declaring envelope (and their agencies' supervisors) may fetch;
- retention deletes a blob with its last declaring envelope; a legal hold keeps both.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from crypto.encoding import b64e
from liaison.server import attachments, mailbox, retention
from liaison.server.keys import RELAY_KEY
from tests.attachment_files import DroppingProxy
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register
from tests.server.relay_api import Api, row_counts
from tests.server.test_server_blobs import encrypted

DAY = 86_400


async def _upload(api: Api, token: str, blob: bytes) -> str:
    """Open, fill and complete an upload session: the blob id."""
    opened = await api.post("/v1/uploads", json={"size": len(blob)}, token=token)
    assert opened.status == 201, opened.body
    upload_id = opened.body["upload_id"]
    put = await api.client.put(
        f"/v1/uploads/{upload_id}",
        params={"offset": 0},
        data=blob,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    assert put.status == 200, await put.text()
    from crypto.attachments import blob_id, new_blob_hasher

    hasher = new_blob_hasher()
    hasher.update(blob)
    done = await api.post(
        f"/v1/uploads/{upload_id}/complete", json={"blob": blob_id(hasher.digest())}, token=token
    )
    assert done.status == 201, done.body
    return done.body["blob"]


async def _fetch(api: Api, token: str, blob: str) -> tuple[int, bytes]:
    answer = await api.client.get(f"/v1/blobs/{blob}", headers={"Authorization": f"Bearer {token}"})
    return answer.status, await answer.read()


async def _send(api: Api, token: str, envelope, blobs: list[str], case_tags=()):
    body = {"envelope": b64e(envelope.to_bytes()), "blobs": blobs}
    if case_tags:
        body["case_tags"] = [b64e(tag) for tag in case_tags]
    return await api.post("/v1/messages", json=body, token=token)


def _blob_file(app, blob: str):
    store = app[RELAY_KEY].blobs
    return store.blob_path(blob)


@pytest.fixture
async def parties(relay):
    """(api, app, Vietnamese officer's device and token, Chinese officer's, a third agency's
    officer in Vietnam's neighbour province standing for any non-recipient)."""
    api, app = relay
    vn, cn = vietnam_agency(), china_agency()
    alice, wei, bob = vn.device("alice"), cn.device("wei"), cn.device("bob")
    await register(api, vn, cn)
    await enrol(api, alice, wei, bob)
    tokens = {}
    for device in (alice, wei, bob):
        tokens[device.device_id] = await api.login(device)
    return api, app, (alice, wei, bob), tokens


async def test_a_blob_expiring_between_the_check_and_the_declaration_refuses_the_send(
    parties, clock, monkeypatch
) -> None:
    api, app, (alice, wei, _bob), tokens = parties
    relay = app[RELAY_KEY]
    blob, _ref = encrypted(os.urandom(70_000))
    blob_id = await _upload(api, tokens[alice.device_id], blob)
    clock.now += DAY + 1  # a day later, still undeclared
    tokens[alice.device_id] = await api.login(alice)
    tokens[wei.device_id] = await api.login(wei)
    checked = attachments.check_declared
    counts = {}

    async def check_then_expire(relay_, device_id, blob_ids):
        # The send's first check passes; the hourly expiry runs before the send's write.
        found = await checked(relay_, device_id, blob_ids)
        await attachments.expire(relay)
        counts["after_expiry"] = await row_counts(app)
        return found

    monkeypatch.setattr(mailbox.attachments, "check_declared", check_then_expire)
    refused = await _send(api, tokens[alice.device_id], alice.seal([wei], "ảnh"), [blob_id])
    assert (refused.status, refused.body["code"]) == (422, "blob_expired")
    assert blob_id in refused.body["message"]
    # Nothing stored or logged by the send; the blob is gone with its record.
    assert await row_counts(app) == counts["after_expiry"]
    assert not _blob_file(app, blob_id).exists()
    assert (await _fetch(api, tokens[wei.device_id], blob_id))[0] == 404


async def test_a_blob_declared_before_the_expiry_is_kept_and_fetchable(parties, clock) -> None:
    api, app, (alice, wei, _bob), tokens = parties
    blob, _ref = encrypted(os.urandom(70_000))
    blob_id = await _upload(api, tokens[alice.device_id], blob)
    clock.now += DAY - 60  # declared just in time
    tokens[alice.device_id] = await api.login(alice)
    sent = await _send(api, tokens[alice.device_id], alice.seal([wei], "ảnh"), [blob_id])
    assert sent.status == 201, sent.body
    clock.now += 7 * DAY
    tokens[wei.device_id] = await api.login(wei)
    report = await attachments.expire(app[RELAY_KEY])
    assert report.blobs_removed == 0
    assert await _fetch(api, tokens[wei.device_id], blob_id) == (200, blob)


async def test_a_send_racing_the_expiry_either_keeps_the_blob_or_stores_nothing(
    parties, clock
) -> None:
    api, app, (alice, wei, _bob), tokens = parties
    relay = app[RELAY_KEY]
    outcomes = set()
    for round_ in range(6):  # bounded: six races, each with its own blob
        blob, _ref = encrypted(os.urandom(10_000 + round_))
        blob_id = await _upload(api, tokens[alice.device_id], blob)
        clock.now += DAY + 1
        tokens[alice.device_id] = await api.login(alice)
        tokens[wei.device_id] = await api.login(wei)
        envelope = alice.seal([wei], f"lần {round_}")
        before = await row_counts(app)
        answer, _report = await asyncio.gather(
            _send(api, tokens[alice.device_id], envelope, [blob_id]), attachments.expire(relay)
        )
        if answer.status == 201:
            outcomes.add("kept")
            assert await _fetch(api, tokens[wei.device_id], blob_id) == (200, blob)
        else:
            outcomes.add("refused")
            assert answer.status == 422
            assert answer.body["code"] in ("blob_expired", "unknown_blob")
            after = await row_counts(app)
            assert after["envelopes"] == before["envelopes"]
            assert after["log_entries"] == before["log_entries"]
            assert not _blob_file(app, blob_id).exists()
    assert outcomes  # each round ended one of the two ways, never half


async def test_only_the_envelope_parties_may_fetch(parties) -> None:
    api, _app, (alice, wei, bob), tokens = parties
    blob, _ref = encrypted(os.urandom(5000))
    blob_id = await _upload(api, tokens[alice.device_id], blob)
    sent = await _send(api, tokens[alice.device_id], alice.seal([wei], "ảnh"), [blob_id])
    assert sent.status == 201
    assert await _fetch(api, tokens[wei.device_id], blob_id) == (200, blob)
    assert await _fetch(api, tokens[alice.device_id], blob_id) == (200, blob)
    # Bob, of the recipient's own agency but not a recipient, is told the blob does not exist.
    status, body = await _fetch(api, tokens[bob.device_id], blob_id)
    assert status == 404 and b"unknown_blob" in body
    # Nor can he declare it with an envelope of his own to make himself a party.
    stolen = await _send(api, tokens[bob.device_id], bob.seal([wei], "x"), [blob_id])
    assert (stolen.status, stolen.body["code"]) == (422, "blob_not_yours")


async def test_retention_deletes_the_blob_with_its_envelope_and_a_hold_keeps_it(
    parties, clock
) -> None:
    api, app, (alice, wei, _bob), tokens = parties
    vn_code = alice.agency.code
    supervisor = alice.agency.device("chief", role="supervisor")
    await enrol(api, supervisor)
    chief = await api.login(supervisor)
    held_tag, free_tag = os.urandom(32), os.urandom(32)
    placed = await api.post(
        "/v1/holds",
        json={"case_tag": b64e(held_tag), "reason_hash": b64e(os.urandom(32))},
        token=chief,
    )
    assert placed.status == 201, placed.body
    blobs = {}
    for name, tag in (("held", held_tag), ("free", free_tag)):
        blob, _ref = encrypted(os.urandom(20_000))
        blob_id = await _upload(api, tokens[alice.device_id], blob)
        sent = await _send(api, tokens[alice.device_id], alice.seal([wei], name), [blob_id], [tag])
        assert sent.status == 201, sent.body
        blobs[name] = (blob_id, blob)
    for code in (vn_code, wei.agency.code):
        answer = await api.call(
            "PUT", f"/v1/agencies/{code}/retention", json={"days": 1}, token=api.admin_token
        )
        assert answer.status == 200, answer.body
    clock.now += 3 * DAY
    await retention.purge(app[RELAY_KEY], now=clock.now)
    wei_token = await api.login(wei)
    free_id, _ = blobs["free"]
    assert not _blob_file(app, free_id).exists()
    assert (await _fetch(api, wei_token, free_id))[0] == 404
    held_id, held_blob = blobs["held"]
    assert _blob_file(app, held_id).exists()
    assert await _fetch(api, wei_token, held_id) == (200, held_blob)


async def test_an_upload_whose_token_expires_midway_resumes_at_its_offset_after_signing_in(
    parties, clock, tmp_path, monkeypatch
) -> None:
    from liaison.client.attachments import prepare_file, upload_file
    from liaison.client.transport import ApiClient

    api, app, (alice, wei, _bob), tokens = parties
    video = tmp_path / "statement.mp4"
    video.write_bytes(os.urandom(3 * 1024 * 1024))
    proxy = DroppingProxy(api.client.server.port, 1_500_000)
    base = await proxy.start()
    offsets: list[int] = []
    sign_ins = 0

    store = app[RELAY_KEY].blobs
    store_append = store.append
    expires = clock.now + app[RELAY_KEY].token_ttl + 1

    async def admitted_then_expired(*args, **kwargs):
        # The PUT was admitted with a valid token; while its bytes stream in, the token runs
        # out. The connection then drops, and the resume meets the 401.
        clock.now = max(clock.now, expires)
        return await store_append(*args, **kwargs)

    monkeypatch.setattr(store, "append", admitted_then_expired)

    async def sign_in_again() -> None:
        nonlocal sign_ins
        sign_ins += 1
        client.token = await api.login(alice)

    try:
        async with ApiClient(base, token=tokens[alice.device_id]) as client:
            append = client.append_upload

            async def recorded(upload_id, offset, chunks, **options):
                offsets.append(offset)
                return await append(upload_id, offset, chunks, **options)

            client.append_upload = recorded  # type: ignore[method-assign]
            outgoing = await prepare_file(video)
            ref = await upload_file(
                client,
                outgoing,
                retry_delay=0,
                reauthenticate=sign_in_again,
            )
    finally:
        await proxy.close()
    assert proxy.cuts == 1 and sign_ins == 1
    # One session: after the drop a PUT starts where the relay stood, not at 0 again. (A
    # retry may first meet the relay before its writer thread has stored the cut PUT's bytes,
    # so it stood at 0 then: the offsets never go back, and the last one is past 0.)
    assert offsets[0] == 0 and 2 <= len(offsets) <= 3 and offsets == sorted(offsets)
    assert 0 < offsets[-1] < ref.blob_size
    assert not list((app[RELAY_KEY].blobs.uploads).iterdir())  # no session left behind
    token = await api.login(alice)
    sent = await _send(api, token, alice.seal([wei], "video"), [ref.blob_id])
    assert sent.status == 201, sent.body
    status, blob = await _fetch(api, await api.login(wei), ref.blob_id)
    assert status == 200 and len(blob) == ref.blob_size


async def test_a_download_whose_token_expires_midway_resumes_at_its_byte_after_signing_in(
    parties, clock, tmp_path, monkeypatch
) -> None:
    from liaison.client.attachments import download_attachment
    from liaison.client.transport import ApiClient
    from liaison.server import handlers

    api, app, (alice, wei, _bob), tokens = parties
    plaintext = os.urandom(3 * 1024 * 1024)
    blob, ref = encrypted(plaintext)
    blob_id = await _upload(api, tokens[alice.device_id], blob)
    assert blob_id == ref.blob_id
    sent = await _send(api, tokens[alice.device_id], alice.seal([wei], "video"), [blob_id])
    assert sent.status == 201, sent.body
    starts: list[int] = []
    opened = handlers.attachments.open_for_fetch
    expires = clock.now + app[RELAY_KEY].token_ttl + 1

    async def admitted_then_expired(relay_, device_id, blob_id_, start):
        # The GET was admitted; while its bytes go out, the recipient's token runs out.
        starts.append(start)
        found = await opened(relay_, device_id, blob_id_, start)
        clock.now = max(clock.now, expires)
        return found

    monkeypatch.setattr(handlers.attachments, "open_for_fetch", admitted_then_expired)
    proxy = DroppingProxy(api.client.server.port, 1_000_000, answers=True)
    base = await proxy.start()
    sign_ins = 0
    try:
        async with ApiClient(base, token=tokens[wei.device_id]) as client:

            async def sign_in_again() -> None:
                nonlocal sign_ins
                sign_ins += 1
                client.token = await api.login(wei)

            saved = await download_attachment(
                client, ref, tmp_path, retry_delay=0, reauthenticate=sign_in_again
            )
    finally:
        await proxy.close()
    assert proxy.cuts == 1 and sign_ins == 1
    # Resumed at the byte it stopped, not from the start, once signed in again.
    assert starts[0] == 0 and len(starts) == 2 and 0 < starts[1] < len(blob)
    assert saved.read_bytes() == plaintext
