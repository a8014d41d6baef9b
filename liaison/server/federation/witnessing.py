"""Each relay witnesses its peers' logs (PROTOCOL.md §16.7): it fetches a peer's checkpoint over
a signed request, checks it extends the last one it cosigned (consistency proof), cosigns it
with its own log key and hands the cosignature back; a peer whose log does not extend what this
relay cosigned is distrusted, with the evidence kept, until its operator removes and re-adds it.

The peer's side answers two federation routes: its checkpoint with the consistency proof from
the size asked for, and the cosignature, accepted as from a registered witness (each relay
registers its peers as witnesses of its own log when it peers with them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from crypto.checkpoint import cosign_checkpoint
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError, PeerMisbehaved
from crypto.federation import RelayIdentity
from liaison.federation.faults import PeerLogMisbehaved, check_peer_checkpoint
from liaison.server import witness
from liaison.server.errors import BadRequest
from liaison.server.federation import peering
from liaison.server.models import CosignatureUpload, FederationCosignature, decode_request
from liaison.server.relay import Relay
from liaison.store import WriteTx
from liaison.store.federation import PeerRecord

log = logging.getLogger(__name__)

WITNESS_PATH = "/v1/federation/witness"
COSIGNATURES_PATH = "/v1/federation/cosignatures"

_encode = msgspec.json.Encoder().encode


# --- the witnessed relay's side: its checkpoint, and cosignatures coming back ---------------


MAX_REFERENCES = 2  # the last checkpoint cosigned, the last one a batch of the peer carried


async def witnessed_checkpoint(relay: Relay, request: web.Request) -> dict[str, Any]:
    """GET /v1/federation/witness?from=N[&from=M] [peer]: this log's checkpoint (its own
    signature only) and the consistency proof from each size asked for: those of the
    checkpoints of this log the peer holds. A size this log never reached gets no proof: the
    peer then holds two signed notes that no append-only log produces, which it reports."""
    await peering.authenticate_peer(relay, request)
    try:
        sizes = sorted({int(v) for v in request.query.getall("from", [])})
    except ValueError as exc:
        raise BadRequest("invalid_request", "from must be a tree size.") from exc
    if len(sizes) > MAX_REFERENCES or any(n < 0 for n in sizes):
        raise BadRequest("invalid_request", "from must be at most two tree sizes.")
    await relay.log.catch_up(max(sizes, default=0))
    size, note = relay.log.checkpoint()
    consistency = []
    for old in sizes:
        proof = await relay.log.consistency_proof(old, size) if 0 < old < size else []
        consistency.append({"from": old, "proof": [b64e(h) for h in proof]})
    return {"checkpoint": note, "size": size, "consistency": consistency}


async def receive_cosignature(relay: Relay, request: web.Request) -> dict[str, Any]:
    """POST /v1/federation/cosignatures [peer]: the peer's cosignature on one of this log's
    checkpoints, taken as from the registered witness named by the peer's origin and log key
    (the same checks and storage as `POST /v1/log/cosignatures`)."""
    verified, body = await peering.authenticate_peer(relay, request)
    record = relay.federation.peers[verified.sender_origin]
    note = decode_request(FederationCosignature, body).checkpoint
    upload = CosignatureUpload(
        checkpoint=note, witness_name=record.origin, witness_key=b64e(record.log_key)
    )
    return await witness.submit(relay, upload)


# --- the witness's side: one step per peer ---------------------------------------------------


@dataclass(frozen=True)
class WitnessStep:
    """What one witnessing step did for one peer: `status` is `cosigned`, `unchanged` (the
    peer's log has not grown since the last cosignature), `distrusted` (now or before: nothing
    is fetched), `unreachable`, `refused` (the peer answered wrongly or refused the request),
    or `not_peered`; `size` the checkpoint's size when one was checked."""

    origin: str
    status: str
    size: int | None = None
    detail: str | None = None


async def ensure_registered(relay: Relay, record: PeerRecord) -> None:
    """The peer is a registered witness of this relay's log (peers added before witnessing
    existed are registered at their first step)."""
    if await relay.store.witness_registered(record.origin, record.log_key):
        return

    async def job(tx: WriteTx) -> None:
        await tx.add_witness(name=record.origin, witness_key=record.log_key, at=relay.clock())

    await relay.store.write(job)


def references(relay: Relay, record: PeerRecord) -> list[tuple[str, int]]:
    """(note, size) of each checkpoint of the peer this relay holds, each verified when it
    came: the last one it cosigned, and the last one a batch of the peer carried (16.6), or the
    one verified at `peer add`. The peer's next checkpoint must extend both: its witnessed
    view and its forwarded view are one log."""
    held = relay.federation.peers.get(record.origin, record)  # a batch's, not yet written
    found = {}
    for note, size in (
        (record.cosigned_checkpoint, record.cosigned_size),
        (held.checkpoint, held.checkpoint_size),
    ):
        if note and size:  # an empty log is consistent with every later one (no proof)
            found[note] = size
    return list(found.items())


async def witness_step(relay: Relay, origin: str) -> WitnessStep:
    """Fetch the peer's checkpoint, check it extends every checkpoint of the peer held
    (`references`), cosign it and post the cosignature back."""
    record = await relay.store.peer(origin)
    if record is None or not record.active:
        return WitnessStep(origin, "not_peered")
    if record.distrusted:
        return WitnessStep(origin, "distrusted", detail=record.distrust_reason)
    await ensure_registered(relay, record)
    identity = RelayIdentity(record.origin, record.log_key)
    held = references(relay, record)
    query = "&".join(f"from={n}" for n in sorted({size for _note, size in held}))
    try:
        answer = await relay.federation.client.request(
            peer_origin=origin,
            base_url=record.url,
            method="GET",
            target=WITNESS_PATH + (f"?{query}" if query else ""),
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return WitnessStep(origin, "unreachable", detail=type(exc).__name__)
    if answer.status != 200 or not isinstance(answer.data, dict):
        return WitnessStep(origin, "refused", detail=f"{answer.status} {answer.code or ''}")
    note = answer.data.get("checkpoint")
    try:
        if not isinstance(note, str):
            raise PeerMisbehaved("malformed_answer", "the witness answer has no checkpoint")
        proofs = _proofs(answer.data.get("consistency"))
        checkpoint = check_peer_checkpoint(
            peer=identity, note=note, previous_note=None, consistency_proof=[], detected_at=0
        )
        if any(size not in proofs for _note, size in held):
            raise PeerMisbehaved("malformed_answer", "a consistency proof asked for is missing")
        for previous_note, previous_size in held:
            check_peer_checkpoint(
                peer=identity,
                note=note,
                previous_note=previous_note,
                consistency_proof=proofs[previous_size],
                detected_at=relay.clock(),
            )
    except PeerLogMisbehaved as exc:
        await distrust(relay, record, exc)
        return WitnessStep(origin, "distrusted", detail=exc.reason)
    except (PeerMisbehaved, CryptoError) as exc:
        # Unsigned bytes on the wire (a bad signature, a malformed proof) prove nothing
        # against the peer: refused and reported, tried again at the next step.
        reason = getattr(exc, "reason", "malformed_answer")
        await _report_refused(relay, origin, reason)
        return WitnessStep(origin, "refused", detail=reason)
    if checkpoint.size == record.cosigned_size:
        return WitnessStep(origin, "unchanged", checkpoint.size)
    await _keep_cosigned(relay, origin, note, checkpoint.size)
    return await _post_cosignature(relay, record, note, checkpoint.size)


async def _report_refused(relay: Relay, origin: str, reason: str) -> None:
    """A checkpoint answer refused: in the relay's log and in `peer list` (`last_error`)."""
    log.warning("peer %s answered its checkpoint wrongly: %s", origin, reason)
    relay.federation.problems[origin] = f"misbehaved: {reason}"

    async def job(tx: WriteTx) -> None:
        await tx.update_peer(origin, last_error=f"checkpoint refused: {reason}")

    await relay.store.write(job)


def _proofs(value: Any) -> dict[int, list[bytes]]:
    """The answer's consistency proofs by the size they start from (a malformed one raises
    PeerMisbehaved or a CryptoError: refused, as unsigned bytes prove nothing)."""
    if not isinstance(value, list):
        raise PeerMisbehaved("malformed_answer", "the consistency proofs are not a list")
    proofs: dict[int, list[bytes]] = {}
    for item in value:
        start, proof = (item.get("from"), item.get("proof")) if isinstance(item, dict) else (0, 0)
        if not isinstance(start, int) or isinstance(start, bool) or not isinstance(proof, list):
            raise PeerMisbehaved("malformed_answer", "a consistency proof is malformed")
        proofs[start] = [b64d(h) for h in proof]
    return proofs


async def _keep_cosigned(relay: Relay, origin: str, note: str, size: int) -> None:
    """The checkpoint is this relay's reference for the next step, kept before the
    cosignature leaves (a crash after posting cannot make it check against an older one)."""
    now = relay.clock()

    async def job(tx: WriteTx) -> None:
        held = await tx.peer_for_update(origin)
        if held is None or held.distrusted or (held.cosigned_size or 0) > size:
            return  # another process of this relay cosigned a larger one meanwhile
        await tx.update_peer(origin, cosigned_checkpoint=note, cosigned_size=size, cosigned_at=now)

    await relay.store.write(job)


async def _post_cosignature(relay: Relay, record: PeerRecord, note: str, size: int) -> WitnessStep:
    identity = relay.identity
    line = cosign_checkpoint(
        note,
        witness_name=identity.origin,
        witness_key=identity.signing_key,
        timestamp=relay.clock(),
    )
    body = _encode({"checkpoint": note + line})
    try:
        answer = await relay.federation.client.request(
            peer_origin=record.origin,
            base_url=record.url,
            method="POST",
            target=COSIGNATURES_PATH,
            body=body,
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return WitnessStep(record.origin, "unreachable", size, type(exc).__name__)
    if answer.status not in (200, 201):
        return WitnessStep(record.origin, "refused", size, f"{answer.status} {answer.code or ''}")
    return WitnessStep(record.origin, "cosigned", size)


async def distrust(relay: Relay, record: PeerRecord, exc: PeerLogMisbehaved) -> None:
    """Keep the evidence, stop trusting the peer (forwarding to it stops, its requests are
    refused), and say so: in `peer list`, in /v1/health and in the relay's log."""
    now = relay.clock()
    evidence = json.dumps(exc.evidence, sort_keys=True)

    async def job(tx: WriteTx) -> None:
        await tx.update_peer(
            record.origin, distrusted_at=now, distrust_reason=exc.reason, misbehaviour=evidence
        )

    await relay.store.write(job)
    held = relay.federation.peers.get(record.origin)
    if held is not None:
        relay.federation.peers[record.origin] = replace(
            held, distrusted_at=now, distrust_reason=exc.reason
        )
    relay.federation.problems[record.origin] = f"distrusted: {exc.reason}"
    log.error(
        "peer %s distrusted: its log does not extend the checkpoint this relay cosigned (%s); "
        "forwarding to it stopped. Evidence in `liaison peer list --json`; after the peers' "
        "operators have settled it, `liaison peer remove` and `liaison peer add` again.",
        record.origin,
        exc.reason,
    )


# --- the background task ---------------------------------------------------------------------


async def witness_round(relay: Relay) -> list[WitnessStep]:
    """One step for every active peer, one after the other."""
    steps = []
    for origin in sorted(relay.federation.peers):
        try:
            steps.append(await witness_step(relay, origin))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("witnessing peer %s failed a step", origin)
    return steps


async def run(relay: Relay) -> None:
    """Witness every peer each `witness_interval` seconds (or at once when woken), for as long
    as the relay serves; `round_done` is set after each round."""
    state = relay.federation
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.witness_wake.wait(), state.witness_interval)
        state.witness_wake.clear()
        state.last_witness_round = await witness_round(relay)
        state.round_done.set()
