"""What a running relay keeps in memory for federation: its peers, agency homes, the replay
cache, the peer client and the forwarding workers' wake-up events.

No import of liaison.server.relay here (relay.py imports this module).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crypto.federation import InMemoryReplayCache

# Seconds the peer table is trusted before it is read again (a `peer add` or `peer remove`
# from the command line takes effect within this).
PEER_CACHE_SECONDS = 2.0
# A peer whose oldest undelivered item is older than this makes /v1/health "degraded".
DEGRADED_AFTER = 30.0
# Seconds between two rounds of witnessing the peers' logs (PROTOCOL.md §16.7).
WITNESS_INTERVAL = 30.0


@dataclass
class FederationState:
    """Per-process federation state of one relay."""

    peers: dict[str, Any] = field(default_factory=dict)  # origin -> PeerRecord (active only)
    peers_loaded_at: float = float("-inf")
    homes: dict[str, str] = field(default_factory=dict)  # agency code -> home relay origin
    # Agencies a peer proved homed on it (its root's home statement): code -> (origin, until,
    # on the monotonic clock); see liaison/server/federation/foreign.py `homed_on`.
    sender_homes: dict[str, tuple[str, float]] = field(default_factory=dict)
    replay_cache: InMemoryReplayCache = field(default_factory=InMemoryReplayCache)
    client: Any = None  # PeerClient, made when the relay starts
    # The forwarding worker of each peer, woken when a write that enqueued for it commits.
    wake: dict[str, asyncio.Event] = field(default_factory=dict)
    workers: dict[str, Any] = field(default_factory=dict)  # origin -> PeerWorker
    # Set when a forwarded review was enqueued (liaison/server/federation/reviews.py); made
    # when federation starts.
    review_wake: asyncio.Event | None = None
    degraded_after: float = DEGRADED_AFTER
    monotonic: Callable[[], float] = time.monotonic
    # Problems with peers, for /v1/health and `peer list` (origin -> short reason).
    problems: dict[str, str] = field(default_factory=dict)
    # Blob transfers from peers under way (PROTOCOL.md §16.6): one lock and its number of
    # holders and waiters per (peer, blob), so that a peer asking where its dropped transfer
    # stands is answered only once the request that carried it has kept what arrived.
    blob_transfers: dict[str, tuple[asyncio.Lock, list[int]]] = field(default_factory=dict)
    # Witnessing the peers' logs: the round's period, an event that starts one at once, one
    # set after each round, and what the last round did (liaison/server/federation/witnessing.py).
    witness_interval: float = WITNESS_INTERVAL
    witness_wake: asyncio.Event = field(default_factory=asyncio.Event)
    round_done: asyncio.Event = field(default_factory=asyncio.Event)
    last_witness_round: list[Any] = field(default_factory=list)

    def peers_stale(self) -> bool:
        return self.monotonic() - self.peers_loaded_at > PEER_CACHE_SECONDS

    def set_peers(self, records: list[Any], homes: dict[str, str]) -> None:
        self.peers = {p.origin: p for p in records if p.active}
        self.homes = homes
        self.peers_loaded_at = self.monotonic()

    def peer_key(self, origin: str) -> bytes | None:
        record = self.peers.get(origin)
        return None if record is None else record.log_key

    def home_of(self, agency: str) -> str | None:
        """The peer origin the agency is homed on, or None when it lives here (or nowhere)."""
        origin = self.homes.get(agency)
        return origin if origin in self.peers else None

    def wake_up(self, origin: str) -> None:
        event = self.wake.get(origin)
        if event is not None:
            event.set()
