"""The desk's pages over a real relay: live inbox, search, notice forms checked as
`liaison notice check` checks them, reading with verification, H2 forwarding refused."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from conftest import OpenDesk, csrf_of

from liaison.cli.demo.tour import DemoContext
from liaison.desk.forms import other_country_time
from liaison.desk.inbox import InboxEntry, InboxFilter, InboxIndex
from liaison.domain.notices import search_key


async def _listen(client: TestClient) -> ClientResponse:  # type: ignore[type-arg]
    """The desk's event stream, open: once its headers are here, no announcement is missed."""
    events = await client.get("/events")
    assert events.headers["Content-Type"].startswith("text/event-stream")
    return events


async def _next_message(events: ClientResponse) -> str:
    """The id of the next message the event stream announces."""
    async for line in events.content:
        text = line.decode().strip()
        if text.startswith("data: "):
            return text.removeprefix("data: ")
    raise AssertionError("the event stream ended")


async def _post_form(client: TestClient, page: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def,type-arg]
    token = csrf_of(await (await client.get(page)).text())
    return await client.post(action, data={"csrf_token": token, **data})


async def test_a_message_appears_live_and_is_found_without_diacritics(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li", idle_lock_seconds=600)
    events = await _listen(li)
    sent = await _post_form(
        an,
        "/compose",
        "/compose/message",
        {"to": "CN-GX-DXGA", "text": "Họp tại cửa khẩu Đông Hưng"},
    )
    assert sent.status == 200, await sent.text()
    message_id = re.search(r"[0-9a-f]{32}", await sent.text()).group(0)  # type: ignore[union-attr]
    assert await asyncio.wait_for(_next_message(events), 10) == message_id
    rows = await (await li.get("/?rows=1")).text()
    assert message_id in rows and "Đông Hưng" in rows
    found = await (await li.get("/?q=dong+hung&rows=1")).text()
    assert message_id in found
    missed = await (await li.get("/?q=hanoi&rows=1")).text()
    assert message_id not in missed
    page = await (await li.get(f"/message/{message_id}")).text()
    assert "verify good" in page and "Họp tại cửa khẩu Đông Hưng" in page
    unread = await (await li.get("/?unread=1&rows=1")).text()
    assert message_id not in unread


async def test_the_notice_form_reports_the_check_next_to_the_field(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    answer = await _post_form(
        an,
        "/compose/notice/verification_request",
        "/compose/notice/verification_request",
        {
            "header.our_ref": "45/XM-PA08",
            "header.sender_unit": "VN-QN-CA",
            "header.recipient_unit": "CN-GX-DXGA",
            "header.case_ref": "QN-2026-0117",
            "header.handling": "H1",
            "header.priority": "normal",
            "fields.persons.count": "1",
            "fields.persons[0].sex": "female",
            "action": "check",
        },
    )
    assert answer.status == 400
    page = await answer.text()
    # The first failing field (the person's name) carries the message, in Vietnamese.
    block = page[page.index('id="f-fields-persons-0--name"') :]
    assert 'class="field-error"' in block[: block.index("</div>")]
    assert "fields.persons[0].name" in page


async def test_a_notice_sent_from_the_form_reads_bilingual_and_h2_is_not_forwarded(
    open_desk: OpenDesk,
) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await _listen(li)
    answer = await _post_form(
        an,
        "/compose/notice/verification_request",
        "/compose/notice/verification_request",
        {
            "header.our_ref": "46/XM-PA08",
            "header.sender_unit": "VN-QN-CA",
            "header.recipient_unit": "CN-GX-DXGA",
            "header.case_ref": "QN-2026-0200",
            "header.handling": "H2",
            "header.priority": "urgent",
            "header.reply_by.local": "2026-12-20T16:00",
            "header.reply_by.tz": "Asia/Ho_Chi_Minh",
            "fields.persons.count": "1",
            "fields.persons[0].name": "Lò Thị Mai",
            "fields.persons[0].sex": "female",
            "fields.persons[0].birth.year": "2004",
            "fields.persons[0].birth.estimated": "on",
            "fields.biometrics": "fingerprints",
            "action": "send",
        },
    )
    assert answer.status == 200, await answer.text()
    message_id = await asyncio.wait_for(_next_message(events), 10)
    urgent = await (await li.get("/?urgent=1&type=verification_request&rows=1")).text()
    assert message_id in urgent
    page = await (await li.get(f"/message/{message_id}")).text()
    assert "verify good" in page
    assert 'lang="vi"' in page and 'lang="zh-Hans-CN"' in page
    assert "Lò Thị Mai" in page and "H2" in page
    reply = await (
        await li.get(f"/compose/notice/verification_result?reply_to={message_id}")
    ).text()
    assert f'name="fields.in_reply_to" value="{message_id}"' in reply
    assert 'name="header.recipient_unit" value="VN-QN-CA"' in reply
    assert 'name="header.their_ref" value="46/XM-PA08"' in reply
    refused = await _post_form(
        li, f"/message/{message_id}", f"/message/{message_id}/forward", {"to": "VN-QN-BP"}
    )
    assert refused.status == 403
    assert "H2" in await refused.text()


def test_the_other_countrys_time_crosses_midnight() -> None:
    assert other_country_time("2026-12-03T23:30", "Asia/Ho_Chi_Minh") == "2026-12-04 00:30"
    assert other_country_time("2026-12-04T00:30", "Asia/Shanghai") == "2026-12-03 23:30"
    assert other_country_time("not a time", "Asia/Shanghai") == ""


def test_inbox_pages_by_key_through_ten_thousand_messages() -> None:
    index = InboxIndex()
    index.extend(
        InboxEntry(
            message_id=f"{i:032x}",
            log_index=i,
            sent_at=0,
            sender_names={},
            sender_device="d",
            kind="text",
            title=f"message {i}",
            urgent=i % 7 == 0,
            search_text=search_key(f"Cửa khẩu {i}"),
        )
        for i in range(10_000, 0, -1)
    )
    seen: list[int] = []
    before = None
    while True:
        page = index.page(InboxFilter(urgent=True), before=before, size=100)
        seen.extend(e.log_index for e in page.entries)
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [i for i in range(10_000, 0, -1) if i % 7 == 0]
    hit = index.page(InboxFilter(query="cua khau 4242"))
    assert [e.log_index for e in hit.entries] == [4242]


async def test_a_handover_proposed_on_the_form_shows_in_cases_agenda_and_calendar(
    open_desk: OpenDesk,
) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    events = await _listen(an)
    slot = datetime.now(UTC) + timedelta(days=2)
    answer = await _propose(li, "QN-2026-0500", slot)
    assert answer.status == 200, await answer.text()
    message_id = await asyncio.wait_for(_next_message(events), 10)
    cases = await (await an.get("/cases")).text()
    assert "QN-2026-0500" in cases
    case = await (await an.get("/cases/QN-2026-0500")).text()
    assert f"/message/{message_id}" in case
    assert "Asia/Ho_Chi_Minh" in case and "Asia/Shanghai" in case
    agenda = await (await an.get("/agenda")).text()
    assert "QN-2026-0500" in agenda
    calendar = await an.get("/agenda.ics")
    assert calendar.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in calendar.headers["Content-Disposition"]
    body = await calendar.text()
    assert body.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in body
    assert "Móng Cái" in body


async def _propose(li: TestClient, case_ref: str, slot: datetime) -> ClientResponse:  # type: ignore[type-arg]
    """Propose a handover through the form: the first send shows the warnings (an unverified
    case, at least) and sends nothing; the second, informed one sends."""
    local = slot.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    form = {
        "header.our_ref": f"DX-{case_ref}",
        "header.sender_unit": "CN-GX-DXGA",
        "header.recipient_unit": "VN-QN-CA",
        "header.case_ref": case_ref,
        "header.handling": "H1",
        "header.priority": "normal",
        "fields.slot.local": local,
        "fields.slot.tz": "Asia/Shanghai",
        "fields.place.kind": "gate",
        "fields.place.gate": "mong-cai--dongxing",
        "fields.persons.count": "1",
        "fields.persons[0].name": "Lò Thị Mai",
        "fields.persons[0].sex": "female",
        "fields.escorts.count": "1",
        "fields.escorts[0].name": "王伟",
        "action": "send",
    }
    url = "/compose/notice/handover_proposal"
    first = await _post_form(li, url, url, form)
    page = await first.text()
    assert first.status == 200 and 'class="warning" role="alert"' in page, page
    assert 'name="action" value="send"' in page  # still the form: nothing was sent
    seen = re.search(r'name="warnings_seen" value="([0-9a-f]+)"', page)
    assert seen is not None
    # A confirmation of other warnings (the slot was changed since) sends nothing either.
    stale = await li.post(url, data={"csrf_token": csrf_of(page), **form, "warnings_seen": "0"})
    assert 'name="action" value="send"' in await stale.text()
    return await li.post(url, data={"csrf_token": csrf_of(page), **form, "warnings_seen": seen[1]})


async def test_handover_steps_show_their_warnings_before_sending(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    li, _s = await open_desk("li")
    an_events, li_events = await _listen(an), await _listen(li)
    proposed = await _propose(li, "QN-2026-0600", datetime.now(UTC) + timedelta(days=3))
    assert proposed.status == 200, await proposed.text()
    handover_id = await asyncio.wait_for(_next_message(an_events), 10)
    case_url = "/cases/QN-2026-0600"
    page = await (await an.get(case_url)).text()
    step_url = f"{case_url}/handovers/{handover_id}"
    assert f"{step_url}/accept" in page and f"{step_url}/counter" in page
    assert f"{step_url}/countersign" not in page  # nothing recorded yet
    # A counter-proposal at 23:30 in Móng Cái: the gate is closed then, and the desk says so
    # before anything is sent.
    late = (datetime.now(UTC) + timedelta(days=4)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    counter = {
        "at": late.strftime("%Y-%m-%dT23:30"),
        "tz": "Asia/Ho_Chi_Minh",
        "gate": "mong-cai--dongxing",
        "team": "Nguyễn Văn An/VN-123",
    }
    checked = await _post_form(an, case_url, f"{step_url}/counter", {**counter, "action": "check"})
    confirm = await checked.text()
    assert checked.status == 200 and 'class="confirm"' in confirm
    assert 'class="warning" role="alert"' in confirm, confirm
    assert "08:00–20:00" in confirm  # Dongxing's opening hours, in the officer's language
    assert 'name="action" value="send"' in confirm
    sent = await _post_form(an, case_url, f"{step_url}/counter", {**counter, "action": "send"})
    assert sent.status == 200 and "?result=" in str(sent.url)
    await asyncio.wait_for(_next_message(li_events), 10)
    li_page = await (await li.get(case_url)).text()
    assert f"{step_url}/accept" in li_page
    accepted = await _post_form(li, case_url, f"{step_url}/accept", {"action": "send"})
    assert accepted.status == 200, await accepted.text()
    await asyncio.wait_for(_next_message(an_events), 10)
    # Accepted: accepting again is no longer offered, and a refused step says why.
    after = await (await an.get(case_url)).text()
    assert f"{step_url}/accept" not in after and f"{step_url}/reschedule" in after
    again = await _post_form(an, case_url, f"{step_url}/accept", {"action": "check"})
    assert again.status == 400 and 'class="failure"' in await again.text()
    # The confirmed handover is recorded on the prefilled form and countersigned by the other
    # side; the case then reads completed on both desks.
    start = await (await an.get(f"/compose/notice/handover_record?handover={handover_id}")).text()
    assert f'name="fields.in_reply_to" value="{handover_id}"' in start
    assert 'name="header.recipient_unit" value="CN-GX-DXGA"' in start
    record = {
        "header.our_ref": "95/BB-QN",
        "header.sender_unit": "VN-QN-CA",
        "header.recipient_unit": "CN-GX-DXGA",
        "header.case_ref": "QN-2026-0600",
        "header.their_ref": "DX-QN-2026-0600",
        "header.handling": "H1",
        "header.priority": "normal",
        "fields.in_reply_to": handover_id,
        "fields.completed_at.local": late.strftime("%Y-%m-%dT23:40"),
        "fields.completed_at.tz": "Asia/Ho_Chi_Minh",
        "fields.place.kind": "gate",
        "fields.place.gate": "mong-cai--dongxing",
        "fields.persons.count": "1",
        "fields.persons[0].name": "Lò Thị Mai",
        "fields.persons[0].sex": "female",
        "fields.belongings": "Một ba lô màu xanh",
        "fields.belongings.lang": "vi",
        "fields.documents.count": "1",
        "fields.documents[0].type": "none",
        "fields.condition.text": "Tỉnh táo, không có thương tích",
        "fields.condition.lang": "vi",
        "fields.signatories.count": "2",
        "fields.signatories[0].side": "vn",
        "fields.signatories[0].name": "Nguyễn Văn An",
        "fields.signatories[0].agency": "VN-QN-CA",
        "fields.signatories[1].side": "cn",
        "fields.signatories[1].name": "王伟",
        "fields.signatories[1].agency": "CN-GX-DXGA",
        "action": "send",
    }
    record_url = "/compose/notice/handover_record"
    recorded = await _post_form(an, record_url, record_url, record)
    assert recorded.status == 200, await recorded.text()
    await asyncio.wait_for(_next_message(li_events), 10)
    li_page = await (await li.get(case_url)).text()
    assert f"{step_url}/countersign" in li_page
    countersigned = await _post_form(li, case_url, f"{step_url}/countersign", {"action": "send"})
    assert countersigned.status == 200, await countersigned.text()
    await asyncio.wait_for(_next_message(an_events), 10)
    final = await (await an.get(case_url)).text()
    assert f"{step_url}/countersign" not in final and "handover_record?handover=" not in final


async def test_trusted_agencies_show_their_fingerprints_and_a_wrong_one_pins_nothing(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    an, _s = await open_desk("an-phone")
    page = await (await an.get("/trust")).text()
    dongxing = world.fingerprints["CN-GX-DXGA"].safety_number
    assert "CN-GX-DXGA" in page and dongxing in page
    digits = [ch for ch in dongxing if ch.isdigit()]
    digits[0] = "1" if digits[0] != "1" else "2"
    wrong = await _post_form(
        an, "/trust", "/trust", {"agency": "CN-GX-DXGA", "fingerprint": "".join(digits)}
    )
    assert wrong.status == 400 and 'class="failure"' in await wrong.text()
    right = await _post_form(
        an, "/trust", "/trust", {"agency": "CN-GX-DXGA", "fingerprint": dongxing}
    )
    assert right.status == 200 and right.url.path == "/trust"
    assert "CN-GX-DXGA" in right.url.query.get("pinned", "")
    assert dongxing in await right.text()
