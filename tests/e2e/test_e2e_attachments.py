"""Attachments over a real relay on loopback (crypto/PROTOCOL.md section 14): files go from a
Vietnamese officer to a Chinese one and back verified; uploads resume after a dropped
connection; tampering on the relay's disk is refused; only the envelope's parties may fetch;
the relay's data folder never holds a file's plaintext."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.attachments import CHUNK_SIZE
from crypto.errors import AttachmentError
from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import OfficerSession
from liaison.client.attachments import prepare_file, upload_file
from liaison.client.errors import ServerError
from liaison.client.home import Home
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient
from liaison.server.blobs import BLOBS_DIR
from tests.attachment_files import MIB, DroppingProxy, random_file, same_file
from tests.e2e.e2e_relay import RelayThread, demo_world

SIZES = (0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * 1024 * 1024 + 5)


def _home(ctx, name: str) -> Home:
    return Home(ctx.officers[name].root, passphrase=lambda c: DEMO_PASSPHRASE)


def _files(folder: Path, sizes: tuple[int, ...]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, size in enumerate(sizes):
        path = folder / f"ảnh {number}.jpg"
        path.write_bytes(random.Random(size).randbytes(size))
        paths.append(path)
    return paths


def _blob_files(relay: RelayThread) -> list[Path]:
    root = relay.data_dir / BLOBS_DIR
    return sorted(p for p in root.glob("??/*") if p.is_file())


def test_files_go_to_the_other_agency_and_back_verified(
    any_relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(any_relay, tmp_path / "world", "pins")
    files = _files(tmp_path / "out", SIZES)
    progress: dict[str, list[tuple[int, int]]] = {}

    def track(name: str) -> Callable[[int, int], None]:
        calls = progress.setdefault(name, [])
        return lambda done, total: calls.append((done, total))

    async def exchange() -> tuple[str, list[Path], list[Path]]:
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            sent = await an.send(
                ["CN-GX-DXGA"], Payload.text("Ảnh và biên bản"), files=files, progress=track
            )
        async with OfficerSession.open(_home(ctx, "li")) as li:
            await li.sync()
            saved = await li.save_attachments(sent.message_id, tmp_path / "li")
            # And back: Lý Vĩ forwards the largest file as a new upload to the sender.
            reply = await li.send(
                ["VN-QN-CA/nguyen.van.an"], Payload.text("回复"), files=saved[-1:]
            )
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            await an.sync()
            back = await an.save_attachments(reply.message_id, tmp_path / "back")
        return sent.message_id, saved, back

    _message_id, saved, back = asyncio.run(exchange())
    assert [p.name for p in saved] == [p.name for p in files]
    assert [p.read_bytes() for p in saved] == [p.read_bytes() for p in files]
    assert back[0].read_bytes() == files[-1].read_bytes()
    for name, calls in progress.items():
        done = [d for d, _ in calls]
        assert done == sorted(done) and calls[-1][0] == calls[-1][1], name
    # Blobs are ciphertext: no file's plaintext appears anywhere in the relay's data folder.
    big = files[-1].read_bytes()
    for path in any_relay.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert big[1000:1064] not in content and big[-64:] not in content, path
    assert len(_blob_files(any_relay)) == len(SIZES) + 1


def test_only_the_parties_of_a_declaring_envelope_may_fetch(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    (photo,) = _files(tmp_path / "out", (100_000,))

    async def run() -> None:
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            ref = await an.upload_file(photo)
            api = an.api
            # Uploaded, not yet declared: nobody may fetch it, not even its uploader.
            with pytest.raises(ServerError) as refused:
                await _drain(api.fetch_blob(ref.blob_id))
            assert refused.value.code == "unknown_blob"
            sent = await an.send(["CN-GX-DXGA"], Payload(Payload.text("x").content_type, b"x",
                                                         attachments=(ref,)))  # fmt: skip
            assert len(await _drain(api.fetch_blob(ref.blob_id))) == ref.blob_size
        async with OfficerSession.open(_home(ctx, "binh")) as binh:
            await binh.sync()  # signs in
            with pytest.raises(ServerError) as refused:
                await _drain(binh.api.fetch_blob(ref.blob_id))
            assert refused.value.status == 404
            # Nor may another agency's officer declare a blob it cannot fetch.
        async with OfficerSession.open(_home(ctx, "li")) as li:
            await li.sync()
            assert len(await _drain(li.api.fetch_blob(ref.blob_id, start=7))) == ref.blob_size - 7
            assert sent.message_id

    asyncio.run(run())


async def _drain(chunks) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.parametrize("tamper", ["flip", "truncate", "replace"])
def test_a_blob_changed_on_the_relay_is_refused_and_leaves_no_file(
    relay: RelayThread, tmp_path: Path, tamper: str
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    first, second = _files(tmp_path / "out", (300_000, 300_001))

    async def run() -> None:
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            sent = await an.send(["CN-GX-DXGA"], Payload.text("x"), files=[first, second])
        blobs = {p.stat().st_size: p for p in _blob_files(relay)}
        target = min(blobs.items())[1]  # the first file's blob (one byte shorter)
        data = bytearray(target.read_bytes())
        if tamper == "flip":
            data[len(data) // 2] ^= 0x40
        elif tamper == "truncate":
            del data[-100:]
        else:
            data = bytearray(max(blobs.items())[1].read_bytes())
        target.write_bytes(bytes(data))
        inbox = tmp_path / "li"
        inbox.mkdir()
        async with OfficerSession.open(_home(ctx, "li")) as li:
            await li.sync()
            with pytest.raises(AttachmentError):
                await li.save_attachments(sent.message_id, inbox)
        assert os.listdir(inbox) == []  # nothing partial left looking complete

    asyncio.run(run())


@pytest.mark.parametrize("seed", [1, 2])
def test_an_upload_resumes_after_a_dropped_connection(
    relay: RelayThread, tmp_path: Path, seed: int
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    (video,) = _files(tmp_path / "out", (2 * 1024 * 1024 + seed,))
    cut = random.Random(seed).randrange(100_000, 2 * 1024 * 1024)

    async def run() -> None:
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            await an.sync()  # signs in through the relay itself
            token = an.api.token
            proxy = DroppingProxy(relay.port, cut)
            base = await proxy.start()
            try:
                async with ApiClient(base, token=token) as api:
                    outgoing = await prepare_file(video)
                    ref = await upload_file(api, outgoing, retry_delay=0)
                    assert proxy.cuts == 1
            finally:
                await proxy.close()
            sent = await an.send(["CN-GX-DXGA"], Payload(Payload.text("x").content_type, b"v",
                                                         attachments=(ref,)))  # fmt: skip
        async with OfficerSession.open(_home(ctx, "li")) as li:
            await li.sync()
            (saved,) = await li.save_attachments(sent.message_id, tmp_path / "li")
        assert saved.read_bytes() == video.read_bytes()

    asyncio.run(run())


def test_the_command_line_sends_files_and_saves_them_with_progress(
    relay: RelayThread, tmp_path: Path, cli
) -> None:
    import json

    ctx = demo_world(relay, tmp_path / "world", "pins")
    photo, scan = _files(cli.folder / "out", (12_000_000, 5))
    sent = cli.at(
        _home(ctx, "an-phone"),
        "send", "--to", "CN-GX-DXGA", "--text", "Ảnh", "--file", str(photo), "--file", str(scan),
        "--json",
    )  # fmt: skip
    message_id = json.loads(sent.stdout)["message_id"]
    # Not a terminal: the file's name, then a line per 10 % of each transfer, on stderr.
    assert photo.name in sent.stderr and "(100%)" in sent.stderr
    assert 10 <= sum("%)" in line for line in sent.stderr.splitlines()) <= 13
    li = _home(ctx, "li")
    cli.at(li, "inbox")
    shown = json.loads(cli.at(li, "read", message_id, "--json").stdout)
    assert [a["name"] for a in shown["attachments"]] == [photo.name, scan.name]
    assert all(set(a) == {"name", "size", "media_type"} for a in shown["attachments"])
    saved = cli.at(li, "read", message_id, "--save", str(tmp_path / "saved"))
    assert "Saved" in saved.stdout
    for original in (photo, scan):
        assert (tmp_path / "saved" / original.name).read_bytes() == original.read_bytes()
    missing = cli.at(li, "send", "--to", "VN-QN-CA", "--file", "nope.pdf", ok=False)
    assert "Cannot read nope.pdf" in missing.stderr


@pytest.mark.slow
def test_a_hundred_megabyte_file_goes_through_and_back(relay: RelayThread, tmp_path: Path) -> None:
    ctx = demo_world(relay, tmp_path / "world", "pins")
    video = tmp_path / "statement.mp4"
    with open(video, "wb") as out:
        for _ in range(100):
            out.write(os.urandom(1_000_000))

    async def run() -> Path:
        async with OfficerSession.open(_home(ctx, "an-phone")) as an:
            sent = await an.send(["CN-GX-DXGA"], Payload.text("video"), files=[video])
        async with OfficerSession.open(_home(ctx, "li")) as li:
            await li.sync()
            (saved,) = await li.save_attachments(sent.message_id, tmp_path / "li")
        return saved

    saved = asyncio.run(run())
    with open(video, "rb") as one, open(saved, "rb") as other:
        while block := one.read(1 << 20):
            assert block == other.read(1 << 20)
        assert other.read(1) == b""


# --- Done when (issue 16): a photo and a video to China and back through the CLI ---------------


def _measured(cli, home: Home, *args: str) -> tuple[str, str, int]:
    """`liaison ARGS --home HOME` in a child process: (stdout, stderr, peak resident bytes of
    that child alone, from wait4)."""
    import subprocess
    import sys

    out, err = cli.folder / "measured.out", cli.folder / "measured.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "liaison", *args, "--home", str(home.root)],
            env=cli.env(None, LIAISON_PASSPHRASE=DEMO_PASSPHRASE),
            cwd=cli.folder,
            stdout=stdout,
            stderr=stderr,
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    shown_err = err.read_text(encoding="utf-8")
    assert child.returncode == 0, f"liaison {' '.join(args)} failed:\n{shown_err}"
    return out.read_text(encoding="utf-8"), shown_err, usage.ru_maxrss * 1024


@pytest.mark.parametrize(
    "video_size",
    [20 * MIB, pytest.param(300 * 1000 * 1000, marks=pytest.mark.slow, id="300MB")],
)
def test_a_photo_and_a_video_go_to_china_and_back_through_the_cli_in_bounded_memory(
    relay: RelayThread, tmp_path: Path, cli, video_size: int
) -> None:
    import json

    ctx = demo_world(relay, tmp_path / "world", "pins")
    an, li = _home(ctx, "an-phone"), _home(ctx, "li")
    out = cli.folder / "out"
    out.mkdir()
    photo = random_file(out / "ảnh-chân-dung.jpg", 6 * 1000 * 1000, 1)
    video = random_file(out / "lời-khai.mp4", video_size, 2)
    tiny = random_file(out / "tiny.txt", 1, 3)

    # The same commands with a one-byte file: the resident size of a CLI that holds no file.
    idle = {}
    sent = json.loads(
        cli.at(an, "send", "--to", "CN-GX-DXGA", "--file", str(tiny), "--json").stdout
    )
    cli.at(li, "inbox")
    _o, _e, idle["send"] = _measured(
        cli, an, "send", "--to", "CN-GX-DXGA", "--file", str(tiny), "--json"
    )
    _o, _e, idle["save"] = _measured(
        cli, li, "read", sent["message_id"], "--save", str(tmp_path / "tiny")
    )

    # Vietnam to China: the officer sees each file's progress on stderr (a line per 10 %).
    stdout, stderr, peak_send = _measured(
        cli, an, "send", "--to", "CN-GX-DXGA", "--text", "Ảnh và lời khai",
        "--file", str(photo), "--file", str(video), "--json",
    )  # fmt: skip
    message_id = json.loads(stdout)["message_id"]
    for original in (photo, video):
        assert original.name in stderr
    assert stderr.count("(100%)") == 2
    assert sum("%)" in line and "MiB/s" in line for line in stderr.splitlines()) >= 10
    cli.at(li, "inbox")
    _stdout, stderr, peak_save = _measured(
        cli, li, "read", message_id, "--save", str(tmp_path / "li")
    )
    received = [tmp_path / "li" / p.name for p in (photo, video)]
    assert all(same_file(a, b) for a, b in zip((photo, video), received, strict=True))
    assert stderr.count("(100%)") == 2

    # And back: the Chinese officer returns both files to the Vietnamese officer.
    stdout, _stderr, _peak = _measured(
        cli, li, "send", "--to", "VN-QN-CA/nguyen.van.an", "--text", "已收到",
        "--file", str(received[0]), "--file", str(received[1]), "--json",
    )  # fmt: skip
    reply_id = json.loads(stdout)["message_id"]
    cli.at(an, "inbox")
    _measured(cli, an, "read", reply_id, "--save", str(tmp_path / "back"))
    back = [tmp_path / "back" / p.name for p in (photo, video)]
    assert all(same_file(a, b) for a, b in zip((photo, video), back, strict=True))

    # Bounded memory: neither side's CLI grows with the file (64 MiB above the idle CLI).
    assert peak_send - idle["send"] < 64 * MIB, (peak_send, idle)
    assert peak_save - idle["save"] < 64 * MIB, (peak_save, idle)
