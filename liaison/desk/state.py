"""The running desk's state, shared by the application and its pages: settings, the live
feed, the officer's device with its browser sessions and inbox index, and the keys to reach
them from a request. Its own module, so that the pages need not import the application that
adds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from liaison.client.errors import ClientError
from liaison.client.messages import OpenedMessage
from liaison.desk.inbox import InboxIndex, entry_for
from liaison.desk.officer import DeskOfficer
from liaison.desk.security import DeskSession, Sessions

log = logging.getLogger(__name__)
DEFAULT_IDLE_LOCK_SECONDS = 15 * 60
# While items wait in the outbox, how often the desk tries the relay again (it also tries at
# once when the push channel reconnects).
DEFAULT_OUTBOX_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class DeskSettings:
    """How one desk runs: whose home folder, which relay, how soon it locks itself."""

    home: Path
    server: str | None = None
    idle_lock_seconds: float = DEFAULT_IDLE_LOCK_SECONDS
    clock: Callable[[], float] = time.monotonic
    outbox_retry_seconds: float = DEFAULT_OUTBOX_RETRY_SECONDS


class LiveFeed:
    """Tells every open inbox page that new messages arrived (Server-Sent Events)."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[str | None]] = set()

    def listen(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[str | None]) -> None:
        self._listeners.discard(queue)

    def announce(self, message_id: str) -> None:
        for queue in self._listeners:
            queue.put_nowait(message_id)

    def close(self) -> None:
        for queue in self._listeners:
            queue.put_nowait(None)


@dataclass
class Desk:
    """The running desk's state: the officer's device, browser sessions, the inbox index."""

    settings: DeskSettings
    officer: DeskOfficer
    sessions: Sessions = field(default_factory=Sessions)
    index: InboxIndex = field(default_factory=InboxIndex)
    live: LiveFeed = field(default_factory=LiveFeed)
    last_activity: float = 0.0
    watch_task: asyncio.Task[None] | None = None
    relay_status: str = "offline"
    outbox_task: asyncio.Task[None] | None = None
    outbox_kick: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_problem: str | None = None  # why the outbox's sending stopped (an error code)
    # "Awaiting my reply", under the versions it was derived from (see `awaiting_reply`).
    awaiting_cache: tuple[tuple[int, int, int], frozenset[str]] | None = None

    def touch(self) -> None:
        self.last_activity = self.settings.clock()

    def idle(self) -> bool:
        return self.settings.clock() - self.last_activity >= self.settings.idle_lock_seconds

    async def unlock(self, passphrase: str) -> None:
        """Unlock the device keys, index the cached messages, open the push channel."""
        self.officer.unlock(passphrase)
        self.touch()
        if not self.officer.has_device:
            return  # the administrator's desk on an agency home: no inbox, no push channel
        self.index.seen = self.officer.seen()
        records = self.officer.received_records()
        opened = await self.officer.open_batch([r["message_id"] for r in records])
        self.index.extend(entry_for(r, o) for r, o in zip(records, opened, strict=True))
        self.watch_task = asyncio.create_task(self._watch())
        self.outbox_task = asyncio.create_task(self._send_outbox())

    async def awaiting_reply(self) -> frozenset[str]:
        """The inbox filter "awaiting my reply": the case book is rebuilt only when a message
        arrived (the inbox index's version) or was sent from this home since the last time.
        The versions are read before the build, so a change during it rebuilds next time."""
        key = (self.index.version, *self.officer.sent_version())
        if self.awaiting_cache is not None and self.awaiting_cache[0] == key:
            return self.awaiting_cache[1]
        awaiting = await self.officer.awaiting_reply()
        self.awaiting_cache = (key, awaiting)
        return awaiting

    async def lock(self) -> None:
        """Forget the keys and everything decrypted from them; the unlock page comes back."""
        for task in (self.watch_task, self.outbox_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.watch_task = self.outbox_task = None
        self.index.clear()
        self.awaiting_cache = None
        await self.officer.lock()
        self.relay_status = "offline"

    async def _watch(self) -> None:
        async def deliver(record: dict[str, Any], opened: OpenedMessage | ClientError) -> None:
            self.index.add(entry_for(record, opened))
            self.live.announce(str(record["message_id"]))

        def ready() -> None:
            self.relay_status = "online"
            self.outbox_kick.set()  # the relay answers again: send what waits

        def retry(_seconds: float, _error: ClientError) -> None:
            self.relay_status = "offline"

        try:
            await self.officer.watch(deliver, on_ready=ready, on_retry=retry, on_reconnect=ready)
        except ClientError as exc:
            # A refusal by the relay (a revoked device): shown on every page, not retried.
            self.relay_status = exc.code
            log.warning("desk push channel ended: %s", exc.code)
        except Exception:
            self.relay_status = "error"
            log.exception("desk push channel failed")

    async def _send_outbox(self) -> None:
        """Background sending: whenever the relay comes back (and every little while as long
        as items wait), send the outbox in order. A refused or damaged item stops it until
        the officer retries or deletes it on the outbox page."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.outbox_kick.wait(), timeout=self.settings.outbox_retry_seconds
                )
            self.outbox_kick.clear()
            if not self.officer.unlocked or not self.officer.outbox_count():
                continue
            try:
                report = await self.officer.send_outbox()
            except ClientError as exc:
                self.outbox_problem = exc.code
                continue
            except Exception:
                log.exception("desk outbox sending failed")
                continue
            self.outbox_problem = report.error.code if report.error is not None else None
            if report.sent:
                log.info("desk outbox: %d waiting messages sent", len(report.sent))

    def mark_seen(self, message_id: str) -> None:
        if message_id not in self.index.seen:
            self.index.seen.add(message_id)
            self.officer.mark_seen(self.index.seen)


DESK: web.AppKey[Desk] = web.AppKey("desk", Desk)
SESSION_KEY: web.RequestKey[DeskSession] = web.RequestKey("desk_session", DeskSession)
