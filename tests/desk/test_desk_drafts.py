"""Drafts on the desk: a compose form saved encrypted in the home folder (local seal
`liaison/v1/local-draft`), listed, resumed into its form, deleted; a changed file is refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import aiohttp
from conftest import OpenDesk, csrf_of

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import OfficerSession
from liaison.client.drafts import BLOBS_DIR as DRAFT_BLOBS
from liaison.client.home import Home
from liaison.client.spool import SPOOL_DIR


async def test_drafts_are_saved_encrypted_listed_resumed_and_deleted(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    an, _s = await open_desk("an-phone")
    token = csrf_of(await (await an.get("/compose")).text())
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("to", "CN-GX-DXGA")
    form.add_field("text", "Bản nháp về cửa khẩu Bắc Luân")
    form.add_field("action", "draft")
    saved = await an.post("/compose/message", data=form, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/drafts?saved=1"

    notice = await an.post(
        "/compose/notice/verification_request",
        data={
            "csrf_token": token,
            "header.case_ref": "QN-2026-0300",
            "fields.persons.count": "1",
            "fields.persons[0].name": "Lò Văn Nháp",
            "action": "draft",
        },
        allow_redirects=False,
    )
    assert notice.status == 303

    folder = world.officers["an-phone"].root / "drafts"
    files = sorted(folder.glob("*.sealed"))
    assert len(files) == 2
    for path in files:
        data = path.read_bytes()
        assert b"Nh" not in data and "Bắc Luân".encode() not in data and b"QN-2026" not in data
        assert oct(path.stat().st_mode & 0o777) == "0o600"

    listing = await (await an.get("/drafts")).text()
    names = re.findall(r'href="/drafts/([0-9]{19}-[0-9a-f]{8})"', listing)
    assert len(names) == 2 and "QN-2026-0300" in listing
    notice_name, message_name = names  # newest first
    resumed = await (await an.get(f"/drafts/{message_name}")).text()
    assert "Bản nháp về cửa khẩu Bắc Luân" in resumed and 'value="CN-GX-DXGA"' in resumed
    resumed_notice = await (await an.get(f"/drafts/{notice_name}")).text()
    assert 'value="Lò Văn Nháp"' in resumed_notice and 'value="QN-2026-0300"' in resumed_notice

    # A changed byte: the draft no longer opens (left out of the list, not found).
    path = folder / f"{message_name}.sealed"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert (await an.get(f"/drafts/{message_name}")).status == 404
    assert message_name not in await (await an.get("/drafts")).text()

    refused = await an.post(f"/drafts/{notice_name}/delete", data={}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    for name in (notice_name, message_name):
        gone = await an.post(
            f"/drafts/{name}/delete", data={"csrf_token": token}, allow_redirects=False
        )
        assert gone.status == 303
    assert not list(folder.glob("*.sealed"))
    assert (await an.get(f"/drafts/{notice_name}")).status == 404


def _message_form(token: str, action: str, *, to: str = "CN-GX-DXGA", **extra: object):  # type: ignore[no-untyped-def]
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("to", to)
    form.add_field("text", "Bản nháp kèm tệp / 附件草稿")
    for name, value in extra.items():
        if isinstance(value, tuple):
            form.add_field("files", value[1], filename=value[0])
        else:
            form.add_field(name, str(value))
    form.add_field("action", action)
    return form


async def test_a_draft_keeps_its_files_encrypted_and_sends_them_first(
    open_desk: OpenDesk, world: DemoContext, tmp_path: Path
) -> None:
    an, _s = await open_desk("an-phone")
    home = world.officers["an-phone"].root
    marker = b"DRAFT-FILE-MARKER-" + os.urandom(8).hex().encode()
    kept_file, new_file = marker + os.urandom(100_000), os.urandom(5_000)
    token = csrf_of(await (await an.get("/compose")).text())
    saved = await an.post(
        "/compose/message",
        data=_message_form(token, "draft", first=("hồ sơ.pdf", kept_file)),
        allow_redirects=False,
    )
    assert saved.status == 303
    blobs = list((home / DRAFT_BLOBS).glob("*.blob"))
    assert len(blobs) == 1 and marker not in blobs[0].read_bytes()  # ciphertext only
    assert not any((home / SPOOL_DIR).iterdir())
    for path in (home / "drafts").glob("*.sealed"):
        assert marker not in path.read_bytes()
    listing = await (await an.get("/drafts")).text()
    name = re.findall(r'href="/drafts/([0-9]{19}-[0-9a-f]{8})"', listing)[0]
    resumed = await (await an.get(f"/drafts/{name}")).text()
    assert f'name="draft" value="{name}"' in resumed
    assert 'id="kept-files"' in resumed and "hồ sơ.pdf" in resumed

    # A refused send leaves the draft whole, files included.
    refused = await an.post(
        "/compose/message",
        data=_message_form(token, "send", to="CN-GX-DXGA/nobody", draft=name),
    )
    assert refused.status == 400 and 'id="kept-files"' in await refused.text()
    assert list((home / DRAFT_BLOBS).glob("*.blob")) == blobs

    sent = await an.post(
        "/compose/message",
        data=_message_form(token, "send", draft=name, second=("thêm.bin", new_file)),
    )
    text = await sent.text()
    assert sent.status == 200, text
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    assert (await an.get(f"/drafts/{name}")).status == 404  # sent: the draft is gone
    assert not any((home / DRAFT_BLOBS).iterdir())
    li_home = Home(world.officers["li"].root, passphrase=lambda c: DEMO_PASSPHRASE)
    async with OfficerSession.open(li_home) as li:
        saved_files = await li.save_attachments(message_id, tmp_path / "li")
        assert [p.read_bytes() for p in saved_files] == [kept_file, new_file]  # kept first
