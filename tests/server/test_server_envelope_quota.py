"""Per-agency quota on the envelope bytes an agency's devices keep on the relay (issue 14 §3)."""

from __future__ import annotations

from dataclasses import replace

from liaison.server import retention
from liaison.server.app import create_app
from liaison.server.keys import RELAY_KEY
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import Api, row_counts

DAY = 86_400


async def _start(aiohttp_client, settings, quota: int | None, admin_token: str = ""):
    """A relay with this envelope quota; the admin token is shown only on the first start."""
    shown: list[str] = [admin_token]
    app = create_app(
        replace(settings, envelope_quota_bytes=quota, announce_admin_token=shown.append)
    )
    return Api(await aiohttp_client(app), shown[-1]), app


async def test_a_full_agency_is_refused_until_a_purge_frees_its_bytes(
    aiohttp_client, settings, clock
) -> None:
    vn, cn = vietnam_agency(), china_agency()
    alice, wei = vn.device("alice"), cn.device("wei")
    first, second = alice.seal([wei], "Đề nghị xác minh"), alice.seal([wei], "Trả lời")
    from_china = wei.seal([alice], "协查请求")
    room = len(first.to_bytes()) + len(second.to_bytes()) - 1  # the first fits, not both
    api, app = await _start(aiohttp_client, settings, room)
    await register(api, vn, cn)
    await enrol(api, alice, wei)
    vn_token, cn_token = await api.login(alice), await api.login(wei)

    receipt = await send(api, vn_token, first)
    assert receipt.status == 201
    before = await row_counts(app)
    refused = await send(api, vn_token, second)
    assert (refused.status, refused.body["code"]) == (413, "quota_exceeded")
    assert await row_counts(app) == before  # nothing stored, nothing logged

    # A resend of the stored envelope still gets its first receipt; China is not counted
    # against Vietnam's bytes.
    resent = await send(api, vn_token, first)
    assert (resent.status, resent.body) == (200, receipt.body)
    assert (await send(api, cn_token, from_china)).status == 201

    for agency in (vn, cn):
        path = f"/v1/agencies/{agency.code}/retention"
        answer = await api.call("PUT", path, json={"days": 1}, token=api.admin_token)
        assert answer.status == 200, answer.body
    report = await retention.purge(app[RELAY_KEY], now=clock.now + 2 * DAY)
    assert first.header.message_id in report.purged
    assert (await send(api, vn_token, second)).status == 201


async def test_the_count_survives_a_restart(aiohttp_client, settings) -> None:
    vn, cn = vietnam_agency(), china_agency()
    alice, wei = vn.device("alice"), cn.device("wei")
    first, second = alice.seal([wei], "Một"), alice.seal([wei], "Hai")
    room = len(first.to_bytes()) + len(second.to_bytes()) - 1
    api, app = await _start(aiohttp_client, settings, None)  # no limit while the first arrives
    await register(api, vn, cn)
    await enrol(api, alice, wei)
    assert (await send(api, await api.login(alice), first)).status == 201

    # Started again on the same data with a quota: the stored envelope is counted at start.
    again, _ = await _start(aiohttp_client, settings, room, api.admin_token)
    refused = await send(again, await again.login(alice), second)
    assert (refused.status, refused.body["code"]) == (413, "quota_exceeded")
