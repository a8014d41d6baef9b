"""Home statements (PROTOCOL.md §16.4): the agency root names its home relay; the relay logs
it (`home` entry), serves it, refuses an older one (409 `home_statement_stale`), one of another
root or naming another relay (422), and keeps `peer home` coherent with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from crypto.encoding import b64d, b64e
from crypto.federation import HomeStatement, issue_home_statement
from crypto.keys import RootKey
from crypto.log_entries import HomeEntry
from liaison.client import agency as agency_ops
from liaison.client.home import Home
from liaison.client.transport import ApiClient
from liaison.server.federation import forwarding, peering
from tests.federation import peering_steps
from tests.federation.test_forwarding import entries_of, inbox, until
from tests.server.factory import NOW, china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send


def _statement(root: RootKey, code: str, relay, issued_at: int) -> dict[str, str]:
    statement = issue_home_statement(
        root,
        agency=code,
        relay_origin=relay.identity.origin,
        relay_key=relay.identity.public_key,
        issued_at=issued_at,
    )
    return {"statement": b64e(statement.to_bytes())}


async def test_a_home_statement_is_logged_served_and_only_replaced_by_a_newer_one(relays) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    agency = china_agency()
    await register(cn.api, agency)
    path = f"/v1/agencies/{agency.code}/home"
    assert (await cn.api.get(path)).body["code"] == "no_home_statement"

    first = _statement(agency.root, agency.code, cn, NOW)
    answer = await cn.api.post(path, json=first)
    assert answer.status == 201, answer.body
    [(index, entry)] = await entries_of(cn, HomeEntry)
    assert answer.body["log_index"] == index
    assert (entry.agency, entry.relay_origin, entry.relay_key) == (
        agency.code,
        cn.identity.origin,
        cn.identity.public_key,
    )
    assert entry.statement_hash == hashlib.sha256(b64d(first["statement"])).digest()
    served = (await cn.api.get(path)).body
    statement = HomeStatement.from_bytes(b64d(served["statement"]))
    assert statement.verify(agency=agency.code, root_public=agency.root.public) == cn.identity
    # The same statement again: logged once.
    again = await cn.api.post(path, json=first)
    assert (again.status, again.body["log_index"]) == (200, index)
    # An older one is stale; a newer one moves it (a new `home` entry).
    older = await cn.api.post(path, json=_statement(agency.root, agency.code, cn, NOW - 1))
    assert (older.status, older.body["code"]) == (409, "home_statement_stale")
    newer = await cn.api.post(path, json=_statement(agency.root, agency.code, cn, NOW + 1))
    assert newer.status == 201, newer.body
    assert len(await entries_of(cn, HomeEntry)) == 2
    # Another root, or a statement naming the peer relay: refused, nothing logged.
    for body in (
        _statement(RootKey.generate(), agency.code, cn, NOW + 5),
        _statement(agency.root, agency.code, vn, NOW + 5),
    ):
        refused = await cn.api.post(path, json=body)
        assert (refused.status, refused.body["code"]) == (422, "bad_home_statement")
    assert len(await entries_of(cn, HomeEntry)) == 2

    # `peer home` cannot send an agency homed here to the peer.
    with pytest.raises(peering.PeeringError) as refused_home:
        await peering.set_home(cn.relay, agency.code, vn.identity.origin)
    assert refused_home.value.code == "agency_homed_here"


async def test_agency_home_signs_with_the_root_and_names_the_pinned_relay(
    relays, tmp_path: Path
) -> None:
    _vn, cn = relays
    home = Home(tmp_path / "admin", passphrase=lambda confirm: "pw")
    agency_ops.init_agency(
        home, code="CN-GX-DXGA", country="CN", name_vi="Đông Hưng", name_zh="东兴"
    )
    async with ApiClient(cn.url) as api:
        await agency_ops.register_agency(home, api, cn.api.admin_token)
        result = await agency_ops.publish_home(home, api)
    assert result["relay_origin"] == cn.identity.origin
    served = (await cn.api.get("/v1/agencies/CN-GX-DXGA/home")).body
    assert served["log_index"] == result["log_index"]
    [(_i, entry)] = await entries_of(cn, HomeEntry)
    assert entry.relay_key == cn.identity.public_key


async def _statement_logged_anyway(relay, root: RootKey, code: str, names, issued_at: int) -> None:
    """A dishonest operator writes a statement naming another relay straight into its store
    and log (the route would refuse it)."""
    data = b64d(_statement(root, code, names, issued_at)["statement"])
    entry = HomeEntry(
        agency=code,
        relay_origin=names.identity.origin,
        relay_key=names.identity.public_key,
        issued_at=issued_at,
        statement_hash=hashlib.sha256(data).digest(),
        at=issued_at,
    )

    async def job(tx) -> None:
        index = await relay.relay.log.append(tx, entry)
        await tx.put_home_statement(
            agency=code, statement=data, issued_at=issued_at, log_index=index
        )

    await relay.relay.store.write(job)


async def test_a_forwarded_sender_is_checked_by_its_agency_home_statement(relays) -> None:
    """The receiving relay needs no `peer home` record of the sender's agency: the sending
    relay proves from its log that the agency's root named it; a statement naming another
    relay gets the sender's envelopes refused (`sender_not_homed`)."""
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    vn_agency, cn_agency = vietnam_agency(), china_agency()
    await register(vn.api, vn_agency)
    await register(cn.api, cn_agency)
    an, li = vn_agency.device("nguyen.van.an"), cn_agency.device("li.wei")
    await enrol(vn.api, an)
    await enrol(cn.api, li)
    home = f"/v1/agencies/{vn_agency.code}/home"
    assert (
        await vn.api.post(home, json=_statement(vn_agency.root, vn_agency.code, vn, NOW))
    ).status == 201
    # Only the sending side routes (its operator's record of where the CN agency lives).
    await peering.set_home(vn.relay, cn_agency.code, cn.identity.origin)
    assert cn.relay.federation.homes.get(vn_agency.code) is None
    for side in (vn, cn):
        await peering.refresh_peers(side.relay, force=True)
        await forwarding.sync_workers(side.relay)
    token, li_token = await vn.api.login(an), await cn.api.login(li)

    first = an.seal([li], "Thông báo thứ nhất")
    assert (await send(vn.api, token, first)).status == 201
    got = await until(lambda: inbox(cn, li_token), "the first notice on the CN relay")
    assert [m["message_id"] for m in got] == [first.header.message_id]

    # The VN relay now holds a (root-signed) statement naming the CN relay as the home.
    await _statement_logged_anyway(vn, vn_agency.root, vn_agency.code, cn, NOW + 10)
    cn.relay.federation.sender_homes.clear()  # the cached proof expired
    second = an.seal([li], "Thông báo thứ hai")
    assert (await send(vn.api, token, second)).status == 201

    async def refused() -> list:
        return [
            r
            for r in await vn.relay.store.outbound_rows()
            if r.message_id == second.header.message_id and r.state == "refused"
        ]

    [row] = await until(refused, "the refusal of the second notice")
    assert row.last_error == "sender_not_homed"
    assert [m["message_id"] for m in await inbox(cn, li_token)] == [first.header.message_id]
