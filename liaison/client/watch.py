"""Watch: push-driven sync and read over the WebSocket, reconnecting with jittered back-off."""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

from crypto.errors import CryptoError
from liaison.client import directory, officer
from liaison.client.errors import ClientError, RefusedEnvelope, ServerError, TransportError
from liaison.client.home import Home
from liaison.client.read import OpenedMessage, read
from liaison.client.records import MessageRecord
from liaison.client.sync import sync
from liaison.client.transport import ApiClient

Deliver = Callable[[MessageRecord, OpenedMessage | ClientError], Awaitable[None] | None]


# Seconds `watch` waits before each new attempt while the relay cannot be reached; the last
# one repeats. A relay that restarts is back within the first few; a border post whose link is
# down for an hour is tried every minute, not hammered.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
Retry = Callable[[float, ClientError], None]
Sleep = Callable[[float], Awaitable[None]]


def retry_delay(failures: int, uniform: Callable[[], float]) -> float:
    """The wait after `failures` failed attempts: the step of RETRY_DELAYS, drawn uniformly from
    its upper half ("equal jitter"), so officers cut off by the same relay restart spread their
    reconnects over seconds instead of all arriving in the same one. `uniform()` is in [0, 1)."""
    step = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
    return step * (0.5 + 0.5 * uniform())


class Backoff:
    """The reconnect schedule of one watch: the random source and the sleep are parameters, so
    tests pin them (no real waiting); the defaults are the system's."""

    def __init__(
        self,
        *,
        uniform: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.failures = 0
        self._uniform = uniform or random.SystemRandom().random
        self._sleep = sleep

    def next_delay(self) -> float:
        delay = retry_delay(self.failures, self._uniform)
        self.failures += 1
        return delay

    async def wait(self, delay: float) -> None:
        await self._sleep(delay)

    def reset(self) -> bool:
        """Back in contact: start the schedule over. Answers whether there had been failures."""
        failed, self.failures = self.failures > 0, 0
        return failed


async def watch(
    home: Home,
    api: ApiClient,
    deliver: Deliver,
    *,
    count: int | None = None,
    on_ready: Callable[[], None] | None = None,
    on_retry: Retry | None = None,
    on_reconnect: Callable[[], None] | None = None,
    backoff: Backoff | None = None,
) -> int:
    """Push-driven: sync and open each new message as the server announces it. Returns the
    number delivered (stops after `count` when given).

    When the relay cannot be reached (a network drop, a relay restart) it waits and tries
    again (`Backoff`: RETRY_DELAYS with jitter), calling `on_retry(seconds, error)` before each
    wait and `on_reconnect()` once it is back; whatever arrived meanwhile is fetched then, so
    nothing is missed. A refusal by the relay (a revoked device, say) still ends it with that
    error.
    """
    backoff = backoff or Backoff()
    delivered = 0

    async def drain() -> bool:
        nonlocal delivered
        # One batch per push: senders verified at this sync serve its reads, then are dropped.
        lookups = directory.Lookups(home, api, int(time.time()))
        for record in await sync(home, api, lookups=lookups):
            result: OpenedMessage | ClientError
            try:
                result = await read(home, api, record.message_id, lookups=lookups)
            except ClientError as exc:
                if _transient(exc):
                    raise  # the relay is unreachable: the watch retries it
                result = exc
            except CryptoError as exc:
                result = RefusedEnvelope(str(exc), code=exc.code)
            outcome = deliver(record, result)
            if inspect.isawaitable(outcome):
                await outcome
            delivered += 1
            if count is not None and delivered >= count:
                return True
        return False

    async def wait(error: ClientError) -> None:
        delay = backoff.next_delay()
        if on_retry is not None:
            on_retry(delay, error)
        await backoff.wait(delay)

    ready = False
    while True:
        try:
            ws = await _open_push_channel(home, api)
        except ClientError as exc:
            if not _transient(exc):
                raise
            await wait(exc)
            continue
        if backoff.reset() and on_reconnect is not None:
            on_reconnect()
        try:
            # Catch up first: whatever arrived while no channel was open.
            if await drain():
                return delivered
            if not ready:
                ready = True
                if on_ready is not None:
                    on_ready()
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = json.loads(frame.data)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("type") == "message":
                        if await drain():
                            return delivered
                elif frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
        except ClientError as exc:
            if not _transient(exc):
                raise
            await wait(exc)
        finally:
            await ws.close()
        # The relay closed the channel (token expiry, restart): sign in again and reconnect.


def _transient(exc: ClientError) -> bool:
    """An error that passes: the relay unreachable, or a proxy's 502/503/504 while it restarts."""
    return isinstance(exc, TransportError) or (
        isinstance(exc, ServerError) and exc.status in (502, 503, 504)
    )


async def _open_push_channel(home: Home, api: ApiClient) -> aiohttp.ClientWebSocketResponse:
    async def connect() -> aiohttp.ClientWebSocketResponse:
        try:
            return await api.websocket()
        except ServerError as exc:
            if exc.status != 401:
                # A refused handshake carries no JSON body to the client; an ordinary request
                # learns the typed reason (e.g. device_revoked).
                await api.fetch_messages(limit=1)
            raise

    return await officer.authenticated(home, api, connect)


__all__ = ["RETRY_DELAYS", "Backoff", "Deliver", "retry_delay", "watch"]
