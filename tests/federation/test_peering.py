"""Peering (PROTOCOL.md §16.2, §16.3): fingerprints checked, requests authenticated, traffic
only between relays that both added each other."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import select

from crypto.federation import InMemoryReplayCache
from crypto.log_entries import PeerEntry, parse_log_entry
from liaison.server.federation import peering
from liaison.server.federation.requests import PeerClient
from liaison.store.tables import federation_nonces
from tests.federation import peering_steps
from tests.federation.conftest import RunningRelay

PATH = peering.PEERING_PATH


def client_of(relay: RunningRelay, *, clock_offset: int = 0) -> PeerClient:
    return PeerClient(
        signing_key=relay.relay.identity.signing_key,
        origin=relay.relay.identity.origin,
        clock=lambda: relay.relay.clock() + clock_offset,
    )


async def ask(frm: RunningRelay, to: RunningRelay, **kw: int) -> tuple[int, dict]:
    client = client_of(frm, **kw)
    try:
        answer = await client.request(
            peer_origin=to.identity.origin, base_url=to.url, method="GET", target=PATH
        )
    finally:
        await client.close()
    return answer.status, answer.data


async def test_a_fingerprint_mismatch_is_refused_and_nothing_is_stored(relays) -> None:
    vn, cn = relays
    with pytest.raises(peering.PeeringError) as refused:
        await peering_steps.add(vn, cn, fingerprint=vn.identity.compact_fingerprint)
    assert refused.value.code == "fingerprint_mismatch"
    assert await vn.relay.store.peers() == []


async def test_the_safety_number_read_aloud_is_accepted_and_logged(relays) -> None:
    vn, cn = relays
    index = await peering_steps.add(vn, cn, fingerprint=cn.identity.safety_number)
    [record] = await vn.relay.store.peers()
    assert (record.origin, record.log_key, record.state) == (
        cn.identity.origin,
        cn.identity.public_key,
        "active",
    )
    assert record.checkpoint_size is not None
    [stored] = await vn.relay.store.log_entries(index, index + 1)
    entry = parse_log_entry(stored.data)
    assert isinstance(entry, PeerEntry)
    assert (entry.origin, entry.log_key, entry.action) == (
        cn.identity.origin,
        cn.identity.public_key,
        "added",
    )
    # Adding again changes nothing.
    assert await peering_steps.add(vn, cn) == index


async def test_traffic_needs_both_sides_to_have_added_each_other(relays) -> None:
    vn, cn = relays
    await peering_steps.add(vn, cn)  # only the Vietnamese side so far
    status, body = await ask(vn, cn)
    assert (status, body["code"]) == (403, "unknown_peer")
    await peering_steps.add(cn, vn)
    status, body = await ask(vn, cn)
    assert status == 200, body
    assert body["peered"] is True and body["origin"] == cn.identity.origin
    assert body["fingerprint"] == cn.identity.compact_fingerprint
    # Removal on one side stops the flow again.
    await peering.remove_peer(cn.relay, vn.identity.origin)
    await peering.refresh_peers(cn.relay, force=True)
    status, body = await ask(vn, cn)
    assert (status, body["code"]) == (403, "unknown_peer")
    assert [p.state for p in await cn.relay.store.peers()] == ["removed"]


async def test_an_unsigned_request_gets_only_the_identity(relays) -> None:
    vn, cn = relays
    async with aiohttp.ClientSession() as session, session.get(cn.url + PATH) as response:
        body = await response.json()
    assert response.status == 200
    assert body["peered"] is None and body["origin"] == cn.identity.origin


async def test_a_stale_or_future_request_is_refused(relays) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    for offset in (-301, 301):
        status, body = await ask(vn, cn, clock_offset=offset)
        assert (status, body["code"]) == (401, "federation_clock_skew")
    status, _body = await ask(vn, cn, clock_offset=-299)
    assert status == 200


async def _raw(to: RunningRelay, headers: dict[str, str], target: str = PATH) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(to.url + target, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_a_bad_signature_a_replayed_nonce_and_a_misdirected_request_are_refused(
    relays,
) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    client = client_of(vn)
    headers = client.signed_headers(
        peer_origin=cn.identity.origin, method="GET", target=PATH, body=b""
    )
    # One byte of the signature changed.
    sig = headers["Signature"]
    flipped = sig[:12] + ("A" if sig[12] != "A" else "B") + sig[13:]
    status, body = await _raw(cn, {**headers, "Signature": flipped})
    assert (status, body["code"]) == (401, "federation_bad_signature")
    # Signed for another path: the signature covers @path.
    status, body = await _raw(cn, headers, target=PATH + "?x=1")
    assert (status, body["code"]) == (401, "federation_bad_signature")
    # The genuine request once, then its replay.
    assert (await _raw(cn, headers))[0] == 200
    status, body = await _raw(cn, headers)
    assert (status, body["code"]) == (401, "federation_replayed")
    # Addressed to another relay (here: the sender itself).
    other = client.signed_headers(
        peer_origin=vn.identity.origin, method="GET", target=PATH, body=b""
    )
    status, body = await _raw(cn, other)
    assert (status, body["code"]) == (421, "federation_misdirected")
    # A relay that is no peer, with a valid signature of its own key.
    stranger = PeerClient(
        signing_key=__import__("nacl.signing").signing.SigningKey.generate(),
        origin="relay.elsewhere.example",
    )
    status, body = await _raw(
        cn,
        stranger.signed_headers(
            peer_origin=cn.identity.origin, method="GET", target=PATH, body=b""
        ),
    )
    assert (status, body["code"]) == (403, "unknown_peer")
    # Malformed headers.
    status, body = await _raw(cn, {**headers, "Signature-Input": "liaison=()"})
    assert (status, body["code"]) == (400, "federation_request_malformed")
    await client.close()


async def _nonces(relay: RunningRelay) -> list[tuple[str, str, int]]:
    async with relay.relay.store.read_connection() as conn:
        query = select(federation_nonces.c.sender, federation_nonces.c.nonce,
                       federation_nonces.c.expires_at)  # fmt: skip
        return [tuple(row) for row in await conn.execute(query)]


async def test_a_replay_to_another_worker_or_after_a_restart_is_refused(relays) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    client = client_of(vn)
    headers = client.signed_headers(
        peer_origin=cn.identity.origin, method="GET", target=PATH, body=b""
    )
    await client.close()
    assert (await _raw(cn, headers))[0] == 200
    [(sender, _nonce, expires_at)] = await _nonces(cn)
    assert sender == vn.identity.origin
    # Another process (or this one restarted) has an empty cache of its own: the shared table
    # still refuses the replay.
    cn.relay.federation.replay_cache = InMemoryReplayCache()
    status, body = await _raw(cn, headers)
    assert (status, body["code"]) == (401, "federation_replayed")
    # Nonces past the timestamp window are purged by the next authenticated request.
    real_clock = cn.relay.clock
    cn.relay.clock = lambda: expires_at + 1  # type: ignore[method-assign]
    later = PeerClient(
        signing_key=vn.relay.identity.signing_key,
        origin=vn.identity.origin,
        clock=lambda: expires_at + 1,
    )
    fresh = later.signed_headers(
        peer_origin=cn.identity.origin, method="GET", target=PATH, body=b""
    )
    await later.close()
    try:
        assert (await _raw(cn, fresh))[0] == 200
    finally:
        cn.relay.clock = real_clock  # type: ignore[method-assign]
    remaining = await _nonces(cn)
    assert len(remaining) == 1 and remaining[0][2] > expires_at


def _cli(*args: str) -> tuple[int, str, str]:
    import os
    import subprocess
    import sys

    from tests.e2e.e2e_relay import PROJECT_ROOT

    done = subprocess.run(
        [sys.executable, "-m", "liaison", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LANG": "en_US.UTF-8"},
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


async def test_the_peer_commands_refuse_a_mismatch_and_list_what_they_added(
    relays, tmp_path
) -> None:
    import asyncio
    import json

    vn, cn = relays
    other = tmp_path / "operator-copy"  # the operator's command line on its own data folder
    code, out, err = await asyncio.to_thread(
        _cli,
        "peer",
        "add",
        cn.url,
        vn.identity.compact_fingerprint,
        "--data-dir",
        str(other),
        "--json",
    )
    assert code == 1 and "fingerprint is not the one given" in err, out + err
    code, out, _err = await asyncio.to_thread(
        _cli, "peer", "list", "--data-dir", str(other), "--json"
    )
    assert code == 0 and json.loads(out) == {"peers": []}
    code, out, err = await asyncio.to_thread(
        _cli, "peer", "add", cn.url, cn.identity.safety_number, "--data-dir", str(other), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["origin"] == cn.identity.origin
    code, out, _err = await asyncio.to_thread(
        _cli, "peer", "list", "--data-dir", str(other), "--json"
    )
    [listed] = json.loads(out)["peers"]
    assert (listed["origin"], listed["state"], listed["backlog"]) == (
        cn.identity.origin,
        "active",
        0,
    )
    assert listed["fingerprint"] == cn.identity.compact_fingerprint
    code, out, _err = await asyncio.to_thread(
        _cli, "peer", "identity", "--data-dir", str(other), "--json"
    )
    assert code == 0 and set(json.loads(out)) >= {"origin", "fingerprint", "safety_number"}
    code, _out, _err = await asyncio.to_thread(
        _cli, "peer", "remove", cn.identity.origin, "--data-dir", str(other)
    )
    assert code == 0
