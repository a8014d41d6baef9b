"""The administrator's desk on an agency home: its devices with their status, certifying an
uploaded request after comparing its fingerprint, revoking with a confirmation step; and a desk
whose own device was revoked is refused on every page.

Its own module (its own relay and demo world): it certifies and revokes devices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from conftest import OpenDesk, csrf_of

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext
from liaison.client import agency as agency_ops
from liaison.client import officer as officer_ops
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.desk.security import CONTENT_SECURITY_POLICY
from liaison.desk.state import DESK


def _new_request(folder: Path, url: str, officer_id: str) -> tuple[Home, bytes]:
    home = Home(folder / officer_id, passphrase=lambda confirm: DEMO_PASSPHRASE)
    request = officer_ops.init_officer(
        home,
        agency="VN-QN-CA",
        name_vi="Phạm Văn Cường",
        name_zh="范文强（音）",
        server=url,
        officer_id=officer_id,
        device_name="phone",
    )
    return home, json.dumps(request).encode("utf-8")


def _upload(token: str, data: bytes, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("request", data, filename="cuong.request", content_type="application/json")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


async def test_the_administrators_desk_shows_the_agency_and_its_devices(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    admin, _s = await open_desk("VN-QN-CA")
    inbox = await admin.get("/", allow_redirects=False)
    assert inbox.status == 303 and inbox.headers["Location"] == "/agency"
    page = await (await admin.get("/agency")).text()
    assert world.fingerprints["VN-QN-CA"].safety_number in page
    phone = officer_ops.own_certificate(world.officers["an-phone"])
    assert phone.device_id in page and "Nguyễn Văn An" in page
    assert agency_ops.device_fingerprint(phone.signing_key) in page
    assert 'href="/compose"' not in page  # no officer's pages on an agency home
    trust = await admin.get("/trust")
    assert trust.status == 200 and world.fingerprints["VN-QN-CA"].compact in await trust.text()


async def test_the_administrators_unlock_page_says_it_unlocks_the_agency_root(
    open_desk: OpenDesk,
) -> None:
    admin, _s = await open_desk("VN-QN-CA", unlock=False)
    page = await (await admin.get("/unlock")).text()
    token = csrf_of(page)
    wrong = await admin.post("/unlock", data={"csrf_token": token, "passphrase": "wrong"})
    assert wrong.status == 403
    assert (await admin.get("/agency", allow_redirects=False)).status == 303  # still locked
    opened = await admin.post("/unlock", data={"csrf_token": token, "passphrase": DEMO_PASSPHRASE})
    assert opened.status == 200 and opened.url.path == "/agency"


async def test_an_officers_desk_has_no_administrator_pages(open_desk: OpenDesk) -> None:
    an, _s = await open_desk("an-phone")
    for path in ("/agency", "/agency/certify"):
        answer = await an.get(path)
        assert answer.status == 403, path
    assert 'href="/agency"' not in await (await an.get("/")).text()


async def test_certify_an_uploaded_request_then_revoke_and_the_revoked_desk_is_refused(
    open_desk: OpenDesk, world: DemoContext, tmp_path: Path
) -> None:
    admin, _s = await open_desk("VN-QN-CA")
    home, data = _new_request(tmp_path, world.url, "pham.van.cuong")
    request = agency_ops.describe_request(data)
    token = csrf_of(await (await admin.get("/agency/certify")).text())

    # Uploaded: the fingerprint is shown to compare; nothing is signed yet.
    checked = await admin.post(
        "/agency/certify", data=_upload(token, data, role="officer", days="30", action="check")
    )
    page = await checked.text()
    assert checked.status == 200 and request.fingerprint in page
    assert request.device_id not in json.dumps(agency_ops.load_agency(world.admins["VN-QN-CA"]))
    form = {"csrf_token": token, "role": "officer", "days": "30", "action": "certify"}
    form["request_text"] = data.decode()
    unconfirmed = await admin.post("/agency/certify", data=form)
    assert unconfirmed.status == 400
    assert request.device_id not in json.dumps(agency_ops.load_agency(world.admins["VN-QN-CA"]))
    certified = await admin.post(
        "/agency/certify", data={**form, "compared": "yes"}, allow_redirects=False
    )
    assert certified.status == 303, await certified.text()
    listed = await (await admin.get(certified.headers["Location"])).text()
    download = f"/agency/devices/{request.device_id}/certificate"
    assert download in listed and 'class="status-not_activated"' in listed

    # The downloaded file activates the officer's device, as `agency certify` output does.
    answer = await admin.get(download)
    assert "attachment" in answer.headers["Content-Disposition"]
    async with ApiClient(world.url) as api:
        await officer_ops.activate(
            home,
            api,
            await answer.read(),
            root_fingerprint=world.fingerprints["VN-QN-CA"].safety_number,
        )
    cuong, _s = await open_desk_on(open_desk, world, home)
    assert (await cuong.get("/")).status == 200
    assert 'class="status-active"' in await (await admin.get("/agency")).text()

    # Revoke: a confirmation page says what will happen; the reason is required.
    revoke_url = f"/agency/devices/{request.device_id}/revoke"
    confirm = await (await admin.get(revoke_url)).text()
    assert 'id="what-title"' in confirm and request.device_id in confirm
    token = csrf_of(confirm)
    assert (await admin.post(revoke_url, data={"csrf_token": token})).status == 400
    assert (await admin.post(revoke_url, data={"reason": "lost"})).status == 403  # no CSRF
    done = await admin.post(
        revoke_url, data={"csrf_token": token, "reason": "lost"}, allow_redirects=False
    )
    assert done.status == 303, await done.text()
    devices = {d.device_id: d for d in agency_ops.issued_devices(world.admins["VN-QN-CA"])}
    assert devices[request.device_id].status == "revoked"
    listed = await (await admin.get("/agency")).text()
    assert f'href="{revoke_url}"' not in listed

    # The revoked device's desk is refused on every page once the relay refuses it.
    revoked, _s = await open_desk_on(open_desk, world, home)
    desk = revoked.server.app[DESK]
    for _attempt in range(100):
        if desk.relay_status == "device_revoked":
            break
        await asyncio.sleep(0.05)
    assert desk.relay_status == "device_revoked"
    for path in ("/", "/compose", "/cases", "/agenda", "/trust", "/audit", "/message/" + "0" * 32):
        answer = await revoked.get(path, allow_redirects=False)
        assert answer.status == 403, path
        assert 'id="device-revoked"' in await answer.text(), path
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert (await revoked.get("/static/desk.css")).status == 200


async def open_desk_on(open_desk: OpenDesk, world: DemoContext, home: Home):  # type: ignore[no-untyped-def]
    """A desk on a home made in the test: it joins the world's officers under its folder name."""
    world.officers[home.root.name] = home
    return await open_desk(home.root.name)


async def test_every_administrator_page_carries_the_strict_headers_and_needs_csrf(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    admin, _s = await open_desk("VN-QN-CA")
    phone = officer_ops.own_certificate(world.officers["an-phone"]).device_id
    answers = [
        await admin.get(path, allow_redirects=False)
        for path in (
            "/agency",
            "/agency/certify",
            f"/agency/devices/{phone}/certificate",
            f"/agency/devices/{phone}/revoke",
            "/agency/devices/VN-QN-CA:nobody:phone/revoke",
        )
    ]
    for path in ("/agency/certify", f"/agency/devices/{phone}/revoke"):
        refused = await admin.post(path, data={"reason": "lost"}, allow_redirects=False)
        assert refused.status == 403, path
        answers.append(refused)
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, answer.url
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
    assert answers[-3].status == 404
    # Nothing was revoked by the refused posts.
    devices = {d.device_id: d for d in agency_ops.issued_devices(world.admins["VN-QN-CA"])}
    assert devices[phone].status == "active"
    root = world.admins["VN-QN-CA"].unlock_secret(agency_ops.ROOT_KEY_FILE)
    for answer in answers:
        body = await answer.read()
        assert root not in body and DEMO_PASSPHRASE.encode() not in body


async def test_the_administrators_trust_page_shows_the_roots_and_pins_nothing(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    """Pins are per device, checked against the relay's log, which answers enrolled devices
    only: an agency home without a device lists its roots and leaves pinning to the officers."""
    admin, _s = await open_desk("VN-QN-CA")
    page = await (await admin.get("/trust")).text()
    own = world.fingerprints["VN-QN-CA"]
    assert own.safety_number in page and own.compact in page
    assert 'name="fingerprint"' not in page
    dongxing = world.fingerprints["CN-GX-DXGA"]
    refused = await admin.post(
        "/trust",
        data={"csrf_token": csrf_of(page), "agency": "CN-GX-DXGA", "fingerprint": dongxing.compact},
    )
    assert refused.status == 403
    assert dongxing.safety_number not in await refused.text()


async def test_without_the_relay_the_devices_show_as_this_computer_recorded_them(
    open_desk: OpenDesk, world: DemoContext
) -> None:
    admin, _s = await open_desk("VN-QN-CA", server="http://127.0.0.1:9")
    answer = await admin.get("/agency")
    page = await answer.text()
    assert answer.status == 200
    assert 'class="warning" role="status"' in page  # the relay could not be reached
    phone = officer_ops.own_certificate(world.officers["an-phone"]).device_id
    assert phone in page
