"""Peering (PROTOCOL.md §16.2): the operator's `liaison peer` commands on the data folder, the
peer table as the running relay sees it, and the signed peering check between relays."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.federation import (
    MAX_CLOCK_SKEW,
    RelayIdentity,
    RequestReplayed,
    StreamedRequest,
    VerifiedRequest,
    validate_relay_origin,
)
from crypto.log_entries import PeerEntry
from liaison.federation.outbound import OutboundQueue
from liaison.server.errors import ApiError, BadRequest, Forbidden, PayloadTooLarge
from liaison.server.federation.requests import (
    MAX_FEDERATION_BODY,
    authenticate,
    authenticate_streamed,
    fetch_public,
    refusal,
)
from liaison.server.relay import Relay, Settings, open_relay
from liaison.store import WriteTx
from liaison.store.federation import PeerRecord

T = TypeVar("T")

PEERING_PATH = "/v1/federation/peering"


class PeeringError(Exception):
    """An operator command that cannot be done; `code` is stable (the CLI prints it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- the running relay's view of its peers ------------------------------------------------------


async def refresh_peers(relay: Relay, *, force: bool = False) -> None:
    """Read the peer table and agency homes again when the cached copy is old (or `force`)."""
    state = relay.federation
    if force or state.peers_stale():
        state.set_peers(await relay.store.peers(), await relay.store.agency_homes())


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, streamed (a batch or a blob may exceed the app's limit for devices'
    requests); 413 past `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge("payload_too_large", "The federation request is too large.")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("payload_too_large", "The federation request is too large.")
        parts.append(chunk)
    return b"".join(parts)


async def authenticate_peer(
    relay: Relay,
    request: web.Request,
    *,
    limit: int = MAX_FEDERATION_BODY,
    remember: bool = True,
) -> tuple[VerifiedRequest, bytes]:
    """The authenticated peer and the body of a federation request (§16.3), or a refusal.
    `remember=False`: the caller keeps the nonce itself, in the transaction of its own write
    (`nonce_kept`), so that the border hop costs one commit, not two."""
    body = await read_body(request, limit)
    await _know_sender(relay, request)
    now = relay.clock()
    verified = await authenticate(
        request,
        body,
        own_origin=relay.identity.origin,
        peer_key=relay.federation.peer_key,
        replay_cache=relay.federation.replay_cache,
        now=now,
    )
    refuse_distrusted(relay.federation.peers[verified.sender_origin])
    if remember:
        await remember_nonce(relay, verified)
    return verified, body


async def nonce_kept(tx: WriteTx, relay: Relay, verified: VerifiedRequest) -> None:
    """§16.3 step 7 across processes and restarts, in the caller's write: the process's cache
    answers a replay to the same process at once; the shared table (`federation_nonces`, one
    row per pair until `created + MAX_CLOCK_SKEW`, expired rows purged as rows are written)
    refuses one sent to another worker or after a restart (nothing written then)."""
    fresh = await tx.remember_nonce(
        sender=verified.sender_origin,
        nonce=verified.nonce,
        expires_at=verified.created + MAX_CLOCK_SKEW,
        now=relay.clock(),
    )
    if not fresh:
        raise refusal(RequestReplayed("request nonce already seen"))


async def remember_nonce(relay: Relay, verified: VerifiedRequest) -> None:
    """`nonce_kept` in a write of its own (a request that writes nothing else)."""

    async def job(tx: WriteTx) -> None:
        await nonce_kept(tx, relay, verified)

    await relay.store.write(job)


async def authenticate_peer_streamed(relay: Relay, request: web.Request) -> StreamedRequest:
    """The authenticated peer of a request whose body is still to be read (a streamed blob);
    the caller checks the body's digest at its end."""
    await _know_sender(relay, request)
    streamed = authenticate_streamed(
        request,
        own_origin=relay.identity.origin,
        peer_key=relay.federation.peer_key,
        replay_cache=relay.federation.replay_cache,
        now=relay.clock(),
    )
    refuse_distrusted(relay.federation.peers[streamed.request.sender_origin])
    # A blob transfer writes in writes of its own: its nonce is kept in one of its own too.
    await remember_nonce(relay, streamed.request)
    return streamed


async def _know_sender(relay: Relay, request: web.Request) -> None:
    if request.headers.get("Liaison-Origin", "") not in relay.federation.peers:
        await refresh_peers(relay)  # a peer the operator just added


def refuse_distrusted(record: PeerRecord) -> None:
    """A distrusted peer's requests are refused, every one (§16.7): never trusted again until
    the operator here removes and re-adds it."""
    if record.distrusted:
        raise Forbidden(
            "peer_distrusted",
            "This relay distrusts yours: your log did not extend the checkpoint it cosigned.",
        )


def own_identity(relay: Relay) -> RelayIdentity:
    return RelayIdentity(relay.identity.origin, relay.identity.public_key)


def identity_json(identity: RelayIdentity) -> dict[str, Any]:
    return {
        "origin": identity.origin,
        "log_public_key": b64e(identity.public_key),
        "fingerprint": identity.compact_fingerprint,
        "safety_number": identity.safety_number,
    }


async def peering(relay: Relay, request: web.Request) -> dict[str, Any]:
    """GET /v1/federation/peering: this relay's identity; signed by a peer (§16.3), also that
    this relay peers with it and the size of the caller's log it last verified."""
    answer: dict[str, Any] = {**identity_json(own_identity(relay)), "peered": None}
    if "Signature" not in request.headers:
        return answer
    verified, _body = await authenticate_peer(relay, request)
    record = relay.federation.peers[verified.sender_origin]
    answer["peered"] = True
    answer["checkpoint_size"] = record.checkpoint_size
    return answer


# --- the operator's commands (`liaison peer`), on the data folder ------------------------------


async def on_relay(
    data_dir: Path, url: str | None, schema: str | None, action: Callable[[Relay], Awaitable[T]]
) -> T:
    """`action` on the relay of `data_dir` opened as `liaison serve` opens it (no serving)."""
    settings = Settings(data_dir=data_dir, database_url=url, db_schema=schema, purge_interval=0)
    async with open_relay(settings) as relay:
        return await action(relay)


@dataclass(frozen=True)
class FetchedPeer:
    identity: RelayIdentity
    checkpoint: str
    size: int


async def fetch_peer_identity(url: str, fingerprint: str) -> FetchedPeer:
    """The peer's identity from `URL/v1/server`, checked against the fingerprint the operator
    was given out of band, and its checkpoint verified with that key and origin (§16.2)."""
    try:
        server = await fetch_public(url, "/v1/server")
        if server.status != 200 or not isinstance(server.data, dict):
            raise PeeringError("peer_unreachable", f"{url} did not answer its identity.")
        identity = RelayIdentity(
            validate_relay_origin(server.data.get("origin")),
            b64d(server.data.get("log_public_key", "")),
        )
    except CryptoError as exc:
        raise PeeringError("peer_unreachable", f"{url} answered a malformed identity.") from exc
    except OSError as exc:
        raise PeeringError("peer_unreachable", f"{url} cannot be reached: {exc}") from exc
    if not identity.matches_fingerprint(fingerprint):
        raise PeeringError(
            "fingerprint_mismatch",
            f"The relay at {url} has key fingerprint {identity.compact_fingerprint}, not the "
            "one given: not peered.",
        )
    answer = await fetch_public(url, "/v1/log/checkpoint")
    try:
        if answer.status != 200 or not isinstance(answer.data, dict):
            raise PeeringError("peer_unreachable", f"{url} did not answer its checkpoint.")
        note = answer.data.get("checkpoint", "")
        checkpoint = verify_checkpoint(
            note, key_name=identity.key_name, public_key=identity.public_key, origin=identity.origin
        )
    except CryptoError as exc:
        raise PeeringError(
            "peer_checkpoint_invalid",
            "The peer's checkpoint is not signed by its key for its origin: not peered.",
        ) from exc
    return FetchedPeer(identity, note, checkpoint.size)


async def add_peer(relay: Relay, url: str, fetched: FetchedPeer) -> int:
    """Store the peer (or make a removed one active again) and log a `peer` entry."""
    identity = fetched.identity
    if identity.origin == relay.identity.origin:
        raise PeeringError("peer_is_self", "A relay does not peer with itself.")
    now = relay.clock()
    entry = PeerEntry(origin=identity.origin, log_key=identity.public_key, action="added", at=now)

    async def job(tx: WriteTx) -> int:
        held = await tx.peer_for_update(identity.origin)
        if held is not None and held.active and held.log_key == identity.public_key:
            await tx.update_peer(identity.origin, url=url)
            return held.log_index
        index = await relay.log.append(tx, entry)
        await tx.put_peer(
            origin=identity.origin,
            url=url,
            log_key=identity.public_key,
            checkpoint=fetched.checkpoint,
            size=fetched.size,
            index=index,
            at=now,
        )
        # The peer witnesses this relay's log (§16.7): its cosignatures are accepted.
        await tx.add_witness(name=identity.key_name, witness_key=identity.public_key, at=now)
        return index

    return await relay.store.write(job)


async def remove_peer(relay: Relay, origin: str) -> int:
    """Stop all traffic with the peer; its queued items stay (reported) until it is re-added."""
    now = relay.clock()

    async def job(tx: WriteTx) -> int:
        held = await tx.peer_for_update(origin)
        if held is None or not held.active:
            raise PeeringError("unknown_peer", f"No active peer {origin}.")
        entry = PeerEntry(origin=origin, log_key=held.log_key, action="removed", at=now)
        index = await relay.log.append(tx, entry)
        await tx.remove_peer(origin, index=index, at=now)
        await tx.remove_witness(name=origin, witness_key=held.log_key)
        return index

    return await relay.store.write(job)


async def set_home(relay: Relay, agency: str, origin: str | None) -> None:
    """Record which peer relay an agency lives on (None: forget it)."""
    if origin is not None and (await relay.store.peer(origin)) is None:
        raise PeeringError("unknown_peer", f"No peer {origin}: add it first.")
    if origin is not None and await relay.store.home_statement(agency) is not None:
        # Its root named this relay as its home (§16.4): it lives here, not on a peer.
        raise PeeringError(
            "agency_homed_here", f"Agency {agency} has a home statement naming this relay."
        )

    async def job(tx: WriteTx) -> None:
        await tx.set_agency_home(agency, origin, at=relay.clock())

    await relay.store.write(job)


def peer_json(record: PeerRecord, homes: dict[str, str], now: float) -> dict[str, Any]:
    identity = RelayIdentity(record.origin, record.log_key)
    return {
        "origin": record.origin,
        "url": record.url,
        "fingerprint": identity.compact_fingerprint,
        "state": record.state,
        "mutual": record.mutual_at is not None,
        "added_at": record.added_at,
        "last_seen_at": record.last_seen_at,
        "checkpoint_size": record.checkpoint_size,
        "last_error": record.last_error,
        "agencies": sorted(a for a, o in homes.items() if o == record.origin),
        "cosigned_size": record.cosigned_size,
        "cosigned_at": record.cosigned_at,
        "distrusted": record.distrusted,
        "distrusted_at": record.distrusted_at,
        "distrust_reason": record.distrust_reason,
        "misbehaviour": None if record.misbehaviour is None else json.loads(record.misbehaviour),
    }


async def list_peers(relay: Relay) -> list[dict[str, Any]]:
    """Every peer with its backlog: undelivered items and the age of the oldest."""
    now = time.time()
    homes = await relay.store.agency_homes()
    rows = await relay.store.outbound_rows()
    result = []
    for record in await relay.store.peers():
        mine = [r for r in rows if r.peer == record.origin]
        backlog = OutboundQueue.from_rows(record.origin, mine, clock=lambda: now).backlog()
        result.append(
            {
                **peer_json(record, homes, now),
                "backlog": backlog.undelivered,
                "backlog_age": round(backlog.oldest_age, 1),
                "refused": backlog.refused,
            }
        )
    return result


def refused_as_api(exc: PeeringError) -> ApiError:
    return BadRequest(exc.code, str(exc))
