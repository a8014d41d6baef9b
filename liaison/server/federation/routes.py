"""The federation routes and the federation part of the relay's life (start, stop), in one
place for the app factory (liaison/server/app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from aiohttp import web

from liaison.server import auth
from liaison.server.federation import (
    crossing,
    foreign,
    forwarding,
    homes,
    inbound,
    peering,
    reviews,
    witnessing,
)
from liaison.server.federation.requests import PeerClient
from liaison.server.keys import RELAY_KEY
from liaison.server.models import HomeStatementUpload, decode_request
from liaison.server.relay import Relay

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=_encode(data), status=status, content_type="application/json", charset="utf-8"
    )


async def federation_peering(request: web.Request) -> web.Response:
    """GET /v1/federation/peering  [peer, optional]"""
    return _json(await peering.peering(request.app[RELAY_KEY], request))


async def federation_envelopes(request: web.Request) -> web.Response:
    """POST /v1/federation/envelopes  [peer]"""
    try:
        return _json(await inbound.receive_envelopes(request.app[RELAY_KEY], request))
    except inbound.CheckpointUnknown as exc:
        # The refusal says which size of the sender's log this relay holds: the sender's next
        # batch proves consistency from there.
        body = {"code": exc.code, "message": exc.message, "checkpoint_size": exc.held}
        return _json(body, status=409)


async def federation_acks(request: web.Request) -> web.Response:
    """POST /v1/federation/acks  [peer]"""
    return _json(await inbound.receive_acks(request.app[RELAY_KEY], request))


async def federation_blob(request: web.Request) -> web.Response:
    """PUT /v1/federation/blobs/{blob_id}?offset=&size=  [peer]: the body is streamed."""
    relay = request.app[RELAY_KEY]
    try:
        return _json(await inbound.receive_blob(relay, request, request.match_info["blob_id"]))
    except ConnectionResetError:
        # The peer went away mid-body; what arrived is kept and it resumes from the offset.
        raise web.HTTPBadRequest(reason="The transfer's connection was lost.") from None
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="The transfer's body stalled.") from None


async def federation_blob_state(request: web.Request) -> web.Response:
    """GET /v1/federation/blobs/{blob_id}  [peer]"""
    relay = request.app[RELAY_KEY]
    return _json(await inbound.blob_state(relay, request, request.match_info["blob_id"]))


async def federation_reviews(request: web.Request) -> web.Response:
    """POST /v1/federation/reviews  [peer]"""
    try:
        return _json(await reviews.receive_review(request.app[RELAY_KEY], request))
    except inbound.CheckpointUnknown as exc:
        body = {"code": exc.code, "message": exc.message, "checkpoint_size": exc.held}
        return _json(body, status=409)


async def federation_log_message(request: web.Request) -> web.Response:
    """GET /v1/federation/log/messages/{message_id}  [peer]"""
    relay = request.app[RELAY_KEY]
    return _json(await crossing.peer_entry(relay, request, request.match_info["message_id"]))


async def _device(request: web.Request) -> str:
    """The enrolled device of a `[device]` route's bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return await auth.authenticate(request.app[RELAY_KEY], token)


async def foreign_log_message(request: web.Request) -> web.Response:
    """GET /v1/foreign/log/messages/{message_id}  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await _device(request)
    return _json(await crossing.across(relay, device_id, request.match_info["message_id"]))


async def federation_agency(request: web.Request) -> web.Response:
    """GET /v1/federation/agencies/{code}?since=  [peer]"""
    relay = request.app[RELAY_KEY]
    return _json(await foreign.peer_directory(relay, request, request.match_info["code"]))


async def foreign_agency(request: web.Request) -> web.Response:
    """GET /v1/foreign/agencies/{code}?since=  [device]"""
    relay = request.app[RELAY_KEY]
    await _device(request)  # officers' names: enrolled devices only, as on the own directory
    since = foreign.since_param(request.query.get("since"))
    return _json(await foreign.foreign_directory(relay, request.match_info["code"], since))


async def agency_home_put(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/home  [public: the agency root's signature authorizes it]"""
    relay = request.app[RELAY_KEY]
    body = decode_request(HomeStatementUpload, await request.read())
    answer, created = await homes.put_home(relay, request.match_info["code"], body.statement)
    return _json(answer, status=201 if created else 200)


async def agency_home_get(request: web.Request) -> web.Response:
    """GET /v1/agencies/{code}/home  [public]"""
    return _json(await homes.get_home(request.app[RELAY_KEY], request.match_info["code"]))


async def federation_witness(request: web.Request) -> web.Response:
    """GET /v1/federation/witness?from=  [peer]"""
    return _json(await witnessing.witnessed_checkpoint(request.app[RELAY_KEY], request))


async def federation_cosignature(request: web.Request) -> web.Response:
    """POST /v1/federation/cosignatures  [peer]"""
    answer = await witnessing.receive_cosignature(request.app[RELAY_KEY], request)
    return _json(answer, status=201)


ROUTES = [
    ("GET", peering.PEERING_PATH, federation_peering),
    ("POST", forwarding.ENVELOPES_PATH, federation_envelopes),
    ("POST", forwarding.ACKS_PATH, federation_acks),
    ("PUT", forwarding.BLOBS_PATH + "/{blob_id}", federation_blob),
    ("GET", forwarding.BLOBS_PATH + "/{blob_id}", federation_blob_state),
    ("POST", reviews.REVIEWS_PATH, federation_reviews),
    ("GET", crossing.PEER_ENTRY_PATH + "/{message_id}", federation_log_message),
    ("GET", "/v1/foreign/log/messages/{message_id}", foreign_log_message),
    ("GET", foreign.DIRECTORY_PATH + "/{code}", federation_agency),
    ("GET", "/v1/foreign/agencies/{code}", foreign_agency),
    ("POST", "/v1/agencies/{code}/home", agency_home_put),
    ("GET", "/v1/agencies/{code}/home", agency_home_get),
    ("GET", witnessing.WITNESS_PATH, federation_witness),
    ("POST", witnessing.COSIGNATURES_PATH, federation_cosignature),
]

# Seconds between reads of the peer table for workers to start or stop (`liaison peer add`
# and `remove` run beside the relay). Forwarding itself never waits on this.
PEER_SYNC_SECONDS = 2.0


async def _sync_peers(relay: Relay) -> None:
    while True:
        await asyncio.sleep(PEER_SYNC_SECONDS)
        try:
            await peering.refresh_peers(relay, force=True)
            await forwarding.sync_workers(relay)
        except Exception:
            log.exception("reading the peer table failed; trying again")


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[None]:
    """Federation while the relay serves: the peer table loaded, the kept-alive peer client."""
    state = relay.federation
    await peering.refresh_peers(relay, force=True)
    state.client = PeerClient(
        signing_key=relay.identity.signing_key, origin=relay.identity.origin, clock=relay.clock
    )
    await forwarding.start_workers(relay)
    sync = asyncio.create_task(_sync_peers(relay), name="liaison-federation-peers")
    witnessing_task = asyncio.create_task(witnessing.run(relay), name="liaison-witness-peers")
    state.review_wake = asyncio.Event()
    review_sender = asyncio.create_task(reviews.run_sender(relay), name="liaison-review-fwd")
    try:
        yield
    finally:
        for task in (sync, witnessing_task, review_sender):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await forwarding.stop_workers(relay)
        await state.client.close()
