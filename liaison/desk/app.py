"""The desk's web application: settings, state, middlewares, and its life with the relay.

`create_app(settings)` builds it; `liaison desk` serves it on 127.0.0.1. After unlock, one
task keeps the push channel to the relay open and feeds the inbox index; the pages' live
updates come from that index through Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from liaison.client.errors import ClientError
from liaison.client.messages import OpenedMessage
from liaison.desk.inbox import InboxIndex, entry_for
from liaison.desk.language import request_language, translate
from liaison.desk.officer import DeskOfficer
from liaison.desk.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    DeskSession,
    Handler,
    Sessions,
    own_host_only,
    same_token,
    security_headers,
)
from liaison.i18n import N_

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_IDLE_LOCK_SECONDS = 15 * 60
# Paths a browser may reach without a session: the launch exchange and the desk's own assets.
_OPEN_PATHS = ("/launch", "/static/")
# Paths that work while the desk is locked (the session is still checked).
_LOCKED_PATHS = ("/unlock", "/language", "/static/", "/launch")


@dataclass(frozen=True)
class DeskSettings:
    """How one desk runs: whose home folder, which relay, how soon it locks itself."""

    home: Path
    server: str | None = None
    idle_lock_seconds: float = DEFAULT_IDLE_LOCK_SECONDS
    clock: Callable[[], float] = time.monotonic


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

    def touch(self) -> None:
        self.last_activity = self.settings.clock()

    def idle(self) -> bool:
        return self.settings.clock() - self.last_activity >= self.settings.idle_lock_seconds

    async def unlock(self, passphrase: str) -> None:
        """Unlock the device keys, index the cached messages, open the push channel."""
        self.officer.unlock(passphrase)
        self.touch()
        self.index.seen = self.officer.seen()
        records = self.officer.received_records()
        opened = await self.officer.open_batch([r["message_id"] for r in records])
        self.index.extend(entry_for(r, o) for r, o in zip(records, opened, strict=True))
        self.watch_task = asyncio.create_task(self._watch())

    async def lock(self) -> None:
        """Forget the keys and everything decrypted from them; the unlock page comes back."""
        task, self.watch_task = self.watch_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.index.clear()
        await self.officer.lock()
        self.relay_status = "offline"

    async def _watch(self) -> None:
        async def deliver(record: dict[str, Any], opened: OpenedMessage | ClientError) -> None:
            self.index.add(entry_for(record, opened))
            self.live.announce(str(record["message_id"]))

        def ready() -> None:
            self.relay_status = "online"

        try:
            await self.officer.watch(deliver, on_ready=ready)
        except ClientError as exc:
            # A refusal by the relay (a revoked device): shown on every page, not retried.
            self.relay_status = exc.code
            log.warning("desk push channel ended: %s", exc.code)
        except Exception:
            self.relay_status = "error"
            log.exception("desk push channel failed")

    def mark_seen(self, message_id: str) -> None:
        if message_id not in self.index.seen:
            self.index.seen.add(message_id)
            self.officer.mark_seen(self.index.seen)


DESK: web.AppKey[Desk] = web.AppKey("desk", Desk)
SESSION_KEY: web.RequestKey[DeskSession] = web.RequestKey("desk_session", DeskSession)


def _refusal(request: web.Request, message: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=translate(request_language(request), message))


@web.middleware
async def desk_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A session for every page, the unlocked keys for most, a CSRF token on every POST,
    and the idle lock (checked here too, so a stale page never acts on unlocked keys)."""
    desk = request.app[DESK]
    if request.path.startswith(_OPEN_PATHS):
        return await handler(request)
    session = desk.sessions.find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise _refusal(
            request, N_("Open the desk with the address printed when it started (launch link).")
        )
    request[SESSION_KEY] = session
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        if not same_token(str(form.get(CSRF_FIELD, "")), session.csrf_token):
            raise _refusal(request, N_("This form is stale or not from the desk: reload the page."))
    if desk.officer.unlocked and desk.idle():
        await desk.lock()
    if not desk.officer.unlocked and not request.path.startswith(_LOCKED_PATHS):
        if request.path == "/events":
            raise web.HTTPNoContent()
        raise web.HTTPSeeOther("/unlock")
    if request.path != "/events":
        desk.touch()
    return await handler(request)


async def _idle_locker(app: web.Application) -> AsyncIterator[None]:
    """Lock the desk after the idle time even when no page asks anything."""
    desk = app[DESK]

    async def run() -> None:
        period = max(0.5, min(30.0, desk.settings.idle_lock_seconds / 4))
        while True:
            await asyncio.sleep(period)
            if desk.officer.unlocked and desk.idle():
                await desk.lock()

    task = asyncio.create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    desk.live.close()
    await desk.lock()


def create_app(settings: DeskSettings, *, sessions: Sessions | None = None) -> web.Application:
    """The desk for `settings.home`; `sessions` lets a caller know the launch token."""
    from liaison.desk import case_views, review_views, views

    app = web.Application(middlewares=[security_headers, own_host_only, desk_guard])
    desk = Desk(settings, DeskOfficer(settings.home, server=settings.server))
    if sessions is not None:
        desk.sessions = sessions
    app[DESK] = desk
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    views.add_routes(app)
    case_views.add_routes(app)
    review_views.add_routes(app)
    app.router.add_static("/static/", PACKAGE_DIR / "static", append_version=False)
    app.cleanup_ctx.append(_idle_locker)
    return app
