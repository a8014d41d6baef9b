"""The federation routes and the federation part of the relay's life (start, stop), in one
place for the app factory (liaison/server/app.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from aiohttp import web

from liaison.server.federation import peering
from liaison.server.federation.requests import PeerClient
from liaison.server.keys import RELAY_KEY
from liaison.server.relay import Relay

_encode = msgspec.json.Encoder().encode


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=_encode(data), status=status, content_type="application/json", charset="utf-8"
    )


async def federation_peering(request: web.Request) -> web.Response:
    """GET /v1/federation/peering  [peer, optional]"""
    return _json(await peering.peering(request.app[RELAY_KEY], request))


ROUTES = [
    ("GET", peering.PEERING_PATH, federation_peering),
]


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[None]:
    """Federation while the relay serves: the peer table loaded, the kept-alive peer client."""
    state = relay.federation
    await peering.refresh_peers(relay, force=True)
    state.client = PeerClient(
        signing_key=relay.identity.signing_key, origin=relay.identity.origin, clock=relay.clock
    )
    try:
        yield
    finally:
        await state.client.close()
