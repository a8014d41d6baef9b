"""Peering two test relays as their operators would (`liaison peer add` on each side)."""

from __future__ import annotations

from liaison.server.federation import peering
from tests.federation.conftest import RunningRelay


async def add(on: RunningRelay, peer: RunningRelay, fingerprint: str | None = None) -> int:
    """`liaison peer add PEER_URL FINGERPRINT` run by `on`'s operator."""
    fetched = await peering.fetch_peer_identity(
        peer.url, fingerprint or peer.identity.compact_fingerprint
    )
    index = await peering.add_peer(on.relay, peer.url, fetched)
    await peering.refresh_peers(on.relay, force=True)
    return index


async def mutual(vn: RunningRelay, cn: RunningRelay) -> None:
    await add(vn, cn)
    await add(cn, vn)
