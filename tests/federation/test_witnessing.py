"""Each relay witnesses the other (PROTOCOL.md §16.7): cosignatures appear on both sides; a
peer whose log does not extend the checkpoint cosigned is distrusted with its evidence and
nothing more is forwarded to it; a client requiring the peer's cosignature refuses a checkpoint
without it and detects a split view."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint, verify_cosignature
from crypto.encoding import b64e
from liaison.client import witness as witness_ops
from liaison.client.home import Home
from liaison.client.misbehaviour import MISBEHAVIOUR_FILE
from liaison.client.transparency import advance
from liaison.client.transport import ApiClient
from liaison.server.federation import peering, witnessing
from liaison.server.identity import SIGNING_KEY_FILE
from liaison.server.models import FederationWitness
from tests.federation import peering_steps
from tests.federation.conftest import CN_ORIGIN, VN_ORIGIN, RunningRelay
from tests.federation.test_forwarding import border, message_ids
from tests.federation.test_peering import _cli
from tests.server.factory import AgencyKit
from tests.server.helpers import register, send


async def checkpoint_of(relay: RunningRelay) -> dict[str, Any]:
    answer = await relay.api.get("/v1/log/checkpoint")
    assert answer.status == 200, answer.body
    return answer.body


def cosigned_by(notes: list[str], witness: RunningRelay) -> list[str]:
    """The notes among `notes` that carry a valid cosignature of `witness`'s log key."""
    found = []
    for note in notes:
        try:
            verify_cosignature(
                note,
                witness_name=witness.identity.origin,
                witness_public=witness.identity.public_key,
            )
        except Exception:
            continue
        found.append(note)
    return found


async def grow(relay: RunningRelay, *codes: str) -> None:
    """A few more entries in the relay's log (agencies registered)."""
    await register(relay.api, *(AgencyKit(code, code, code) for code in codes))


async def test_peered_relays_cosign_each_others_checkpoints(relays) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    # Peering registered each as a witness of the other's log.
    assert [(n, k) for n, k, _at in await vn.relay.store.registered_witnesses()] == [
        (CN_ORIGIN, cn.identity.public_key)
    ]

    first = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    back = await witnessing.witness_step(cn.relay, VN_ORIGIN)
    assert (first.status, back.status) == ("cosigned", "cosigned")

    on_cn = await checkpoint_of(cn)
    assert on_cn["size"] == first.size
    assert cosigned_by(on_cn["witnessed"], vn) == [on_cn["checkpoint"]]
    on_vn = await checkpoint_of(vn)
    assert cosigned_by(on_vn["witnessed"], cn) == [on_vn["checkpoint"]]

    # Nothing new: nothing to cosign. The log grows: the next cosignature covers it, after
    # a consistency proof from the size cosigned before.
    assert (await witnessing.witness_step(vn.relay, CN_ORIGIN)).status == "unchanged"
    await grow(cn, "CN-GX-PX-GA", "CN-GX-NN-GA")
    grown = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert grown.status == "cosigned" and grown.size > first.size
    on_cn = await checkpoint_of(cn)
    assert cosigned_by([on_cn["cosigned"]], vn) and on_cn["cosigned"] == on_cn["checkpoint"]

    [shown] = await peering.list_peers(vn.relay)
    assert (shown["cosigned_size"], shown["distrusted"]) == (grown.size, False)

    # The answer is the documented one (OpenAPI: FederationWitness).
    answer = await vn.relay.federation.client.request(
        peer_origin=CN_ORIGIN,
        base_url=cn.url,
        method="GET",
        target=f"{witnessing.WITNESS_PATH}?from={first.size}&from={grown.size}",
    )
    typed = msgspec.convert(answer.data, FederationWitness)
    assert [c.from_ for c in typed.consistency] == [first.size, grown.size]
    assert typed.consistency[0].proof and not typed.consistency[1].proof


async def test_the_background_task_witnesses_each_peer_when_woken(relays) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    state = vn.relay.federation
    state.round_done.clear()
    state.witness_wake.set()  # what the interval does
    await asyncio.wait_for(state.round_done.wait(), 30)
    assert [(s.origin, s.status) for s in state.last_witness_round] == [(CN_ORIGIN, "cosigned")]
    assert cosigned_by((await checkpoint_of(cn))["witnessed"], vn)


async def forked_peer(start_relay: Any, real: RunningRelay, tmp_path: Path) -> RunningRelay:
    """A second relay with the real one's log key and origin but its own history: what a
    relay showing a split view serves to the witness."""
    fork_dir = tmp_path / "cn-fork"
    fork_dir.mkdir()
    shutil.copy(real.data_dir / SIGNING_KEY_FILE, fork_dir / SIGNING_KEY_FILE)
    fork = await start_relay("cn-fork", CN_ORIGIN)
    assert fork.identity == real.identity
    return fork


async def show_fork(witness: RunningRelay, fork: RunningRelay) -> None:
    """The witness's peer answers with the fork from now on (the peer's address now leads to
    it; same key, so `peer add` just takes the new address)."""
    await peering_steps.add(fork, witness)
    fetched = await peering.fetch_peer_identity(fork.url, fork.identity.compact_fingerprint)
    await peering.add_peer(witness.relay, fork.url, fetched)
    await peering.refresh_peers(witness.relay, force=True)


@pytest.mark.parametrize("fork_size", ["larger", "smaller"])
async def test_a_forked_peer_log_is_refused_reported_and_never_trusted(
    relays, start_relay, tmp_path, caplog, fork_size
) -> None:
    vn, cn = relays
    world = await border(vn, cn)
    await grow(cn, "CN-GX-PX-GA")
    cosigned = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert cosigned.status == "cosigned"

    fork = await forked_peer(start_relay, cn, tmp_path)
    if fork_size == "larger":
        await grow(fork, *(f"CN-GX-F{n}-GA" for n in range(cosigned.size + 1)))
    fork_size_now = (await checkpoint_of(fork))["size"]
    assert (fork_size_now > cosigned.size) == (fork_size == "larger")
    await show_fork(vn, fork)

    with caplog.at_level(logging.ERROR, logger=witnessing.__name__):
        step = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert (step.status, step.detail) == ("distrusted", "not_consistent")
    assert any("distrusted" in r.getMessage() for r in caplog.records)

    # Reported: the peer list (with the two signed notes as evidence) and /v1/health.
    [shown] = await peering.list_peers(vn.relay)
    assert shown["distrusted"] and shown["distrust_reason"] == "not_consistent"
    evidence = shown["misbehaviour"]
    assert evidence["reason"] == "not_consistent" and evidence["server"] == CN_ORIGIN
    held = await vn.relay.store.peer(CN_ORIGIN)
    assert evidence["first_checkpoint"] == held.cosigned_checkpoint
    health = await vn.api.get("/v1/health")
    assert health.status == 200 and health.body["status"] == "degraded"
    assert health.body["distrusted_peers"] == [{"origin": CN_ORIGIN, "reason": "not_consistent"}]
    assert "does not extend" in health.body["reason"]

    # The operator's command line says so too (on the data folder, beside the running relay).
    code, out, err = await asyncio.to_thread(_cli, "peer", "list", "--data-dir", str(vn.data_dir))
    assert code == 0 and "DISTRUSTED (not_consistent)" in out, out + err

    # Never trusted again: no more witnessing, the peer's requests refused, nothing forwarded;
    # the peer table read again (as after a restart) keeps it so.
    await peering.refresh_peers(vn.relay, force=True)
    assert vn.relay.federation.peers[CN_ORIGIN].distrusted
    assert (await witnessing.witness_step(vn.relay, CN_ORIGIN)).status == "distrusted"
    client = cn.relay.federation.client
    refused = await client.request(
        peer_origin=VN_ORIGIN, base_url=vn.url, method="GET", target=peering.PEERING_PATH
    )
    assert (refused.status, refused.code) == (403, "peer_distrusted")
    notice = world["vn_officer"].seal([world["cn_officer"]], "Đề nghị xác minh")
    assert (await send(vn.api, world["vn_token"], notice)).status == 201
    worker = vn.relay.federation.workers[CN_ORIGIN]
    await worker._step()  # the worker's turn: it holds the queue for a distrusted peer
    assert not worker.in_flight
    [row] = await vn.relay.store.outbound_rows(CN_ORIGIN)
    assert (row.message_id, row.state) == (notice.header.message_id, "pending")
    assert notice.header.message_id not in await message_ids(cn)
    assert notice.header.message_id not in await message_ids(fork)

    # The operator acts: remove the peer, settle it with its operator, add it again.
    await peering.remove_peer(vn.relay, CN_ORIGIN)
    await peering_steps.add(vn, cn)
    record = await vn.relay.store.peer(CN_ORIGIN)
    assert not record.distrusted and record.cosigned_checkpoint is None
    assert (await witnessing.witness_step(vn.relay, CN_ORIGIN)).status == "cosigned"


async def test_a_bad_signature_is_refused_but_proves_nothing(relays) -> None:
    """Unsigned bytes on the wire prove nothing against the peer: refused, reported, not
    distrusted (anyone on the path could have sent them)."""
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    await witnessing.witness_step(vn.relay, CN_ORIGIN)
    # The peer's record names another key for its log: every note it answers fails.
    other = nacl.signing.SigningKey.generate().verify_key
    await _set_peer_key(vn, bytes(other))
    step = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert (step.status, step.detail) == ("refused", "bad_signature")
    [shown] = await peering.list_peers(vn.relay)
    assert not shown["distrusted"]
    assert shown["last_error"] == "checkpoint refused: bad_signature"


async def _set_peer_key(relay: RunningRelay, key: bytes) -> None:
    async def job(tx: Any) -> None:
        await tx.update_peer(CN_ORIGIN, log_key=key)

    await relay.relay.store.write(job)


# --- the client: require the peer's cosignature ------------------------------------------


def client_home(path: Path) -> Home:
    return Home(path, passphrase=lambda confirm: "correct horse battery staple")


async def test_a_client_requiring_the_peer_cosignature_refuses_without_it(relays, tmp_path) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    home = client_home(tmp_path / "officer")
    async with ApiClient(vn.url) as api:
        known = await witness_ops.add_peer_witness(
            home, api, cn.identity.safety_number, required=True
        )
        assert known == cn.identity
        problems = await witness_ops.check_cosigned(home, api)
        assert problems and CN_ORIGIN in problems[0]

        assert (await witnessing.witness_step(cn.relay, VN_ORIGIN)).status == "cosigned"
        assert await witness_ops.check_cosigned(home, api) == []


async def test_trust_peer_on_the_command_line_records_the_peer_as_a_required_witness(
    relays, tmp_path
) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    home = tmp_path / "officer"
    fingerprint = cn.identity.compact_fingerprint
    code, out, err = await asyncio.to_thread(
        _cli, "audit", "trust-peer", fingerprint, "--require", "--server", vn.url,
        "--home", str(home), "--json",
    )  # fmt: skip
    assert code == 0, out + err
    assert json.loads(out) == {"origin": CN_ORIGIN, "fingerprint": fingerprint, "required": True}
    [known] = client_home(home).config()["witnesses"]
    assert known == {
        "name": CN_ORIGIN,
        "public_key": b64e(cn.identity.public_key),
        "required": True,
    }


async def test_an_unknown_fingerprint_is_not_recorded(relays, tmp_path) -> None:
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    home = client_home(tmp_path / "officer")
    async with ApiClient(vn.url) as api:
        with pytest.raises(witness_ops.BadInput):
            await witness_ops.add_peer_witness(
                home, api, vn.identity.compact_fingerprint, required=True
            )
    assert not home.config().get("witnesses")


async def test_a_split_view_is_caught_by_the_peer_cosignature(relays, tmp_path) -> None:
    """The VN relay showed this client a checkpoint of its own (signed with its log key, a
    history nobody else sees); the CN relay cosigned the real one: the client's check of the
    peer-cosigned checkpoint finds they are not one log, and keeps the proof."""
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    await grow(vn, "VN-QN-MC-BP", "VN-LS-CA", "VN-HG-CA")
    real = await checkpoint_of(vn)
    assert (await witnessing.witness_step(cn.relay, VN_ORIGIN)).status == "cosigned"

    forged = Checkpoint(VN_ORIGIN, real["size"] - 1, hashlib.sha256(b"another history").digest())
    shown = sign_checkpoint(forged, key_name=VN_ORIGIN, signing_key=vn.relay.identity.signing_key)
    home = client_home(tmp_path / "officer")
    async with ApiClient(vn.url) as api:
        await advance(home, api, shown)  # what the relay showed this client
        await witness_ops.add_peer_witness(
            home, api, cn.identity.compact_fingerprint, required=True
        )
        problems = await witness_ops.check_cosigned(home, api)
    assert problems and "not consistent" in problems[0]
    assert (home.root / MISBEHAVIOUR_FILE).exists()


async def test_the_forwarded_view_and_the_witnessed_view_must_be_one_log(relays) -> None:
    """A checkpoint of the peer carried by its batches (16.6) is a reference too: the peer's
    next checkpoint must extend it as well as the one cosigned."""
    vn, cn = relays
    await peering_steps.mutual(vn, cn)
    cosigned = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert cosigned.status == "cosigned"
    await grow(cn, "CN-GX-PX-GA", "CN-GX-NN-GA", "CN-GX-BS-GA")
    # What a batch of the peer would have carried: its signed checkpoint of another history.
    other = Checkpoint(CN_ORIGIN, cosigned.size + 1, hashlib.sha256(b"batch view").digest())
    carried = sign_checkpoint(other, key_name=CN_ORIGIN, signing_key=cn.relay.identity.signing_key)
    record = vn.relay.federation.peers[CN_ORIGIN]
    vn.relay.federation.peers[CN_ORIGIN] = replace(
        record, checkpoint=carried, checkpoint_size=other.size
    )
    step = await witnessing.witness_step(vn.relay, CN_ORIGIN)
    assert (step.status, step.detail) == ("distrusted", "not_consistent")
    [shown] = await peering.list_peers(vn.relay)
    assert shown["misbehaviour"]["first_checkpoint"] == carried


async def test_a_batch_carrying_a_forked_checkpoint_distrusts_the_peer(relays) -> None:
    """The forwarding path (16.6) holds the peer's checkpoints too: a batch whose signed
    checkpoint does not extend the one held is evidence, and the peer is distrusted."""
    vn, cn = relays
    await grow(cn, "CN-GX-PX-GA")  # so that the checkpoint held at `peer add` is not empty
    await peering_steps.mutual(vn, cn)
    held = vn.relay.federation.peers[CN_ORIGIN].checkpoint_size
    assert held > 0
    other = Checkpoint(CN_ORIGIN, held + 2, hashlib.sha256(b"batch fork").digest())
    note = sign_checkpoint(other, key_name=CN_ORIGIN, signing_key=cn.relay.identity.signing_key)
    body = json.dumps(
        {"checkpoint": note, "consistency_from": held, "consistency_proof": [], "items": []}
    ).encode()
    client = cn.relay.federation.client
    answer = await client.request(
        peer_origin=VN_ORIGIN, base_url=vn.url, method="POST", target="/v1/federation/envelopes",
        body=body,
    )  # fmt: skip
    assert (answer.status, answer.code) == (422, "peer_misbehaved")
    record = await vn.relay.store.peer(CN_ORIGIN)
    assert record.distrusted and record.distrust_reason == "not_consistent"
    again = await client.request(
        peer_origin=VN_ORIGIN, base_url=vn.url, method="GET", target=peering.PEERING_PATH
    )
    assert (again.status, again.code) == (403, "peer_distrusted")
