"""Client attachment streaming: file to blob chunks and back, resumable, verified, with progress."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from crypto.attachments import CHUNK_SIZE, MAX_ATTACHMENT_SIZE, new_blob_hasher
from crypto.errors import AttachmentDecryptionError, AttachmentError, AttachmentTruncated
from liaison.client.attachments import (
    AttachmentFileError,
    ProgressPrinter,
    blob_chunks,
    decrypt_to_path,
    format_bytes,
    format_duration,
    format_progress,
    prepare_file,
    progress_tenths,
    save_attachment,
    seal_file,
)
from liaison.i18n import current_language, set_language


@pytest.fixture(autouse=True)
def english():
    before = current_language()
    set_language("en")
    yield
    set_language(before)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def collect(chunks) -> bytes:
    return b"".join([c async for c in chunks])


async def stream(data: bytes, piece: int = 50_000, fail_after: int | None = None):
    for pos in range(0, len(data), piece):
        if fail_after is not None and pos >= fail_after:
            raise ConnectionResetError("download dropped")
        yield data[pos : pos + piece]


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2_500_000])
async def test_file_goes_to_blob_chunks_and_back_to_an_identical_file(tmp_path, size):
    data = os.urandom(size)
    sealed = await seal_file(write(tmp_path / "ảnh chụp.jpg", data))
    assert sealed.reference.name == "ảnh chụp.jpg"
    assert sealed.reference.media_type == "image/jpeg" and sealed.reference.size == size
    blob = await collect(blob_chunks(sealed))
    hasher = new_blob_hasher()
    hasher.update(blob)
    assert len(blob) == sealed.blob_size and hasher.digest() == sealed.reference.blob_hash
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    saved = await save_attachment(stream(blob), sealed.reference, inbox)
    assert saved == inbox / "ảnh chụp.jpg" and saved.read_bytes() == data
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert names_in(inbox) == ["ảnh chụp.jpg"]


async def test_name_and_media_type_can_be_given_and_are_sanitised(tmp_path):
    sealed = await seal_file(
        write(tmp_path / "x.bin", b"pdf"),
        name="../secret/Biên bản.pdf",
        media_type="Application/PDF",
    )
    assert (sealed.reference.name, sealed.reference.media_type) == (
        "Biên bản.pdf",
        "application/pdf",
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_upload_resumes_from_any_offset_with_the_same_bytes(tmp_path, seed):
    sealed = await seal_file(write(tmp_path / "video.mp4", os.urandom(3 * 1024 * 1024 + 7)))
    blob = await collect(blob_chunks(sealed))
    start = random.Random(seed).randrange(0, len(blob) + 1)
    assert await collect(blob_chunks(sealed, start=start)) == blob[start:]


async def test_progress_reports_growing_counts_ending_at_the_total(tmp_path):
    sealed_calls: list[tuple[int, int]] = []
    upload_calls: list[tuple[int, int]] = []
    data = os.urandom(2_200_000)
    sealed = await seal_file(
        write(tmp_path / "f.bin", data), progress=lambda d, t: sealed_calls.append((d, t))
    )
    await collect(
        blob_chunks(sealed, start=1000, progress=lambda d, t: upload_calls.append((d, t)))
    )
    for calls, total in ((sealed_calls, len(data)), (upload_calls, sealed.blob_size)):
        dones = [d for d, _ in calls]
        assert dones == sorted(dones) and dones[-1] == total
        assert {t for _, t in calls} == {total}


async def test_a_file_changed_after_sealing_is_not_uploaded_whole(tmp_path):
    path = write(tmp_path / "statement.mp4", os.urandom(500_000))
    sealed = await seal_file(path)
    changed = bytearray(path.read_bytes())
    changed[-10] ^= 1
    path.write_bytes(bytes(changed))
    sent = bytearray()
    with pytest.raises(AttachmentFileError) as refused:
        async for chunk in blob_chunks(sealed):
            sent += chunk
    assert refused.value.code == "attachment_file_changed"
    assert len(sent) < sealed.blob_size  # the final chunk was withheld


async def test_files_over_two_gib_and_non_files_are_refused(tmp_path):
    big = sparse_file(tmp_path / "huge.iso", MAX_ATTACHMENT_SIZE + 1)
    with pytest.raises(AttachmentFileError):
        await seal_file(big)
    with pytest.raises(AttachmentFileError):
        await seal_file(tmp_path)


@pytest.fixture
async def sealed_blob(tmp_path):
    sealed = await seal_file(write(tmp_path / "scan.pdf", os.urandom(400_000)))
    return sealed, await collect(blob_chunks(sealed))


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        out.truncate(size)  # sparse: no disk space used
    return path


async def assert_leaves_nothing(directory: Path, chunks, reference, error) -> None:
    with pytest.raises(error):
        await save_attachment(chunks, reference, directory)
    assert names_in(directory) == []


async def test_tampered_download_leaves_no_file(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    target = tmp_path / "downloads"
    target.mkdir()
    tampered = bytearray(blob)
    tampered[200_000] ^= 0x80
    await assert_leaves_nothing(
        target, stream(bytes(tampered)), sealed.reference, AttachmentDecryptionError
    )


async def test_truncated_download_leaves_no_file(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    target = tmp_path / "downloads"
    target.mkdir()
    cut = 24 + 3 * (CHUNK_SIZE + 17)  # at a chunk boundary
    await assert_leaves_nothing(target, stream(blob[:cut]), sealed.reference, AttachmentTruncated)


async def test_substituted_blob_leaves_no_file(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    other = await seal_file(write(tmp_path / "other.pdf", os.urandom(400_000)))
    target = tmp_path / "downloads"
    target.mkdir()
    await assert_leaves_nothing(target, blob_chunks(other), sealed.reference, AttachmentError)


async def test_dropped_download_leaves_no_file(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    target = tmp_path / "downloads"
    target.mkdir()
    await assert_leaves_nothing(
        target, stream(blob, fail_after=200_000), sealed.reference, ConnectionResetError
    )


async def test_an_existing_file_is_never_replaced(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "scan.pdf").write_bytes(b"theirs")
    (inbox / "scan (1).pdf").write_bytes(b"mine")
    saved = await save_attachment(stream(blob), sealed.reference, inbox)
    assert saved == inbox / "scan (2).pdf" and saved.read_bytes() == sealed.path.read_bytes()
    assert (inbox / "scan.pdf").read_bytes() == b"theirs"
    assert (inbox / "scan (1).pdf").read_bytes() == b"mine"


async def test_decrypt_to_path_refuses_a_target_that_appeared_meanwhile(tmp_path, sealed_blob):
    sealed, blob = sealed_blob
    target = tmp_path / "scan-copy.pdf"
    target.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        await decrypt_to_path(stream(blob), sealed.reference, target)
    assert target.read_bytes() == b"someone else's"
    assert names_in(tmp_path) == ["scan-copy.pdf", "scan.pdf"]


async def test_a_folder_without_hard_links_still_gets_the_verified_file(
    tmp_path, sealed_blob, monkeypatch
):
    sealed, blob = sealed_blob

    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")  # what FAT answers

    monkeypatch.setattr(os, "link", no_links)
    inbox = tmp_path / "usb"
    inbox.mkdir()
    saved = await save_attachment(stream(blob), sealed.reference, inbox)
    assert names_in(inbox) == ["scan.pdf"] and saved.read_bytes() == sealed.path.read_bytes()


# --- the progress line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (6 * 1024**2, "6.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
    ],
)
def test_byte_counts_are_shown_in_binary_units(count, text):
    assert format_bytes(count) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (65.4, "1:05"), (3725, "1:02:05")])
def test_durations_are_minutes_and_seconds(seconds, text):
    assert format_duration(seconds) == text


def test_progress_line_shows_bytes_rate_and_time_left():
    line = format_progress(30 * 1024**2, 300 * 1024**2, 10.0)
    assert line == "30.0 MiB of 300.0 MiB (10%), 3.0 MiB/s, 1:30 left"


def test_progress_line_before_any_rate_is_known():
    assert format_progress(0, 6 * 1024**2, 0.0) == "0 B of 6.0 MiB (0%)"


def test_progress_line_is_translated():
    set_language("vi")
    vi = format_progress(30 * 1024**2, 300 * 1024**2, 10.0)
    set_language("zh")
    zh = format_progress(30 * 1024**2, 300 * 1024**2, 10.0)
    english = "30.0 MiB of 300.0 MiB (10%), 3.0 MiB/s, 1:30 left"
    assert vi != english and zh != english and "3.0 MiB/s" in vi and "3.0 MiB/s" in zh


@pytest.mark.parametrize(
    ("done", "total", "tenths"),
    [(0, 100, 0), (9, 100, 0), (10, 100, 1), (99, 100, 9), (100, 100, 10), (0, 0, 10)],
)
def test_progress_tenths(done, total, tenths):
    assert progress_tenths(done, total) == tenths


def test_without_a_terminal_one_line_per_tenth():
    lines: list[str] = []
    now = [0.0]
    printer = ProgressPrinter(lines.append, tty=False, clock=lambda: now[0])
    total = 1000
    for done in range(0, total + 1, 7):
        now[0] += 0.01
        printer(done, total)
    printer(total, total)
    assert len(lines) == 11 and all(line.endswith("\n") for line in lines)
    assert lines[0].startswith("0 B of") and "(100%)" in lines[-1]


def test_on_a_terminal_the_line_is_redrawn_and_ends_with_a_newline():
    out: list[str] = []
    now = [0.0]
    printer = ProgressPrinter(out.append, tty=True, clock=lambda: now[0])
    for done in (0, 500, 1000):
        now[0] += 1.0
        printer(done, 1000)
    assert len(out) == 3 and all(part.startswith("\r") for part in out)
    assert out[-1].endswith("\n") and not out[1].endswith("\n")


async def test_one_pass_gives_the_blob_and_then_its_reference(tmp_path):
    data = os.urandom(200_000)
    outgoing = await prepare_file(write(tmp_path / "photo.jpg", data))
    assert outgoing.reference is None  # nothing encrypted yet
    blob = await collect(blob_chunks(outgoing))
    assert outgoing.reference is not None and len(blob) == outgoing.blob_size
    hasher = new_blob_hasher()
    hasher.update(blob)
    assert hasher.digest() == outgoing.reference.blob_hash
    assert outgoing.reference.media_type == "image/jpeg"
    # A resumed pass re-creates the same bytes from the same key and header.
    assert await collect(blob_chunks(outgoing, start=70_000)) == blob[70_000:]


@pytest.mark.parametrize("change", [b"", b"grown by a few bytes"])
async def test_a_file_whose_size_changed_before_the_pass_is_refused(tmp_path, change):
    path = write(tmp_path / "scan.pdf", os.urandom(150_000))
    outgoing = await prepare_file(path)
    path.write_bytes(path.read_bytes()[:-1] if not change else path.read_bytes() + change)
    sent = bytearray()
    with pytest.raises(AttachmentFileError):
        async for chunk in blob_chunks(outgoing):
            sent += chunk
    assert len(sent) < outgoing.blob_size and outgoing.reference is None
