"""No plaintext of an attached file ever touches disk (issue 13, §1): composed, sent, received
on the other desk, shown inline and downloaded, a file carrying a unique marker leaves no copy
of it in either desk's home, in new entries of the system temporary folder, or in the relay's
data folder. A blob changed at the relay is refused mid-stream: the browser gets fewer bytes
than announced, never the end of the file, and the connection is cut."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from conftest import OpenDesk, csrf_of
from e2e_relay import RelayThread

from liaison.cli.demo.tour import DemoContext
from liaison.client.outbox import BLOBS_DIR
from liaison.client.spool import SPOOL_DIR

# A real 1×1 PNG; bytes after its IEND chunk are ignored by image decoders.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f2d6a40000000049454e44ae426082"
)
BIG = 3 * 1024 * 1024 + 12_345  # several blocks: the download is streamed in pieces


def _marked(marker: bytes, size: int) -> bytes:
    """`size` bytes with the marker at the start, in the middle and at the end."""
    filler = os.urandom(size - 3 * len(marker))
    third = len(filler) // 2
    return marker + filler[:third] + marker + filler[third:] + marker


def _files_holding(roots: list[Path], marker: bytes) -> list[Path]:
    """Every readable file under `roots` whose bytes contain `marker`."""
    found = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                if marker in path.read_bytes():
                    found.append(path)
            except OSError:  # another user's entry, or gone meanwhile
                continue
    return found


def _temp_entries() -> set[str]:
    return set(os.listdir(tempfile.gettempdir()))


_WRITES: list[list[str]] = []  # while a list is here, files opened for writing are recorded


def _record_writes(event: str, args: tuple[object, ...]) -> None:
    """An audit hook: every file this process (desks and relay alike) opens for writing,
    even one deleted right after (which no scan of the disk could find)."""
    if event != "open" or not _WRITES or len(args) < 3:
        return
    path, mode, flags = args[0], args[1], args[2]
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)
    )
    if writing and isinstance(path, str | bytes | os.PathLike):
        _WRITES[-1].append(os.fsdecode(path))


sys.addaudithook(_record_writes)


def _written_in_temp(writes: list[str], own: Path) -> list[str]:
    """The paths written in the system temporary folder outside `own` (this test run's)."""
    temp, own = Path(tempfile.gettempdir()).resolve(), own.resolve()
    resolved = [(w, Path(w).resolve()) for w in writes]
    return [w for w, p in resolved if p.is_relative_to(temp) and not p.is_relative_to(own)]


async def _announced(events: aiohttp.ClientResponse, message_id: str) -> None:
    async for line in events.content:
        if line.decode().removeprefix("data: ").strip() == message_id:
            return
    raise AssertionError("the event stream ended")


def _form(token: str, files: list[tuple[str, bytes, str]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("to", "CN-GX-DXGA")
    form.add_field("text", "Hồ sơ kèm theo / 附件")
    for name, data, content_type in files:
        form.add_field("files", data, filename=name, content_type=content_type)
    return form


async def _send_files(
    an: TestClient,
    li: TestClient,
    files: list[tuple[str, bytes, str]],  # type: ignore[type-arg]
) -> str:
    events = await li.get("/events")
    token = csrf_of(await (await an.get("/compose")).text())
    sent = await an.post("/compose/message", data=_form(token, files))
    text = await sent.text()
    assert sent.status == 200 and 'id="queued"' not in text, text
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    await asyncio.wait_for(_announced(events, message_id), 10)
    events.close()
    return message_id


async def test_an_attached_file_leaves_no_plaintext_on_any_disk(
    open_desk: OpenDesk,
    world: DemoContext,
    relay: RelayThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    marker = b"LIAISON-PLAINTEXT-MARKER-" + secrets.token_hex(16).encode()
    document = _marked(marker, BIG)
    image = PNG + marker
    temp_before = _temp_entries()
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    writes: list[str] = []
    _WRITES.append(writes)
    try:
        message_id = await _send_files(
            an,
            li,
            [("hồ sơ.bin", document, "application/octet-stream"), ("ảnh.png", image, "image/png")],
        )
        read = await (await li.get(f"/message/{message_id}")).text()
        assert "verify good" in read and "hồ sơ.bin" in read
        shown = await li.get(f"/message/{message_id}/attachment/1/inline")
        assert shown.status == 200 and await shown.read() == image
        download = await li.get(f"/message/{message_id}/attachment/0")
        assert download.status == 200
        assert download.headers["Content-Length"] == str(len(document))
        assert await download.read() == document
    finally:
        _WRITES.remove(writes)

    # Nothing was even opened for writing in the temporary folder but this run's own folders
    # (the homes and the relay live there), not even a file deleted at once.
    assert _written_in_temp(writes, tmp_path_factory.getbasetemp()) == []
    # What the desks wrote in their homes during the exchange: sealed items and blobs.
    assert writes, "the audit hook saw the desks write"

    homes = [world.officers[name].root for name in ("an-phone", "li")]
    temp = Path(tempfile.gettempdir())
    new_in_temp = [temp / name for name in _temp_entries() - temp_before]
    assert _files_holding([*homes, relay.data_dir, *new_in_temp], marker) == []
    # The sender's spool and outbox keep no blob once the message is delivered.
    sender = world.officers["an-phone"].root
    for folder in (sender / SPOOL_DIR, sender / BLOBS_DIR):
        assert not folder.exists() or not any(folder.iterdir())


def test_the_scan_finds_a_marker_written_to_disk(tmp_path: Path) -> None:
    """The scan above is not vacuous: a file holding the marker is found."""
    marker = b"LIAISON-PLAINTEXT-MARKER-" + secrets.token_hex(16).encode()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "copy").write_bytes(os.urandom(1000) + marker)
    assert _files_holding([tmp_path], marker) == [tmp_path / "deep" / "er" / "copy"]


def _stored_blob(relay: RelayThread, size: int) -> Path:
    """The relay's blob file of exactly `size` bytes (the one this test uploaded)."""
    found = [
        p
        for p in (relay.data_dir / "blobs").glob("??/*")
        if p.is_file() and p.stat().st_size == size
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("where", ["end", "start"])
async def test_a_changed_blob_is_cut_off_mid_stream_without_its_end(
    open_desk: OpenDesk, relay: RelayThread, where: str
) -> None:
    from crypto.attachments import ciphertext_size

    size = BIG + (1 if where == "end" else 2)  # a blob size of its own, to find it at the relay
    document = os.urandom(size)
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    message_id = await _send_files(an, li, [("bien-ban.bin", document, "application/pdf")])
    stored = _stored_blob(relay, ciphertext_size(size))
    data = bytearray(stored.read_bytes())
    offset = len(data) - 100 if where == "end" else 1000
    data[offset] ^= 0x01
    stored.chmod(0o600)
    stored.write_bytes(bytes(data))

    download = await li.get(f"/message/{message_id}/attachment/0")
    if where == "start":
        # Met before the first piece was due: the desk's error page, not a file.
        assert download.status == 502
        assert download.headers["Content-Type"].startswith("text/html")
        assert "Content-Disposition" not in download.headers
        return
    assert download.status == 200
    assert download.headers["Content-Length"] == str(size)
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async for piece in download.content.iter_chunked(64 * 1024):
            received += piece
    assert 0 < len(received) < size  # streamed: the start went out before the change was met
    assert bytes(received) == document[: len(received)]  # what came was authentic
    assert document[-1000:] not in bytes(received)  # the held-back end never did
