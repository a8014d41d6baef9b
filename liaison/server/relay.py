"""The relay's running state: its settings, its resources opened together, and `open_relay`.

Every service module (directory, auth, mailbox, log_queries, review, retention, witness) is a
set of functions over one `Relay`; the app factory and `liaison db purge` both get theirs from
`open_relay`, so they open the store, keys and log the same way.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.keys import device_agency
from liaison.server.blobs import BlobStore
from liaison.server.federation.state import FederationState
from liaison.server.identity import ServerIdentity, ensure_server_identity
from liaison.server.log import TransparencyLog
from liaison.server.push import PushHub
from liaison.server.ratelimit import Limiter, RateLimits
from liaison.store import Store, database_url
from liaison.store.engine import asyncpg_dsn, schema_connect_args
from liaison.store.records import DeviceRecord

MiB = 1 << 20
# 1 MiB of ciphertext body plus room for a header and wraps to 256 recipients.
DEFAULT_MAX_ENVELOPE = MiB + 64 * 1024
# Envelope bytes an agency's devices may keep on the relay: far above what an office sends
# between retention purges (thousands of notices a day at a few KiB each).
DEFAULT_ENVELOPE_QUOTA = 10 * 1024 * MiB


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class ReadinessLimits:
    """Bounds of the readiness check (liaison/server/health.py), in seconds."""

    # A database that takes longer than this to answer `SELECT 1` is not answering.
    database_timeout: float = 2.0
    # A write waiting longer than this for its commit: the writer does not keep up (a send
    # normally waits a few milliseconds; seconds mean a lock held elsewhere or a stalled disk).
    max_write_wait: float = 10.0


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None  # None: SQLite in data_dir; else sqlite… or postgresql://…
    host: str = "127.0.0.1"
    port: int = 8080
    # PostgreSQL schema to use (search_path); tests give each run its own.
    db_schema: str | None = None
    origin: str | None = None  # log origin; default chosen and stored on first start
    token_ttl: int = 900
    challenge_ttl: int = 60
    max_envelope_bytes: int = DEFAULT_MAX_ENVELOPE
    clock: Callable[[], int] = field(default=_now)
    rng: Callable[[int], bytes] = field(default=secrets.token_bytes)
    # Seconds between runs of the retention purge (liaison/server/retention.py); 0: never.
    purge_interval: int = 3600
    # Called once with the admin token when it is created (first start).
    announce_admin_token: Callable[[str], None] | None = None
    # Bytes of attachment blobs each agency may store (PROTOCOL.md section 14.6); None: no limit.
    attachment_quota_bytes: int | None = None
    # Bytes of envelopes (ciphertext held until purged) each agency's devices may keep on the
    # relay, counted per sender agency (EnvelopeQuota); None: no limit.
    envelope_quota_bytes: int | None = DEFAULT_ENVELOPE_QUOTA
    # Requests per minute per device and per address (liaison/server/ratelimit.py), on a
    # monotonic clock of their own: the relay's clock is wall time and may be set back.
    rate_limits: RateLimits = field(default_factory=RateLimits)
    rate_clock: Callable[[], float] = field(default=time.monotonic)
    # When /v1/health answers 503 (not ready).
    readiness: ReadinessLimits = field(default_factory=ReadinessLimits)
    # `liaison serve --workers N`: this worker's name (index.generation), sent back in the
    # Liaison-Worker header (liaison/server/workers.py); None for a relay of its own.
    worker_name: str | None = None
    # Measure requests, commits and sockets for /metrics (liaison/server/metrics.py), which
    # `liaison serve --metrics-port` serves apart from the relay's port.
    metrics: bool = False


@dataclass
class EnvelopeQuota:
    """Envelope bytes each agency's devices keep on the relay, against a per-agency limit.

    Held in memory, so a send does not scan the envelopes table: counted once when the relay
    opens (one aggregate query), then reserved by a send before its write, given back by a
    send that fails or turns out a resend, and freed by the retention purge. Exact for one
    process; with several processes each counts only its own sends (docs/operations.md).
    """

    limit: int
    stored: dict[str, int] = field(default_factory=dict)

    def reserve(self, agency: str, size: int) -> bool:
        """Count `size` more bytes for `agency`; False (nothing counted) when over the limit."""
        total = self.stored.get(agency, 0) + size
        if total > self.limit:
            return False
        self.stored[agency] = total
        return True

    def release(self, agency: str, size: int) -> None:
        self.stored[agency] = max(0, self.stored.get(agency, 0) - size)


async def count_envelope_quota(store: Store, limit: int) -> EnvelopeQuota:
    """The quota with every agency's envelope bytes still held, read in one query."""
    quota = EnvelopeQuota(limit)
    for device_id, size in (await store.stored_envelope_bytes()).items():
        agency = device_agency(device_id)
        quota.stored[agency] = quota.stored.get(agency, 0) + size
    return quota


@dataclass
class Relay:
    """What every service function works with: the store, the keys, the log, the push hub,
    the clock and randomness, the limits, and the caches shared by all requests."""

    store: Store
    identity: ServerIdentity
    log: TransparencyLog
    push: PushHub
    clock: Callable[[], int] = field(default=_now)
    rng: Callable[[int], bytes] = secrets.token_bytes
    token_ttl: int = 900
    challenge_ttl: int = 60
    max_envelope_bytes: int = DEFAULT_MAX_ENVELOPE
    push_channel: str = "liaison_push"
    limiter: Limiter = field(default_factory=lambda: Limiter(RateLimits()))
    # Certificates never change once registered (a new key is a new device id), so they are
    # cached; revocations are always read from the database.
    cert_cache: dict[str, DeviceRecord] = field(default_factory=dict)
    # Bearer token -> (device id, expiry): held in memory only, like any session; the
    # database keeps only token digests.
    tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Attachment blobs under the data folder (liaison/server/attachments.py); None only for
    # relays built without a data folder (tests of other services).
    blobs: BlobStore | None = None
    # Device id -> its refused reviews of the current window (review.py, issue 14 defect 7).
    refusal_windows: dict[str, Any] = field(default_factory=dict)
    # Envelope bytes per sender agency (mailbox.send, retention.purge); None: no limit.
    envelope_quota: EnvelopeQuota | None = None
    # When /v1/health answers 503 (not ready).
    readiness: ReadinessLimits = field(default_factory=ReadinessLimits)
    # Whether /metrics figures are kept (liaison/server/metrics.py `measuring` sets it).
    measured: bool = False
    # Peers, agency homes, the peer client and forwarding workers (liaison/server/federation).
    federation: FederationState = field(default_factory=FederationState)


def push_channel(settings: Settings) -> str:
    return "liaison_push" + (f"_{settings.db_schema}" if settings.db_schema else "")


@asynccontextmanager
async def open_relay(settings: Settings) -> AsyncIterator[Relay]:
    """The relay's keys (made on first start), store, log and push hub, closed on exit."""
    identity, new_token = ensure_server_identity(
        settings.data_dir, origin=settings.origin, rng=settings.rng
    )
    if new_token is not None and settings.announce_admin_token is not None:
        settings.announce_admin_token(new_token)
    url = database_url(settings.data_dir, settings.database_url)
    connect_args = schema_connect_args(url, settings.db_schema)
    store = Store(url, connect_args=connect_args)
    await store.open()
    hub = PushHub(clock=settings.clock)  # sockets expire with their tokens, on the relay's clock
    try:
        transparency = TransparencyLog(store, identity)
        await transparency.load()
        channel = push_channel(settings)
        envelope_quota = (
            None
            if settings.envelope_quota_bytes is None
            else await count_envelope_quota(store, settings.envelope_quota_bytes)
        )
        if store.postgres:
            dsn = asyncpg_dsn(url)
            server_settings = connect_args.get("server_settings", {})
            await hub.listen(dsn, channel, server_settings)  # type: ignore[arg-type]
        yield Relay(
            store=store,
            identity=identity,
            log=transparency,
            push=hub,
            clock=settings.clock,
            rng=settings.rng,
            token_ttl=settings.token_ttl,
            challenge_ttl=settings.challenge_ttl,
            max_envelope_bytes=settings.max_envelope_bytes,
            push_channel=channel,
            blobs=BlobStore(
                settings.data_dir,
                clock=settings.clock,
                agency_quota_bytes=settings.attachment_quota_bytes,
            ),
            limiter=Limiter(settings.rate_limits, settings.rate_clock),
            envelope_quota=envelope_quota,
            readiness=settings.readiness,
        )
    finally:
        await hub.close_all()
        await hub.stop_listening()
        await store.close()
