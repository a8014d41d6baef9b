"""The relay's blob store alone: resumable uploads, verification, expiry, quota, no plaintext."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from crypto.attachments import AttachmentDecryptor, AttachmentEncryptor, AttachmentRef
from liaison.server.blobs import (
    MIN_BLOB_SIZE,
    UPLOAD_TTL_SECONDS,
    BlobStore,
    UploadOffsetMismatch,
)
from liaison.server.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable

AGENCY = "VN-QN-CA"


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def encrypted(plaintext: bytes) -> tuple[bytes, AttachmentRef]:
    encryptor = AttachmentEncryptor()
    blob = encryptor.update(plaintext) + encryptor.finish()
    return blob, encryptor.reference(name="scan.pdf", media_type="application/pdf")


async def pieces(data: bytes, sizes: list[int] | None = None, fail_after: int | None = None):
    """`data` in pieces; with `fail_after`, the connection drops once that many bytes went."""
    rand = random.Random(len(data))
    pos = 0
    while pos < len(data):
        step = rand.choice(sizes or [1, 100, 4096, 70_000, 1 << 20])
        if fail_after is not None and pos + step > fail_after:
            if fail_after > pos:
                yield data[pos:fail_after]
            raise ConnectionResetError("client went away")
        yield data[pos : pos + step]
        pos += step
        await asyncio.sleep(0)  # let a concurrent upload interleave


async def stored(store: BlobStore, blob_id: str) -> bytes:
    return b"".join([chunk async for chunk in await store.read(blob_id)])


async def upload(store: BlobStore, blob: bytes, ref: AttachmentRef) -> str:
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append(session.session_id, 0, pieces(blob))
    return await store.complete(session.session_id, ref.blob_id)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> BlobStore:
    return BlobStore(tmp_path, clock=clock)


async def test_uploaded_blob_reads_back_and_decrypts(store):
    plaintext = os.urandom(300_000)
    blob, ref = encrypted(plaintext)
    assert await upload(store, blob, ref) == ref.blob_id
    assert await store.exists(ref.blob_id) and await store.size(ref.blob_id) == len(blob)
    decryptor = AttachmentDecryptor(ref)
    out = [decryptor.update(chunk) async for chunk in await store.read(ref.blob_id)]
    assert b"".join(out) + decryptor.finish() == plaintext
    # Nothing of the session is left behind.
    assert [p.name for p in files_under(store.uploads)] == []


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_dropped_upload_resumes_where_it_stopped(store, seed):
    blob, ref = encrypted(os.urandom(500_000))
    cut = random.Random(seed).randrange(1, len(blob))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    with pytest.raises(ConnectionResetError):
        await store.append(session.session_id, 0, pieces(blob, fail_after=cut))
    assert await store.offset(session.session_id) == cut
    assert not await store.exists(ref.blob_id)  # a partial upload is never a blob
    assert await store.append(session.session_id, cut, pieces(blob[cut:])) == len(blob)
    assert await store.complete(session.session_id, ref.blob_id) == ref.blob_id
    assert await stored(store, ref.blob_id) == blob


async def test_upload_resumes_in_a_new_process_from_what_is_on_disk(tmp_path, clock):
    blob, ref = encrypted(os.urandom(200_000))
    first = BlobStore(tmp_path, clock=clock)
    session = await first.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await first.append_bytes(session.session_id, 0, blob[:77_777])
    restarted = BlobStore(tmp_path, clock=clock)
    assert await restarted.offset(session.session_id) == 77_777
    await restarted.append_bytes(session.session_id, 77_777, blob[77_777:])
    assert await restarted.complete(session.session_id, ref.blob_id) == ref.blob_id
    assert await stored(restarted, ref.blob_id) == blob


async def test_append_at_the_wrong_offset_is_refused_with_the_expected_one(store):
    blob, ref = encrypted(os.urandom(1000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append_bytes(session.session_id, 0, blob[:100])
    for wrong in (0, 99, 101, 500):
        with pytest.raises(UploadOffsetMismatch) as refused:
            await store.append_bytes(session.session_id, wrong, blob[wrong:])
        assert refused.value.expected_offset == 100
        assert refused.value.code == "upload_offset_mismatch" and refused.value.status == 409
    assert await store.offset(session.session_id) == 100


async def test_completing_before_every_byte_arrived_is_refused(store):
    blob, ref = encrypted(os.urandom(1000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append_bytes(session.session_id, 0, blob[:500])
    with pytest.raises(UploadOffsetMismatch) as refused:
        await store.complete(session.session_id, ref.blob_id)
    assert refused.value.expected_offset == 500
    assert not await store.exists(ref.blob_id)


async def test_hash_mismatch_at_completion_leaves_nothing(store):
    blob, ref = encrypted(os.urandom(100_000))
    tampered = bytearray(blob)
    tampered[50_000] ^= 1
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append(session.session_id, 0, pieces(bytes(tampered)))
    with pytest.raises(Unprocessable) as refused:
        await store.complete(session.session_id, ref.blob_id)
    assert refused.value.code == "blob_hash_mismatch"
    assert not await store.exists(ref.blob_id)
    assert files_under(store.root) == []
    with pytest.raises(NotFound):
        await store.offset(session.session_id)


async def test_hash_mismatch_is_found_by_rereading_after_a_restart(tmp_path, clock):
    blob, ref = encrypted(os.urandom(10_000))
    first = BlobStore(tmp_path, clock=clock)
    session = await first.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await first.append_bytes(session.session_id, 0, blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(Unprocessable):
        await BlobStore(tmp_path, clock=clock).complete(session.session_id, ref.blob_id)
    assert files_under(first.root) == []


async def test_sizes_outside_the_limits_are_refused(tmp_path, clock):
    store = BlobStore(tmp_path, clock=clock, max_blob_size=10_000)
    blob, ref = encrypted(os.urandom(20_000))
    with pytest.raises(PayloadTooLarge) as refused:
        await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    assert refused.value.code == "blob_too_large"
    for size in (MIN_BLOB_SIZE - 1, -5, True):
        with pytest.raises(BadRequest):
            await store.create_upload(agency=AGENCY, size=size, agency_bytes_in_use=0)
    session = await store.create_upload(agency=AGENCY, size=MIN_BLOB_SIZE, agency_bytes_in_use=0)
    await store.append_bytes(session.session_id, 0, bytes(MIN_BLOB_SIZE))
    with pytest.raises(BadRequest) as refused:
        await store.complete(session.session_id, "../../etc")
    assert refused.value.code == "bad_blob_id"


async def test_the_default_limit_is_the_blob_of_a_two_gib_file(store):
    from crypto.attachments import MAX_CIPHERTEXT_SIZE

    blob, ref = encrypted(b"x")
    with pytest.raises(PayloadTooLarge):
        await store.create_upload(
            agency=AGENCY, size=MAX_CIPHERTEXT_SIZE + 1, agency_bytes_in_use=0
        )
    session = await store.create_upload(
        agency=AGENCY, size=MAX_CIPHERTEXT_SIZE, agency_bytes_in_use=0
    )
    await store.abort(session.session_id)


async def test_bytes_beyond_the_declared_size_are_refused(store):
    blob, ref = encrypted(os.urandom(1000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    with pytest.raises(PayloadTooLarge) as refused:
        await store.append_bytes(session.session_id, 0, blob + b"extra")
    assert refused.value.code == "upload_too_large"
    assert await store.offset(session.session_id) == 0


async def test_quota_counts_stored_bytes_and_open_uploads(tmp_path, clock):
    store = BlobStore(tmp_path, clock=clock, agency_quota_bytes=10_000)
    blob, ref = encrypted(os.urandom(4_000))
    await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=2_000)
    with pytest.raises(PayloadTooLarge) as refused:
        # 2 000 stored + 4 058 open + 4 058 new > 10 000
        await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=2_000)
    assert refused.value.code == "quota_exceeded"
    # Another agency's uploads do not count against this one.
    await store.create_upload(agency="CN-GX-FCG", size=len(blob), agency_bytes_in_use=0)


async def test_open_uploads_expire_after_a_day(store, clock):
    blob, ref = encrypted(os.urandom(1000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append_bytes(session.session_id, 0, blob[:10])

    async def never(blob_id: str) -> bool:
        return False

    clock.now += UPLOAD_TTL_SECONDS - 1
    assert (await store.expire(is_referenced=never)).uploads_removed == 0
    assert await store.offset(session.session_id) == 10
    clock.now += 2
    assert (await store.expire(is_referenced=never)).uploads_removed == 1
    with pytest.raises(NotFound):
        await store.offset(session.session_id)
    assert files_under(store.root) == []


async def test_an_upload_being_written_is_not_expired_under_it(store, clock):
    blob, ref = encrypted(os.urandom(1000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    reached, release = asyncio.Event(), asyncio.Event()

    async def slow_client():
        yield blob[:500]
        reached.set()
        await release.wait()
        yield blob[500:]

    writing = asyncio.create_task(store.append(session.session_id, 0, slow_client()))
    await reached.wait()

    async def never(blob_id: str) -> bool:
        return False

    clock.now += UPLOAD_TTL_SECONDS + 1
    assert (await store.expire(is_referenced=never)).uploads_removed == 0
    release.set()
    assert await writing == len(blob)
    assert await store.complete(session.session_id, ref.blob_id) == ref.blob_id


async def test_unreferenced_blobs_expire_after_a_day_and_referenced_ones_stay(store, clock):
    kept_blob, kept = encrypted(b"referenced by an envelope")
    lost_blob, lost = encrypted(b"never referenced")
    await upload(store, kept_blob, kept)
    await upload(store, lost_blob, lost)
    asked: list[str] = []

    async def referenced(blob_id: str) -> bool:
        asked.append(blob_id)
        return blob_id == kept.blob_id

    report = await store.expire(is_referenced=referenced)
    assert report.blobs_removed == 0 and asked == []  # too young to ask about
    clock.now += UPLOAD_TTL_SECONDS + 1
    assert (await store.expire(is_referenced=referenced)).blobs_removed == 1
    assert await store.exists(kept.blob_id) and not await store.exists(lost.blob_id)


async def test_concurrent_uploads_of_the_same_content_give_one_blob(store):
    blob, ref = encrypted(os.urandom(3_000_000))

    async def one_upload(seed: int) -> str:
        session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
        await store.append(session.session_id, 0, pieces(blob, sizes=[1000 + seed, 65_536]))
        return await store.complete(session.session_id, ref.blob_id)

    assert await asyncio.gather(*(one_upload(i) for i in range(3))) == [ref.blob_id] * 3
    assert await stored(store, ref.blob_id) == blob
    assert files_under(store.root) == [store.blob_path(ref.blob_id)]


async def test_concurrent_appends_to_one_session_do_not_interleave(store):
    blob, ref = encrypted(os.urandom(400_000))
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    results = await asyncio.gather(
        store.append(session.session_id, 0, pieces(blob, sizes=[4096])),
        store.append(session.session_id, 0, pieces(blob, sizes=[4096])),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["UploadOffsetMismatch", "int"]
    assert await store.complete(session.session_id, ref.blob_id) == ref.blob_id


def contains_plaintext(root: Path, plaintext: bytes) -> bool:
    """Whether any file under `root` holds any 32-byte window of `plaintext`."""
    windows = {plaintext[i : i + 32] for i in range(0, len(plaintext) - 32, 997)}
    return any(w in p.read_bytes() for p in files_under(root) for w in windows)


async def test_the_data_folder_holds_no_plaintext_of_an_uploaded_file(tmp_path, clock):
    plaintext = ("Hộ chiếu Việt Nam C1234567 — biên bản bàn giao 交接记录 " * 4000).encode()
    control = tmp_path / "control"
    control.mkdir()
    (control / "file").write_bytes(b"prefix" + plaintext[5000:9000])
    assert contains_plaintext(control, plaintext)  # the search finds plaintext when it is there

    data_dir = tmp_path / "relay"
    store = BlobStore(data_dir, clock=clock)
    blob, ref = encrypted(plaintext)
    session = await store.create_upload(agency=AGENCY, size=len(blob), agency_bytes_in_use=0)
    await store.append_bytes(session.session_id, 0, blob[: len(blob) // 2])
    assert not contains_plaintext(data_dir, plaintext)  # mid-upload
    await store.append_bytes(session.session_id, len(blob) // 2, blob[len(blob) // 2 :])
    await store.complete(session.session_id, ref.blob_id)
    assert files_under(data_dir) and not contains_plaintext(data_dir, plaintext)


async def test_reads_resume_from_an_offset_in_chunks(store):
    blob, ref = encrypted(os.urandom(100_000))
    await upload(store, blob, ref)
    got = [c async for c in await store.read(ref.blob_id, start=12_345, chunk_size=1000)]
    assert b"".join(got) == blob[12_345:]
    assert max(len(c) for c in got) == 1000


async def test_delete_removes_a_blob_once(store):
    blob, ref = encrypted(b"to be purged")
    await upload(store, blob, ref)
    assert await store.delete(ref.blob_id) is True
    assert await store.delete(ref.blob_id) is False
    with pytest.raises(NotFound):
        await store.read(ref.blob_id)
    with pytest.raises(NotFound):
        await store.size(ref.blob_id)


@pytest.mark.parametrize("name", ["../x", "AB" * 32, "", "0" * 63])
async def test_malformed_blob_ids_are_not_found(store, name):
    with pytest.raises(NotFound):
        await store.read(name)


@pytest.mark.parametrize("session_id", ["../../etc/passwd", "0" * 32, "x"])
async def test_unknown_or_malformed_sessions_are_not_found(store, session_id):
    with pytest.raises(NotFound):
        await store.append_bytes(session_id, 0, b"x")
    with pytest.raises(NotFound):
        await store.complete(session_id, "ab" * 32)
