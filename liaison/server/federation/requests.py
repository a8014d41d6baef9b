"""Relay-to-relay requests (PROTOCOL.md §16.3): signing what this relay sends, authenticating
what peers send, and `PeerClient`, the kept-alive HTTP session to peers.

Refusals carry the codes of crypto/errors.py: 400 `federation_request_malformed` and
`federation_digest_mismatch`, 421 `federation_misdirected`, 403 `unknown_peer`, 401
`federation_clock_skew`, `federation_bad_signature` and `federation_replayed`, 503
`federation_busy` (docs/api.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from nacl.signing import SigningKey

from crypto.errors import (
    ContentDigestMismatch,
    FederationError,
    MisdirectedRequest,
    ReplayCacheFull,
    RequestClockSkew,
    RequestMalformed,
    RequestReplayed,
    RequestSignatureError,
    UnknownPeer,
)
from crypto.federation import (
    InMemoryReplayCache,
    StreamedRequest,
    VerifiedRequest,
    sign_request,
    verify_request,
    verify_streamed_request,
)
from liaison.server.errors import ApiError

__all__ = [
    "FederationRefused",
    "PeerAnswer",
    "PeerClient",
    "authenticate",
    "authenticate_streamed",
    "refusal",
]

T = TypeVar("T")

# A federation request's body: the worker keeps a batch of envelopes below BATCH_BYTES.
MAX_FEDERATION_BODY = 32 << 20
BATCH_BYTES = 16 << 20
# A blob streamed to a peer: bytes per read of the file, and how long the peer may stay
# silent (it fsyncs, and after a restart re-reads the blob to hash it, before answering).
BLOB_SEND_CHUNK = 1 << 20
BLOB_SOCK_TIMEOUT = 120.0

_STATUS = {
    RequestMalformed: 400,
    ContentDigestMismatch: 400,
    MisdirectedRequest: 421,
    UnknownPeer: 403,
    RequestClockSkew: 401,
    RequestSignatureError: 401,
    RequestReplayed: 401,
    ReplayCacheFull: 503,
}


class FederationRefused(ApiError):
    """A federation request that fails §16.3, answered with the error's own code."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.status = status


def refusal(exc: FederationError) -> FederationRefused:
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return FederationRefused(exc.code, str(exc) or exc.code, status)


async def authenticate(
    request: web.Request,
    body: bytes,
    *,
    own_origin: str,
    peer_key: Callable[[str], bytes | None],
    replay_cache: InMemoryReplayCache,
    now: int,
) -> VerifiedRequest:
    """The verified sender of a federation request, or a FederationRefused (nothing changed)."""
    return _refused_as_api(
        verify_request, request, body=body, own_origin=own_origin, peer_key=peer_key,
        replay_cache=replay_cache, now=now,
    )  # fmt: skip


def authenticate_streamed(
    request: web.Request,
    *,
    own_origin: str,
    peer_key: Callable[[str], bytes | None],
    replay_cache: InMemoryReplayCache,
    now: int,
) -> StreamedRequest:
    """The verified sender of a request whose body is read afterwards, as a stream; the body
    is checked against the signed digest at its end (`StreamedRequest.check_body`)."""
    return _refused_as_api(
        verify_streamed_request, request, own_origin=own_origin, peer_key=peer_key,
        replay_cache=replay_cache, now=now,
    )  # fmt: skip


def _refused_as_api(verify: Callable[..., T], request: web.Request, **checks: Any) -> T:
    try:
        return verify(
            method=request.method,
            target=request.raw_path,
            headers=list(request.headers.items()),
            **checks,
        )
    except FederationError as exc:
        raise refusal(exc) from exc


class PeerAnswer:
    """A peer's answer: status and JSON body (None when it was not JSON)."""

    def __init__(self, status: int, data: Any) -> None:
        self.status = status
        self.data = data

    @property
    def code(self) -> str | None:
        return self.data.get("code") if isinstance(self.data, dict) else None


class PeerClient:
    """Signed requests to peers over one kept-alive aiohttp session (connection reuse matters:
    the border hop's latency budget is a few milliseconds)."""

    def __init__(
        self,
        *,
        signing_key: SigningKey,
        origin: str,
        clock: Callable[[], int] = lambda: int(time.time()),
        timeout: float = 10.0,
    ) -> None:
        self.signing_key = signing_key
        self.origin = origin
        self.clock = clock
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def signed_headers(
        self, *, peer_origin: str, method: str, target: str, body: bytes
    ) -> dict[str, str]:
        return sign_request(
            relay_key=self.signing_key,
            sender_origin=self.origin,
            recipient_origin=peer_origin,
            method=method,
            target=target,
            body=body,
            now=self.clock(),
        )

    async def request(
        self,
        *,
        peer_origin: str,
        base_url: str,
        method: str,
        target: str,
        body: bytes = b"",
        extra_headers: Mapping[str, str] | None = None,
    ) -> PeerAnswer:
        """Send a signed request; transport errors raise aiohttp.ClientError/TimeoutError."""
        headers = self.signed_headers(
            peer_origin=peer_origin, method=method, target=target, body=body
        )
        if body:
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers or {})
        url = base_url.rstrip("/") + target
        async with self._session_now().request(
            method, url, data=body if body else None, headers=headers
        ) as response:
            raw = await response.read()
        data = _json_or_none(raw)
        return PeerAnswer(response.status, data)

    async def put_stream(
        self,
        *,
        peer_origin: str,
        base_url: str,
        target: str,
        body: AsyncIterable[bytes],
        size: int,
        body_sha256: bytes,
    ) -> PeerAnswer:
        """A signed PUT whose `size`-byte body streams from `body` (never held whole); its
        SHA-256, computed beforehand, is what the signature covers (§16.6, blobs)."""
        headers = sign_request(
            relay_key=self.signing_key,
            sender_origin=self.origin,
            recipient_origin=peer_origin,
            method="PUT",
            target=target,
            body_sha256=body_sha256,
            now=self.clock(),
        )
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(size)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_read=BLOB_SOCK_TIMEOUT
        )
        url = base_url.rstrip("/") + target
        async with self._session_now().put(
            url, data=body, headers=headers, timeout=timeout
        ) as response:
            raw = await response.read()
        return PeerAnswer(response.status, _json_or_none(raw))

    async def get_public(self, base_url: str, path: str) -> PeerAnswer:
        """An unsigned GET (the peer's identity and checkpoint, which verify themselves)."""
        async with self._session_now().get(base_url.rstrip("/") + path) as response:
            raw = await response.read()
        data = _json_or_none(raw)
        return PeerAnswer(response.status, data)


async def fetch_public(base_url: str, path: str, seconds: float = 10.0) -> PeerAnswer:
    """One unsigned GET without a kept session (the command line's `peer add`)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session:
        async with session.get(base_url.rstrip("/") + path) as response:
            raw = await response.read()
            status = response.status
    return PeerAnswer(status, _json_or_none(raw))


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
