"""The ciphertext spool and streamed decryption: a file's bytes become a blob as they arrive
(no plaintext written), the blob reads back from any offset, decrypts only as the reference
says, holds back its end until verified; outbox items keep their blobs and drop them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crypto.attachments import CHUNK_SIZE, ciphertext_size
from crypto.errors import AttachmentError, MalformedError
from crypto.keys import DeviceKeys
from liaison.client import spool as spool_module
from liaison.client.attachments import AttachmentFileError, decrypt_stream
from liaison.client.home import Home
from liaison.client.outbox import BLOBS_DIR, Outbox
from liaison.client.payload import Payload
from liaison.client.spool import SpooledBlob, SpoolTooLarge, spool_file, spool_stream, sweep


async def _pieces(data: bytes, size: int = 70_000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _collect(chunks) -> bytes:
    return b"".join([c async for c in chunks])


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 2_500_000 + 3])
async def test_a_stream_spools_to_a_blob_that_decrypts_to_the_same_bytes(tmp_path, size):
    data = os.urandom(size)
    blob = await spool_stream(tmp_path / "spool", _pieces(data), name="../biên bản.pdf")
    assert blob.reference.name == "biên bản.pdf" and blob.reference.media_type == "application/pdf"
    assert blob.reference.size == size
    stored = blob.path.read_bytes()
    assert len(stored) == ciphertext_size(size) == blob.blob_size
    assert stat.S_IMODE(blob.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    if size >= 16:
        assert data[:16] not in stored  # ciphertext only
    assert await _collect(blob.chunks()) == stored
    assert await _collect(blob.chunks(start=len(stored) // 3)) == stored[len(stored) // 3 :]
    assert await _collect(decrypt_stream(_pieces(stored), blob.reference)) == data


async def test_a_stream_past_the_limit_is_refused_and_leaves_no_blob(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_module, "MAX_ATTACHMENT_SIZE", 100_000)
    with pytest.raises(SpoolTooLarge):
        await spool_stream(tmp_path, _pieces(os.urandom(150_000)), name="big.bin")
    assert list(tmp_path.iterdir()) == []


async def test_the_streamed_plaintext_never_gives_the_end_of_a_changed_blob(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    blob = await spool_stream(tmp_path, _pieces(data), name="scan.bin")
    stored = bytearray(blob.path.read_bytes())
    stored[-50] ^= 1  # in the final chunk
    received = bytearray()
    with pytest.raises(AttachmentError):
        async for piece in decrypt_stream(_pieces(bytes(stored)), blob.reference):
            received += piece
    assert 0 < len(received) < len(data) - CHUNK_SIZE
    assert bytes(received) == data[: len(received)]


async def test_a_blob_cut_short_on_disk_is_refused_when_read(tmp_path):
    blob = await spool_stream(tmp_path, _pieces(os.urandom(200_000)), name="x.bin")
    with blob.path.open("r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(AttachmentFileError) as caught:
        await _collect(blob.chunks())
    assert caught.value.code == "attachment_file_changed"


async def test_an_outbox_item_keeps_its_blobs_sealed_and_drops_them_when_deleted(tmp_path):
    home = Home(tmp_path / "home")
    home.ensure()
    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(10_000))
    blob = await spool_file(tmp_path / "home" / "spool", source)
    outbox = Outbox(home, DeviceKeys.generate())
    item = outbox.add(["CN-GX-DXGA"], Payload.text("ảnh"), now=1, blobs=[blob])
    assert not blob.path.exists()  # moved: the outbox owns it now
    (kept,) = item.blobs
    assert kept.path.parent == home.root / BLOBS_DIR and kept.path.exists()
    loaded = outbox.load(item.name)
    assert loaded.blobs == item.blobs
    assert loaded.payload.attachments == (blob.reference,)  # the key travels sealed only
    sealed = (home.root / "outbox" / f"{item.name}.sealed").read_bytes()
    assert blob.reference.file_key not in sealed
    outbox.delete(item.item_id)
    assert not kept.path.exists()


def test_a_spooled_blob_names_only_a_plain_file_in_its_folder(tmp_path: Path):
    with pytest.raises(MalformedError, match="plain"):
        SpooledBlob.from_json(tmp_path, {"file": "../x.blob", "attachment": {}})


async def test_a_sweep_removes_only_blobs_left_long_ago(tmp_path):
    old = await spool_stream(tmp_path, _pieces(b"old"), name="old.bin")
    fresh = await spool_stream(tmp_path, _pieces(b"fresh"), name="fresh.bin")
    os.utime(old.path, (1_000_000, 1_000_000))
    assert sweep(tmp_path, older_than=3600) == 1
    assert not old.path.exists() and fresh.path.exists()
    assert sweep(tmp_path / "missing", older_than=3600) == 0
