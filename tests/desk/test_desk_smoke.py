from __future__ import annotations

from conftest import csrf_of


async def test_smoke(open_desk, world) -> None:
    client, _s = await open_desk("li")
    page = await client.get("/")
    text = await page.text()
    assert page.status == 200, text
    compose = await client.get("/compose/notice/verification_result")
    assert compose.status == 200, await compose.text()
    for t in ("rescue_request", "verification_request", "handover_proposal", "statistics"):
        r = await client.get(f"/compose/notice/{t}")
        assert r.status == 200, (t, await r.text())
    a, _ = await open_desk("an-phone")
    form = await (await a.get("/compose")).text()
    r = await a.post(
        "/compose/message",
        data={"csrf_token": csrf_of(form), "to": "CN-GX-DXGA", "text": "Xin chào Đông Hưng"},
    )
    assert r.status == 200, await r.text()
    print(await r.text())
