"""Files on the desk over a real relay: a plain message composed with files (a streamed
multipart form, its CSRF token checked from the first part), its attachments listed on the
other desk, downloaded decrypted and verified, an image shown inline from the desk itself."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path

import aiohttp
from conftest import OpenDesk, csrf_of

# A real 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f2d6a40000000049454e44ae426082"
)
TEXT_FILE = "Biên bản bàn giao\n".encode() + os.urandom(70_000)


def _form(token: str, *, token_first: bool = True, files: bool = True) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if token_first:
        form.add_field("csrf_token", token)
    form.add_field("to", "CN-GX-DXGA")
    form.add_field("text", "Ảnh cửa khẩu và biên bản")
    if not token_first:
        form.add_field("csrf_token", token)
    if files:
        form.add_field("files", PNG, filename="cửa khẩu.png", content_type="image/png")
        form.add_field("files", TEXT_FILE, filename="bien-ban.bin")
    return form


async def _announced(events: aiohttp.ClientResponse, message_id: str) -> None:
    """Until the desk announces `message_id` (an earlier test's message may come first)."""
    async for line in events.content:
        if line.decode().removeprefix("data: ").strip() == message_id:
            return
    raise AssertionError("the event stream ended")


def _private_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("liaison-desk-*"))


async def test_a_message_with_files_reads_with_downloads_and_an_inline_image(
    open_desk: OpenDesk,
) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await li.get("/events")  # open before sending: the arrival is announced
    page = await (await an.get("/compose")).text()
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    token = csrf_of(page)
    before = _private_folders()
    sent = await an.post("/compose/message", data=_form(token))
    text = await sent.text()
    assert sent.status == 200, text
    assert _private_folders() == before  # the temporary copies are gone
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    await asyncio.wait_for(_announced(events, message_id), 10)

    read = await (await li.get(f"/message/{message_id}")).text()
    assert "verify good" in read and "Ảnh cửa khẩu và biên bản" in read
    assert "cửa khẩu.png" in read and "image/png" in read and "bien-ban.bin" in read
    assert f'<img src="/message/{message_id}/attachment/0/inline"' in read
    assert f"/message/{message_id}/attachment/1/inline" not in read  # not an image

    image = await li.get(f"/message/{message_id}/attachment/0/inline")
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert "img-src 'self'" in image.headers["Content-Security-Policy"]
    assert await image.read() == PNG

    download = await li.get(f"/message/{message_id}/attachment/1")
    assert download.status == 200
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert await download.read() == TEXT_FILE
    assert _private_folders() == before

    not_an_image = await li.get(f"/message/{message_id}/attachment/1/inline")
    assert not_an_image.status == 404
    missing = await li.get(f"/message/{message_id}/attachment/2")
    assert missing.status == 404


async def test_the_csrf_token_must_come_first_before_any_file_is_read(
    open_desk: OpenDesk,
) -> None:
    an, _s = await open_desk("an-phone")
    token = csrf_of(await (await an.get("/compose")).text())
    before = _private_folders()
    for form in (_form(token, token_first=False), _form("forged")):
        refused = await an.post("/compose/message", data=form)
        assert refused.status == 403
        assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert _private_folders() == before
    # Without files, the same multipart form sends the text (through the outbox as before).
    sent = await an.post("/compose/message", data=_form(token, files=False))
    assert sent.status == 200, await sent.text()


NOTICE = {
    "header.our_ref": "48/XM-PA08",
    "header.sender_unit": "VN-QN-CA",
    "header.recipient_unit": "CN-GX-DXGA",
    "header.case_ref": "QN-2026-0202",
    "header.handling": "H1",
    "header.priority": "urgent",
    "header.reply_by.local": "2026-12-20T16:00",
    "header.reply_by.tz": "Asia/Ho_Chi_Minh",
    "fields.persons.count": "1",
    "fields.persons[0].name": "Lò Thị Hoa",
    "fields.persons[0].sex": "female",
    "fields.persons[0].birth.year": "2003",
    "fields.biometrics": "fingerprints",
}


def _notice_form(token: str, photo: str, files: int, action: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    for name, value in {**NOTICE, "fields.persons[0].photo": photo, "action": action}.items():
        form.add_field(name, value)
    for number in range(files):
        form.add_field("files", PNG, filename=f"anh-{number}.png", content_type="image/png")
    return form


async def test_a_notice_form_attaches_files_its_photo_field_picks_by_index(
    open_desk: OpenDesk,
) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await li.get("/events")
    page_path = "/compose/notice/verification_request"
    page = await (await an.get(page_path)).text()
    assert 'enctype="multipart/form-data"' in page and 'name="fields.persons[0].photo"' in page
    token = csrf_of(page)

    # Index 1 with one file chosen: refused as `liaison notice check --file` refuses it,
    # the message next to the person's photo field.
    refused = await an.post(page_path, data=_notice_form(token, "1", 1, "check"))
    assert refused.status == 400
    text = await refused.text()
    block = text[text.index('id="f-fields-persons-0--photo"') :]
    assert 'class="field-error"' in block[: block.index("</div>")]
    assert "fields.persons[0].photo" in text

    # Two files: index 1 is the second; sent with both, read with both on the other desk.
    before = _private_folders()
    sent = await an.post(page_path, data=_notice_form(token, "1", 2, "send"))
    text = await sent.text()
    assert sent.status == 200, text
    assert _private_folders() == before
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    await asyncio.wait_for(_announced(events, message_id), 10)
    read = await (await li.get(f"/message/{message_id}")).text()
    assert "verify good" in read and "Lò Thị Hoa" in read
    assert "anh-0.png" in read and "anh-1.png" in read
    image = await li.get(f"/message/{message_id}/attachment/1/inline")
    assert image.status == 200 and await image.read() == PNG


def test_only_images_small_enough_to_verify_in_memory_are_shown_inline() -> None:
    from crypto.attachments import AttachmentRef
    from liaison.desk.views import MAX_INLINE_BYTES, shown_inline

    def ref(media_type: str, size: int) -> AttachmentRef:
        return AttachmentRef(
            blob_hash=bytes(32), size=size, name="x", media_type=media_type, file_key=bytes(32)
        )

    assert shown_inline(ref("image/png", MAX_INLINE_BYTES))
    assert not shown_inline(ref("image/png", MAX_INLINE_BYTES + 1))
    assert not shown_inline(ref("image/svg+xml", 100))
