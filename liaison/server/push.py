"""WebSocket push to connected devices; across processes through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class PushHub:
    """Connected devices of this process. `publish` is fire-and-forget: the mailbox is the truth."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._listener: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Pushes gathered until the loop's next turn: a group commit publishes each of its
        # messages separately, and one task per socket writes them all.
        self._outbox: dict[web.WebSocketResponse, list[str]] = {}

    def connect(self, device_id: str, ws: web.WebSocketResponse) -> None:
        self._sockets.setdefault(device_id, set()).add(ws)

    def disconnect(self, device_id: str, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(device_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[device_id]

    def connected(self, device_id: str) -> int:
        return len(self._sockets.get(device_id, ()))

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
            task = asyncio.ensure_future(ws.close(code=4003, message=b"device revoked"))
            self._tasks.add(task)  # type: ignore[arg-type]
            task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]

    async def close_all(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=1001, message=b"server shutdown")
        self._sockets.clear()

    # --- PostgreSQL ------------------------------------------------------------------------

    async def listen(self, dsn: str, channel: str, server_settings: dict[str, str]) -> None:
        """Receive every process's pushes (our own included) from `channel`."""
        import asyncpg

        self._listener = await asyncpg.connect(dsn, server_settings=server_settings or None)
        await self._listener.add_listener(channel, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            notices = json.loads(payload)
            self.publish((device, notice) for device, notice in notices)
        except (ValueError, TypeError):
            log.warning("ignored a malformed push notification")

    async def stop_listening(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
