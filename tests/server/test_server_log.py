"""The log: signed checkpoints, consistency between them, entries matching leaf hashes, restarts."""

from __future__ import annotations

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, canonical_json
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from liaison.server.app import create_app
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send


async def _checkpoint(api):
    server = (await api.get("/v1/server")).body
    answer = (await api.get("/v1/log/checkpoint")).body
    cp = verify_checkpoint(
        answer["checkpoint"],
        key_name=server["log_key_name"],
        public_key=b64d(server["log_public_key"]),
        origin=server["origin"],
    )
    assert cp.size == answer["size"]
    return cp


async def test_empty_log_has_a_signed_checkpoint(api) -> None:
    assert (await _checkpoint(api)).size == 0


async def test_checkpoints_are_consistent_and_every_entry_is_included(api) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn)
    old = await _checkpoint(api)
    await register(api, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    token = await api.login(alice)
    for i in range(3):
        await send(api, token, alice.seal([wei], f"m{i}"))
    new = await _checkpoint(api)
    assert new.size == 7
    proof = (await api.get("/v1/log/consistency", params={"from": old.size, "to": new.size})).body
    verify_consistency(
        old.size, new.size, old.root_hash, new.root_hash, [b64d(h) for h in proof["proof"]]
    )
    entries = (await api.get("/v1/log/entries", params={"start": 0, "end": new.size})).body
    assert [e["index"] for e in entries["entries"]] == list(range(new.size))
    for item in entries["entries"]:
        answer = (
            await api.get("/v1/log/proof", params={"index": item["index"], "size": new.size})
        ).body
        assert b64d(answer["leaf_hash"]) == leaf_hash(canonical_json(item["entry"]))
        verify_inclusion(
            b64d(answer["leaf_hash"]),
            item["index"],
            new.size,
            [b64d(h) for h in answer["proof"]],
            new.root_hash,
        )
    kinds = [e["entry"]["kind"] for e in entries["entries"]]
    assert kinds == [
        "agency",
        "agency",
        "certificate",
        "certificate",
        "envelope",
        "envelope",
        "envelope",
    ]


async def test_restarted_server_rebuilds_the_same_log(aiohttp_client, api, settings) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    await enrol(api, vn.device("alice"))
    before = await _checkpoint(api)
    from tests.server.relay_api import Api

    second = Api(await aiohttp_client(create_app(settings)), api.admin_token)
    after = await _checkpoint(second)
    assert (after.size, after.root_hash) == (before.size, before.root_hash)
    await register(second, china_agency())
    assert (await _checkpoint(api)).size == before.size + 1  # the first process catches up


async def test_server_answers_its_log_identity(api) -> None:
    server = (await api.get("/v1/server")).body
    assert server["origin"].startswith("liaison.relay/")
    assert len(b64d(server["log_public_key"])) == 32
