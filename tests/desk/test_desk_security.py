"""The desk keeps to its own officer: launch token, session cookie, CSRF, Host/Origin, headers,
idle lock, and no secret in any answer."""

from __future__ import annotations

import aiohttp
from conftest import OpenDesk, csrf_of

from crypto.encoding import b64e
from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import officer
from liaison.desk.security import CONTENT_SECURITY_POLICY, SESSION_COOKIE
from liaison.desk.state import DESK


async def test_without_the_launch_token_every_page_is_refused(open_desk: OpenDesk) -> None:
    client, _sessions = await open_desk("li", launch=False, unlock=False)
    for path in ("/", "/unlock", "/compose", "/launch", "/launch?token=guess"):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 403, path
    assert SESSION_COOKIE not in client.session.cookie_jar.filter_cookies(client.make_url("/"))


async def test_the_launch_token_is_spent_once_for_a_strict_httponly_cookie(
    open_desk: OpenDesk,
) -> None:
    client, sessions = await open_desk("li", launch=False, unlock=False)
    token = sessions.launch_token
    first = await client.get(f"/launch?token={token}", allow_redirects=False)
    assert first.status == 303
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    client.session.cookie_jar.clear()
    again = await client.get(f"/launch?token={token}", allow_redirects=False)
    assert again.status == 403
    assert (await client.get("/", allow_redirects=False)).status == 403


async def test_a_foreign_host_or_origin_is_refused(open_desk: OpenDesk) -> None:
    client, _sessions = await open_desk("li")
    port = client.port
    rebound = await client.get("/", headers={"Host": f"attacker.example:{port}"})
    assert rebound.status == 403
    page = await client.get("/")
    token = csrf_of(await page.text())
    foreign = await client.post(
        "/lock",
        data={"csrf_token": token},
        headers={"Origin": "http://attacker.example"},
        allow_redirects=False,
    )
    assert foreign.status == 403
    assert 'action="/lock"' in await (await client.get("/")).text()  # still unlocked
    own = await client.post(
        "/lock",
        data={"csrf_token": token},
        headers={"Origin": f"http://127.0.0.1:{port}"},
        allow_redirects=False,
    )
    assert own.status == 303 and own.headers["Location"] == "/unlock"


async def test_a_post_without_the_right_csrf_token_is_refused(open_desk: OpenDesk) -> None:
    client, _sessions = await open_desk("li")
    for data in ({}, {"csrf_token": "forged"}):
        answer = await client.post("/lock", data=data, allow_redirects=False)
        assert answer.status == 403
    inbox = await client.get("/", allow_redirects=False)
    assert inbox.status == 200  # the refused posts did not lock the desk


async def test_every_answer_carries_the_strict_headers(open_desk: OpenDesk) -> None:
    client, _sessions = await open_desk("li")
    answers = [
        await client.get(path, allow_redirects=False)
        for path in (
            "/",
            "/compose",
            "/compose/notice/handover_proposal",
            "/static/desk.css",
            "/static/desk.js",
            "/nowhere",
            "/message/" + "0" * 32,
            "/launch?token=spent",
            "/?awaiting=1",
            "/holds",
            "/agency",
            "/agency/certify",
            "/agency/devices/CN-GX-DXGA:li.wei:desk/revoke",
            "/message/" + "0" * 32 + "/attachment/0",
            "/message/" + "0" * 32 + "/attachment/0/inline",
            "/message/" + "0" * 32 + "/pdf",
            "/drafts",
            "/drafts/" + "0" * 19 + "-00000000",
        )
    ]
    for path in (
        "/holds",
        "/holds/release",
        "/agency/certify",
        "/lock",
        "/drafts/" + "0" * 19 + "-00000000/delete",
    ):
        refused = await client.post(path, data={}, allow_redirects=False)
        assert refused.status == 403, path  # no CSRF token
        answers.append(refused)
    # The streamed compose form (files): refused without the token as its first part.
    streamed = aiohttp.FormData()
    streamed.add_field("to", "VN-QN-CA")
    streamed.add_field("files", b"x", filename="x.txt")
    for path in ("/compose/message", "/compose/notice/verification_request"):
        refused = await client.post(path, data=streamed, allow_redirects=False)
        assert refused.status == 403, path
        answers.append(refused)
    answers.append(await client.get("/", headers={"Host": "evil.example"}))
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, answer.url
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        if not answer.url.path.startswith("/static/"):
            assert answer.headers["Cache-Control"] == "no-store"
    page = await (await client.get("/")).text()
    assert "<script>" not in page and "style=" not in page and "http://" not in page


async def test_no_key_or_passphrase_reaches_the_browser(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    client, _sessions = await open_desk("li")
    keys = officer.device_keys(world.officers["li"])
    secrets = [DEMO_PASSPHRASE, b64e(keys.to_bytes()), keys.to_bytes().hex()]
    secrets += [b64e(bytes(keys.signing)), b64e(bytes(keys.encryption))]
    bodies = []
    for path in ("/", "/compose", "/compose/notice/verification_request", "/unlock"):
        bodies.append(await (await client.get(path)).text())
    for body in bodies:
        for secret in secrets:
            assert secret not in body


async def test_the_desk_locks_itself_after_the_idle_time(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    now = [1000.0]
    client, _sessions = await open_desk("li", idle_lock_seconds=60, clock=lambda: now[0])
    assert (await client.get("/", allow_redirects=False)).status == 200
    now[0] += 59
    assert (await client.get("/", allow_redirects=False)).status == 200
    now[0] += 61
    locked = await client.get("/", allow_redirects=False)
    assert locked.status == 303 and locked.headers["Location"] == "/unlock"
    desk = client.server.app[DESK]
    assert not desk.officer.unlocked and len(desk.index) == 0
    page = await client.get("/unlock")
    wrong = await client.post(
        "/unlock", data={"csrf_token": csrf_of(await page.text()), "passphrase": "wrong"}
    )
    assert wrong.status == 403
    assert (await client.get("/", allow_redirects=False)).status == 303
