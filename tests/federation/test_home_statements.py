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
from liaison.server.federation import peering
from tests.federation import peering_steps
from tests.federation.test_forwarding import entries_of
from tests.server.factory import NOW, china_agency
from tests.server.helpers import register


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
