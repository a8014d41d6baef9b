"""The supervisor's legal holds page, the inbox filter "awaiting my reply", and the supervisor
pages in Chinese; over a real relay with the demo world up to its review step."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import OpenDesk, csrf_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_relay import RelayThread, demo_world  # noqa: E402

from liaison.cli.demo.tour import DemoContext  # noqa: E402
from liaison.client import holds as hold_ops  # noqa: E402
from liaison.client import messages as message_ops  # noqa: E402
from liaison.client import notices as notice_ops  # noqa: E402
from liaison.client.transport import ApiClient  # noqa: E402
from liaison.domain.notices import FORMAT_VERSION, parse_notice  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoContext]:
    """The demo up to its review step: `supervisor` (Phạm Thu Hà, VN-QN-CA) among them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        relay = RelayThread(tmp_path_factory.mktemp("relay"))
        relay.start()
        try:
            yield demo_world(relay, tmp_path_factory.mktemp("world"), "review")
        finally:
            relay.stop()


def _notice(kind: str, our_ref: str, sender: str, to: str, fields: dict[str, Any], **header: Any):  # type: ignore[no-untyped-def]
    return parse_notice(
        {
            "liaison_notice": FORMAT_VERSION,
            "type": kind,
            "header": {
                "our_ref": our_ref,
                "sender_unit": sender,
                "recipient_unit": to,
                "case_ref": "QN-2026-0301",
                "handling": "H1",
                "priority": "normal",
                **header,
            },
            "fields": fields,
        }
    )


async def _send(world: DemoContext, home_name: str, to: str, notice: Any) -> str:
    async with ApiClient(world.url) as api:
        sent = await message_ops.send(
            world.officers[home_name], api, [to], notice_ops.notice_payload(notice)
        )
    return sent.message_id


async def _rows(client: Any, query: str) -> str:
    return await (await client.get(f"/?rows=1&{query}")).text()


async def _request_arrives(world: DemoContext, li: Any, our_ref: str, name: str) -> str:
    """A verification request from an-phone to li's agency, once li's open desk shows it."""
    person = {"name": name, "sex": "female", "birth": {"year": 2004, "estimated": True}}
    request = _notice(
        "verification_request",
        our_ref,
        "VN-QN-CA",
        "CN-GX-DXGA",
        {"persons": [person], "biometrics": ["fingerprints"]},
    )
    request_id = await _send(world, "an-phone", "CN-GX-DXGA", request)
    for _attempt in range(100):  # the push channel delivers it to li's open desk
        if request_id in await _rows(li, ""):
            break
    return request_id


async def _answer(world: DemoContext, request_id: str, our_ref: str, their_ref: str) -> None:
    """li's verification result answering `request_id`."""
    result = _notice(
        "verification_result",
        our_ref,
        "CN-GX-DXGA",
        "VN-QN-CA",
        {"outcome": "confirmed", "verifying_unit": "CN-GX-DXGA", "in_reply_to": request_id},
        their_ref=their_ref,
    )
    await _send(world, "li", "VN-QN-CA", result)


async def test_awaiting_my_reply_lists_a_request_until_its_result_is_sent(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    li, _s = await open_desk("li")
    request_id = await _request_arrives(world, li, "47/XM-PA08", "Lò Thị Mai")
    assert request_id in await _rows(li, "awaiting=1")
    page = await (await li.get("/?awaiting=1")).text()
    assert 'id="awaiting" name="awaiting" type="checkbox" value="1" checked' in page

    # An acknowledgement does not answer a verification request; the result does.
    ack = _notice(
        "receipt_ack",
        "DX-2026-400",
        "CN-GX-DXGA",
        "VN-QN-CA",
        {
            "in_reply_to": request_id,
            "received": "message",
            "received_at": {"utc": "2026-12-05T02:00:00Z", "tz": "Asia/Shanghai"},
        },
    )
    await _send(world, "li", "VN-QN-CA", ack)
    assert request_id in await _rows(li, "awaiting=1")
    await _answer(world, request_id, "DX-2026-401", "47/XM-PA08")
    assert request_id not in await _rows(li, "awaiting=1")
    assert request_id in await _rows(li, "")  # still in the inbox, only no longer awaiting


async def test_awaiting_my_reply_is_derived_again_only_when_a_message_arrives_or_is_sent(
    open_desk: OpenDesk, world: DemoContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liaison.desk.officer import DeskOfficer

    builds: list[int] = []
    derive = DeskOfficer.awaiting_reply

    async def counted(self: DeskOfficer) -> frozenset[str]:
        builds.append(1)
        return await derive(self)

    monkeypatch.setattr(DeskOfficer, "awaiting_reply", counted)
    li, _s = await open_desk("li")
    await _rows(li, "awaiting=1")
    await _rows(li, "awaiting=1")
    await _rows(li, "awaiting=1&q=Mai")
    assert len(builds) == 1  # the same inbox, nothing sent: the cached set
    request_id = await _request_arrives(world, li, "52/XM-PA08", "Lò Thị Lan")
    assert request_id in await _rows(li, "awaiting=1")  # arrived: derived again
    assert len(builds) == 2
    await _answer(world, request_id, "DX-2026-452", "52/XM-PA08")  # sent by another program
    assert request_id not in await _rows(li, "awaiting=1")
    assert len(builds) == 3


async def test_a_supervisor_places_and_releases_a_legal_hold(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    home = world.officers["supervisor"]
    if not hold_ops.has_case_secret(home):
        hold_ops.create_case_secret(home)
    supervisor, _s = await open_desk("supervisor")
    page = await (await supervisor.get("/holds")).text()
    assert 'href="/holds"' in page and 'id="hold-case"' in page
    token = csrf_of(page)
    no_reason = await supervisor.post(
        "/holds", data={"csrf_token": token, "case_ref": "QN-2026-0301", "reason": " "}
    )
    assert no_reason.status == 400
    assert (await supervisor.post("/holds", data={"case_ref": "QN-2026-0301"})).status == 403
    placed = await supervisor.post(
        "/holds",
        data={"csrf_token": token, "case_ref": "QN-2026-0301", "reason": "Điều tra / 侦查"},
        allow_redirects=False,
    )
    assert placed.status == 303, await placed.text()
    listed = await (await supervisor.get(placed.headers["Location"])).text()
    assert 'name="case_ref" value="QN-2026-0301"' in listed and 'role="status"' in listed
    async with ApiClient(world.url) as api:
        held = await hold_ops.active(home, api)
    assert [h["case_ref"] for h in held] == ["QN-2026-0301"]
    released = await supervisor.post(
        "/holds/release",
        data={"csrf_token": token, "case_ref": "QN-2026-0301"},
        allow_redirects=False,
    )
    assert released.status == 303
    after = await (await supervisor.get("/holds")).text()
    assert 'name="case_ref" value="QN-2026-0301"' not in after
    async with ApiClient(world.url) as api:
        assert await hold_ops.active(home, api) == []


async def test_an_officer_has_no_holds_page(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    assert 'href="/holds"' not in await (await an.get("/")).text()
    assert (await an.get("/holds")).status == 403


async def test_the_supervisor_pages_render_in_chinese(open_desk: OpenDesk) -> None:
    supervisor, _s = await open_desk("supervisor")
    token = csrf_of(await (await supervisor.get("/")).text())
    await supervisor.post("/language", data={"csrf_token": token, "lang": "zh", "next": "/"})
    for path, words in (("/review", "主管审阅"), ("/holds", "法律保全"), ("/audit", "审计日志")):
        answer = await supervisor.get(path)
        page = await answer.text()
        assert answer.status == 200, path
        assert '<html lang="zh-Hans-CN">' in page, path
        assert words in page, path
