"""Peering two test relays as their operators would (`liaison peer add` on each side)."""

from __future__ import annotations

from liaison.server.federation import peering
from tests.federation.conftest import RunningRelay


async def add(
    on: RunningRelay, peer: RunningRelay, fingerprint: str | None = None, url: str | None = None
) -> int:
    """`liaison peer add PEER_URL FINGERPRINT` run by `on`'s operator (`url`: the peer reached
    some other way than its own address, through a proxy)."""
    url = url or peer.url
    fetched = await peering.fetch_peer_identity(
        url, fingerprint or peer.identity.compact_fingerprint
    )
    index = await peering.add_peer(on.relay, url, fetched)
    await peering.refresh_peers(on.relay, force=True)
    return index


async def mutual(vn: RunningRelay, cn: RunningRelay, cn_url: str | None = None) -> None:
    await add(vn, cn, url=cn_url)
    await add(cn, vn)
