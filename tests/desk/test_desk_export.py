"""Print and PDF on the desk: the read page's A4 print style, and `GET /message/{id}/pdf`,
the notice's signable A4 document as `liaison read ID --pdf` writes it (H2 refused as every
export, a worded page where WeasyPrint is missing)."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient
from conftest import OpenDesk, csrf_of

from liaison.client import notices as notice_ops
from liaison.i18n.pdf import PdfUnavailable, check_pdf_support


async def _send_notice(an: TestClient, li_events, handling: str) -> str:  # type: ignore[no-untyped-def,type-arg]
    page = "/compose/notice/verification_request"
    token = csrf_of(await (await an.get(page)).text())
    answer = await an.post(
        page,
        data={
            "csrf_token": token,
            "header.our_ref": "47/XM-PA08",
            "header.sender_unit": "VN-QN-CA",
            "header.recipient_unit": "CN-GX-DXGA",
            "header.case_ref": "QN-2026-0201",
            "header.handling": handling,
            "header.priority": "urgent",
            "header.reply_by.local": "2026-12-20T16:00",
            "header.reply_by.tz": "Asia/Ho_Chi_Minh",
            "fields.persons.count": "1",
            "fields.persons[0].name": "Lò Văn Sáng",
            "fields.persons[0].sex": "male",
            "fields.persons[0].birth.year": "1999",
            "fields.biometrics": "fingerprints",
            "action": "send",
        },
    )
    text = await answer.text()
    assert answer.status == 200, text
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    await _announced(li_events, message_id)
    return message_id


async def _announced(events, message_id: str) -> None:  # type: ignore[no-untyped-def]
    """Until the desk announces `message_id` (an earlier test's message may come first)."""
    async for line in events.content:
        if line.decode().removeprefix("data: ").strip() == message_id:
            return
    raise AssertionError("the event stream ended")


async def test_a_notice_downloads_as_pdf_and_h2_or_missing_weasyprint_is_worded(
    open_desk: OpenDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await li.get("/events")
    h1 = await asyncio.wait_for(_send_notice(an, events, "H1"), 20)
    h2 = await asyncio.wait_for(_send_notice(an, events, "H2"), 20)

    read = await (await li.get(f"/message/{h1}")).text()
    assert f'href="/message/{h1}/pdf"' in read
    assert f'href="/message/{h2}/pdf"' not in await (await li.get(f"/message/{h2}")).text()
    css = await (await li.get("/static/desk.css")).text()
    assert "@page { size: A4;" in css and "@media print" in css

    refused = await li.get(f"/message/{h2}/pdf")
    assert refused.status == 403 and "H2" in await refused.text()
    assert refused.headers["Content-Type"].startswith("text/html")

    def unavailable(*_args: object, **_kwargs: object) -> bytes:
        raise PdfUnavailable("WeasyPrint is not installed")

    with monkeypatch.context() as patch:
        patch.setattr(notice_ops, "export_bytes", unavailable)
        worded = await li.get(f"/message/{h1}/pdf")
        assert worded.status == 503
        text = await worded.text()
        assert "WeasyPrint" in text and "fonts-noto-cjk" in text

    try:
        check_pdf_support()
    except PdfUnavailable as exc:
        pytest.skip(f"PDF export needs WeasyPrint and its fonts here: {exc}")
    document = await li.get(f"/message/{h1}/pdf")
    assert document.status == 200
    assert document.headers["Content-Type"] == "application/pdf"
    assert document.headers["Content-Disposition"] == f'attachment; filename="{h1}.pdf"'
    assert document.headers["X-Content-Type-Options"] == "nosniff"
    assert (await document.read()).startswith(b"%PDF-")


async def test_a_plain_message_has_no_pdf(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await li.get("/events")
    token = csrf_of(await (await an.get("/compose")).text())
    sent = await an.post(
        "/compose/message", data={"csrf_token": token, "to": "CN-GX-DXGA", "text": "Chào"}
    )
    text = await sent.text()
    assert sent.status == 200, text
    message_id = re.search(r"[0-9a-f]{32}", text).group(0)  # type: ignore[union-attr]
    await asyncio.wait_for(_announced(events, message_id), 10)
    refused = await li.get(f"/message/{message_id}/pdf")
    assert refused.status == 400
    assert "/pdf" not in await (await li.get(f"/message/{message_id}")).text()
