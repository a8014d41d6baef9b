"""WebSocket push to connected devices; across processes through PostgreSQL LISTEN/NOTIFY.

Sockets are bounded (issue 14, defect 2): at most a few per device (a new one closes the
oldest), at most `max_sockets` in the process (beyond it a new one is closed at once, so file
descriptors stay free for requests and the database), and none outlives its token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from liaison.server.ratelog import RateLimitFilter

log = logging.getLogger(__name__)
# One line per cause per minute, whatever a device sends.
log.addFilter(RateLimitFilter())

DEFAULT_MAX_SOCKETS_PER_DEVICE = 4
# How often sockets are checked for expired tokens; a socket outlives its token by at most this.
DEFAULT_EXPIRY_SWEEP_SECONDS = 5.0
# Application close codes (RFC 6455 leaves 4000-4999 to applications; clients reconnect, log in
# again if needed, and fetch: the mailbox is the truth).
CLOSE_TOKEN_EXPIRED = 4001
CLOSE_REVOKED = 4003
CLOSE_REPLACED = 4008
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: the server is overloaded
# Announced on the push channel when a device is revoked: every process closes its sockets.
REVOKED_NOTICE = {"type": "revoked"}


def default_max_sockets() -> int:
    """Half the process's file-descriptor limit (at most 10,000): the other half stays for
    requests, the database and the log files, so sockets alone can never exhaust it."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(10_000, soft // 2))


class PushHub:
    """Connected devices of this process. `publish` is fire-and-forget: the mailbox is the truth."""

    def __init__(
        self,
        *,
        max_sockets_per_device: int = DEFAULT_MAX_SOCKETS_PER_DEVICE,
        max_sockets: int | None = None,
        clock: Callable[[], float] = time.time,
        expiry_sweep_seconds: float = DEFAULT_EXPIRY_SWEEP_SECONDS,
    ) -> None:
        if max_sockets_per_device < 1:
            raise ValueError("max_sockets_per_device must be at least 1")
        # Per device, oldest first (dicts keep insertion order): the one to close is the first.
        self._sockets: dict[str, dict[web.WebSocketResponse, None]] = {}
        self._expiry: dict[web.WebSocketResponse, float] = {}
        self._listener: Any = None
        self._tasks: set[asyncio.Future[Any]] = set()
        # Pushes gathered until the loop's next turn: a group commit publishes each of its
        # messages separately, and one task per socket writes them all.
        self._outbox: dict[web.WebSocketResponse, list[str]] = {}
        self.max_sockets_per_device = max_sockets_per_device
        self.max_sockets = default_max_sockets() if max_sockets is None else max_sockets
        self.clock = clock
        self.expiry_sweep_seconds = expiry_sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None
        self._open = 0

    def connect(
        self, device_id: str, ws: web.WebSocketResponse, *, expires_at: float | None = None
    ) -> bool:
        """Register `ws` for `device_id`; answers False when it was refused (and is being closed).

        Over the process's cap the new socket is closed (1013, try again later); over the
        device's cap its oldest socket is (4008). `expires_at` is the token's expiry: the socket
        is closed then (4001).
        """
        if self._open >= self.max_sockets:
            log.warning("push socket refused: %d sockets open, the configured maximum", self._open)
            self._close(ws, CLOSE_TRY_AGAIN_LATER, b"too many connections, try again later")
            return False
        sockets = self._sockets.setdefault(device_id, {})
        while len(sockets) >= self.max_sockets_per_device:
            oldest = next(iter(sockets))
            self.disconnect(device_id, oldest)
            self._close(oldest, CLOSE_REPLACED, b"replaced by a newer connection of this device")
            sockets = self._sockets.setdefault(device_id, {})
        sockets[ws] = None
        self._open += 1
        if expires_at is not None:
            self._expiry[ws] = expires_at
            self._start_sweeper()
        return True

    def disconnect(self, device_id: str, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(device_id)
        if sockets is not None and ws in sockets:
            del sockets[ws]
            self._open -= 1
            self._expiry.pop(ws, None)
            if not sockets:
                del self._sockets[device_id]

    def connected(self, device_id: str) -> int:
        return len(self._sockets.get(device_id, ()))

    @property
    def open_sockets(self) -> int:
        """Sockets of this process, every device together (what `max_sockets` bounds)."""
        return self._open

    @property
    def pending_writes(self) -> int:
        """Sockets with pushes gathered or being written (the push queue's depth)."""
        return len(self._outbox) + len(self._tasks)

    def publish(self, notices: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for device_id, payload in notices:
            sockets = self._sockets.get(device_id)
            if not sockets:
                continue
            text = json.dumps(payload, separators=(",", ":"))
            for ws in sockets:
                if not ws.closed:
                    if not self._outbox:
                        asyncio.get_running_loop().call_soon(self._flush)
                    self._outbox.setdefault(ws, []).append(text)

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, {}
        for ws, texts in outbox.items():
            task = asyncio.ensure_future(self._send(ws, texts))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, texts: list[str]) -> None:
        try:
            for text in texts:
                await ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the device reconnects and fetches; nothing is lost

    def close_device(self, device_id: str) -> None:
        """Drop a revoked device's sockets."""
        for ws in tuple(self._sockets.get(device_id, ())):
            self.disconnect(device_id, ws)
            self._close(ws, CLOSE_REVOKED, b"device revoked")

    def close_expired(self) -> int:
        """Close every socket whose token has expired by now; answers how many."""
        now = self.clock()
        expired = [ws for ws, expires_at in self._expiry.items() if expires_at <= now]
        for ws in expired:
            for device_id, sockets in tuple(self._sockets.items()):
                if ws in sockets:
                    self.disconnect(device_id, ws)
            self._close(ws, CLOSE_TOKEN_EXPIRED, b"token expired")
        return len(expired)

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep_expired())

    async def _sweep_expired(self) -> None:
        while self._expiry:
            await asyncio.sleep(self.expiry_sweep_seconds)
            self.close_expired()

    def _close(self, ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        task = asyncio.ensure_future(ws.close(code=code, message=reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_all(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=1001, message=b"server shutdown")
        self._sockets.clear()
        self._expiry.clear()
        self._open = 0

    # --- PostgreSQL ------------------------------------------------------------------------

    async def listen(self, dsn: str, channel: str, server_settings: dict[str, str]) -> None:
        """Receive every process's pushes (our own included) from `channel`."""
        import asyncpg

        self._listener = await asyncpg.connect(dsn, server_settings=server_settings or None)
        await self._listener.add_listener(channel, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            notices = json.loads(payload)
            for device, notice in notices:
                if notice == REVOKED_NOTICE:
                    self.close_device(device)  # revoked through another process (or this one)
                else:
                    self.publish([(device, notice)])
        except (ValueError, TypeError):
            log.warning("ignored a malformed push notification")

    async def stop_listening(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
