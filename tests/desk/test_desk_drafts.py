"""Drafts on the desk: a compose form saved encrypted in the home folder (local seal
`liaison/v1/local-draft`), listed, resumed into its form, deleted; a changed file is refused."""

from __future__ import annotations

import re

import aiohttp
from conftest import OpenDesk, csrf_of

from liaison.cli.demo.tour import DemoContext


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
