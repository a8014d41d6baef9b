"""Attachments cross with their envelope (issue 16 §1, PROTOCOL.md §16.6): the blob goes to
the recipient's relay before the envelope declaring it, streamed from the sending relay's disk
in a transfer that resumes after a drop, verified against its id there, and the recipient
fetches it from its own relay."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crypto.attachments import AttachmentEncryptor, AttachmentRef
from crypto.encoding import b64e
from crypto.envelope import Envelope
from liaison.client.attachments import download_attachment, prepare_file, upload_file
from liaison.client.transport import ApiClient
from liaison.server.blobs import BLOBS_DIR, UPLOADS_DIR
from liaison.server.federation import inbound
from liaison.server.federation.forwarding import BLOBS_PATH, resume_offset
from liaison.server.federation.requests import PeerAnswer
from tests.attachment_files import MIB, DroppingProxy, random_file, same_file
from tests.federation.conftest import RunningRelay
from tests.federation.test_forwarding import border, inbox, until
from tests.server.relay_api import Api


def encrypted(plaintext: bytes) -> tuple[bytes, str]:
    encryptor = AttachmentEncryptor()
    blob = encryptor.update(plaintext) + encryptor.finish()
    return blob, encryptor.reference(name="scan.pdf", media_type="application/pdf").blob_id


async def upload(api: Api, token: str, blob: bytes, blob_id: str) -> None:
    opened = await api.post("/v1/uploads", json={"size": len(blob)}, token=token)
    assert opened.status == 201, opened.body
    upload_id = opened.body["upload_id"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    async with api.client.put(
        f"/v1/uploads/{upload_id}", params={"offset": 0}, data=blob, headers=headers
    ) as answer:
        assert answer.status == 200, await answer.text()
    done = await api.post(f"/v1/uploads/{upload_id}/complete", json={"blob": blob_id}, token=token)
    assert done.status in (200, 201), done.body


async def test_an_attachment_crosses_with_its_envelope(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    blob, blob_id = encrypted(b"scan of a passport page " * 4000)
    await upload(vn.api, w["vn_token"], blob, blob_id)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Hồ sơ kèm theo")
    sent = await vn.api.post(
        "/v1/messages",
        json={"envelope": b64e(notice.to_bytes()), "blobs": [blob_id]},
        token=w["vn_token"],
    )
    assert sent.status == 201, sent.body
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    headers = {"Authorization": f"Bearer {w['cn_token']}"}
    async with cn.api.client.get(f"/v1/blobs/{blob_id}", headers=headers) as answer:
        assert answer.status == 200
        assert await answer.read() == blob
    # The other officer on the CN side, no party of the envelope, cannot fetch it.
    colleague_token = await cn.api.login(w["cn_colleague"])
    headers = {"Authorization": f"Bearer {colleague_token}"}
    async with cn.api.client.get(f"/v1/blobs/{blob_id}", headers=headers) as answer:
        assert answer.status == 404


# --- blobs of any size, streamed and resumable (PROTOCOL.md §16.6, blobs) ----------------------


async def upload_path(relay: RunningRelay, token: str, path: Path) -> AttachmentRef:
    """The client's own upload: the file encrypted and streamed to the relay in one pass."""
    async with ApiClient(relay.url, token=token) as api:
        return await upload_file(api, await prepare_file(path), retry_delay=0)


async def declare(relay: RunningRelay, token: str, envelope: Envelope, refs: list) -> str:
    """The envelope sent with the blobs of `refs` (references or blob ids) declared."""
    blobs = [r if isinstance(r, str) else r.blob_id for r in refs]
    sent = await relay.api.post(
        "/v1/messages", json={"envelope": b64e(envelope.to_bytes()), "blobs": blobs}, token=token
    )
    assert sent.status == 201, sent.body
    return envelope.header.message_id


async def arrived(relay: RunningRelay, token: str, message_id: str) -> None:
    async def there() -> bool:
        return message_id in {m["message_id"] for m in await inbox(relay, token)}

    await until(there, f"message {message_id[:8]} on {relay.name}", seconds=120)


async def save(relay: RunningRelay, token: str, ref: AttachmentRef, folder: Path) -> Path:
    """Downloaded from the recipient's own relay, decrypted and verified against the reference."""
    async with ApiClient(relay.url, token=token) as api:
        return await download_attachment(api, ref, folder, retry_delay=0)


def peer_uploads(relay: RunningRelay) -> list[Path]:
    return sorted((relay.data_dir / BLOBS_DIR / UPLOADS_DIR).iterdir())


@pytest.mark.slow
async def test_a_blob_above_64_mib_crosses_streamed_in_bounded_memory(relays, tmp_path) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    video = random_file(tmp_path / "lời-khai.mp4", 80 * MIB, 4)
    ref = await upload_path(vn, w["vn_token"], video)
    # Both relays run in this process: the peak of Python allocations while the blob crosses
    # covers the sending relay's reads and the receiving relay's writes.
    tracemalloc.start()
    try:
        envelope = w["vn_officer"].seal([w["cn_officer"]], "Video lời khai")
        message_id = await declare(vn, w["vn_token"], envelope, [ref])
        await arrived(cn, w["cn_token"], message_id)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MIB, peak
    saved = await save(cn, w["cn_token"], ref, tmp_path / "cn")
    assert same_file(video, saved)
    assert peer_uploads(cn) == []  # the transfer's session became the blob


async def test_a_dropped_crossing_resumes_at_its_offset(relays, tmp_path, monkeypatch) -> None:
    vn, cn = relays
    assert cn.server.port is not None
    proxy = DroppingProxy(cn.server.port, cut_after=3 * MIB)
    w = await border(vn, cn, cn_url=await proxy.start())
    offsets: list[int] = []
    receive = inbound.receive_blob

    async def counted(relay, request, blob_id):  # type: ignore[no-untyped-def]
        offsets.append(int(request.query["offset"]))
        return await receive(relay, request, blob_id)

    monkeypatch.setattr(inbound, "receive_blob", counted)
    try:
        photo = random_file(tmp_path / "ảnh.jpg", 8 * MIB, 5)
        ref = await upload_path(vn, w["vn_token"], photo)
        envelope = w["vn_officer"].seal([w["cn_officer"]], "Ảnh")
        message_id = await declare(vn, w["vn_token"], envelope, [ref])
        await arrived(cn, w["cn_token"], message_id)
    finally:
        await proxy.close()
    assert proxy.cuts == 1
    # The second request went on from what the first one had delivered, not from byte 0.
    assert len(offsets) == 2 and offsets[0] == 0 and 0 < offsets[1] < ref.blob_size, offsets
    saved = await save(cn, w["cn_token"], ref, tmp_path / "cn")
    assert same_file(photo, saved)


async def test_a_transfer_cut_before_its_completion_is_completed_by_an_empty_put(
    relays, monkeypatch
) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    blob, blob_id = encrypted(b"handover record, page 2 " * 30_000)
    await upload(vn.api, w["vn_token"], blob, blob_id)
    # An earlier transfer left every byte on the CN relay, which stopped before completing it.
    store = cn.relay.blobs
    session = await store.open_named_upload(
        inbound._transfer_name(vn.identity.origin, blob_id),
        agency=inbound.PEER_AGENCY,
        size=len(blob),
        device=f"peer:{vn.identity.origin}",
    )
    await store.append_bytes(session.session_id, 0, blob)
    bodies: list[tuple[str, str | None]] = []
    receive = inbound.receive_blob

    async def counted(relay, request, blob_id):  # type: ignore[no-untyped-def]
        bodies.append((request.query["offset"], request.headers.get("Content-Length")))
        return await receive(relay, request, blob_id)

    monkeypatch.setattr(inbound, "receive_blob", counted)
    envelope = w["vn_officer"].seal([w["cn_officer"]], "Biên bản")
    await arrived(cn, w["cn_token"], await declare(vn, w["vn_token"], envelope, [blob_id]))
    assert bodies == [(str(len(blob)), "0")]
    assert store.blob_path(blob_id).read_bytes() == blob
    assert peer_uploads(cn) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"offset": 700, "size": 1000}, 700),
        ({"offset": 1000, "size": 1000}, 1000),  # all there, not yet stored: an empty PUT
        ({"offset": 0, "size": None}, 0),
        ({"offset": 700, "size": 999}, 0),  # a transfer of another size: from the start
        ({"offset": 1001, "size": 1000}, 0),
        ({"offset": -1, "size": 1000}, 0),
        ({"offset": True, "size": 1000}, 0),
        ({"offset": "700", "size": 1000}, 0),
        ({}, 0),
    ],
)
def test_the_peers_offset_is_untrusted_and_a_bad_one_means_from_the_start(
    answer: dict, expected: int
) -> None:
    assert resume_offset(answer, 1000) == expected


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


async def test_bytes_that_do_not_match_are_refused_and_nothing_is_stored(relays) -> None:
    vn, cn = relays
    await border(vn, cn)
    blob, blob_id = encrypted(b"scan of a birth certificate " * 20_000)
    forged = bytearray(blob)
    forged[len(blob) // 2] ^= 0x01
    client = vn.relay.federation.client
    target = f"{BLOBS_PATH}/{blob_id}?offset=0&size={len(blob)}"

    async def put(body: bytes, signed_digest: bytes) -> PeerAnswer:
        return await client.put_stream(
            peer_origin=cn.identity.origin,
            base_url=cn.url,
            target=target,
            body=_chunks(body),
            size=len(body),
            body_sha256=signed_digest,
        )

    # Bytes other than the ones the peer signed: refused at the end of the body.
    answer = await put(bytes(forged), hashlib.sha256(blob).digest())
    assert (answer.status, answer.code) == (400, "federation_digest_mismatch")
    # Bytes the peer signed, but not the blob's: refused when they do not hash to its id.
    answer = await put(bytes(forged), hashlib.sha256(forged).digest())
    assert (answer.status, answer.code) == (422, "blob_hash_mismatch")
    # A request without the peer's signature never reaches the disk.
    async with cn.api.client.put(target, data=blob) as unsigned:
        assert unsigned.status == 400
    assert not await cn.relay.blobs.exists(blob_id)
    assert peer_uploads(cn) == []
    state = await client.request(
        peer_origin=cn.identity.origin, base_url=cn.url, method="GET",
        target=f"{BLOBS_PATH}/{blob_id}",
    )  # fmt: skip
    assert state.data == {"blob": blob_id, "stored": False, "offset": 0, "size": None}
    # The genuine bytes then cross.
    answer = await put(blob, hashlib.sha256(blob).digest())
    assert answer.status == 200 and answer.data["stored"] is True, answer.data
    assert cn.relay.blobs.blob_path(blob_id).read_bytes() == blob


# --- Done when (issue 16): a photo and a video from Vietnam to China and back, relay to relay --


@pytest.mark.slow
async def test_a_photo_and_a_video_go_to_china_and_back_across_two_relays(relays, tmp_path) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    (tmp_path / "out").mkdir()
    photo = random_file(tmp_path / "out" / "ảnh-chân-dung.jpg", 6 * 1000 * 1000, 1)
    video = random_file(tmp_path / "out" / "lời-khai.mp4", 300 * 1000 * 1000, 2)

    # Everything runs in this process (both officers' clients, both relays): the peak of
    # Python allocations over the round trip bounds what all of them held at once.
    tracemalloc.start()
    try:
        # Vietnam to China: uploaded to the VN relay, forwarded with the envelope, fetched
        # from the CN relay.
        refs = [await upload_path(vn, w["vn_token"], path) for path in (photo, video)]
        envelope = w["vn_officer"].seal([w["cn_officer"]], "Ảnh và lời khai")
        await arrived(cn, w["cn_token"], await declare(vn, w["vn_token"], envelope, refs))
        received = [await save(cn, w["cn_token"], ref, tmp_path / "cn") for ref in refs]

        # And back: the Chinese officer returns both files, uploaded anew to the CN relay.
        back_refs = [await upload_path(cn, w["cn_token"], path) for path in received]
        envelope = w["cn_officer"].seal([w["vn_officer"]], "已收到")
        await arrived(vn, w["vn_token"], await declare(cn, w["cn_token"], envelope, back_refs))
        back = [await save(vn, w["vn_token"], ref, tmp_path / "vn") for ref in back_refs]
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(same_file(a, b) for a, b in zip((photo, video), received, strict=True))
    assert all(same_file(a, b) for a, b in zip((photo, video), back, strict=True))
    assert peak < 64 * MIB, peak
