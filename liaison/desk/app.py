"""The desk's web application: its middlewares, its pages, and its life with the relay.

`create_app(settings)` builds it (the state it serves is in `liaison.desk.state`); `liaison desk`
serves it on 127.0.0.1. After unlock, one task keeps the push channel to the relay open and feeds
the inbox index; the pages' live updates come from that index through Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from liaison.desk import (
    admin_views,
    attachment_views,
    case_views,
    draft_views,
    export_views,
    hold_views,
    outbox_views,
    report_views,
    review_views,
    views,
)
from liaison.desk.language import request_language, translate
from liaison.desk.officer import DeskOfficer
from liaison.desk.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Handler,
    Sessions,
    own_host_only,
    same_token,
    security_headers,
)
from liaison.desk.state import DESK, SESSION_KEY, Desk, DeskSettings
from liaison.i18n import N_

PACKAGE_DIR = Path(__file__).resolve().parent
# Paths a browser may reach without a session: the launch exchange and the desk's own assets.
_OPEN_PATHS = ("/launch", "/static/")
# Paths that work while the desk is locked (the session is still checked).
_LOCKED_PATHS = ("/unlock", "/language", "/static/", "/launch")


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
    streamed = request.content_type == "multipart/form-data" and attachment_views.is_streamed(
        request.path
    )
    if request.method not in ("GET", "HEAD") and not streamed:
        # (A streamed form's handler checks the token from its first part before any file.)
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
    if desk.officer.unlocked and (refused := admin_views.refusal(request)) is not None:
        return refused
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
    attachment_views.add_routes(app)
    export_views.add_routes(app)
    draft_views.add_routes(app)
    case_views.add_routes(app)
    review_views.add_routes(app)
    report_views.add_routes(app)
    admin_views.add_routes(app)
    hold_views.add_routes(app)
    outbox_views.add_routes(app)
    app.router.add_static("/static/", PACKAGE_DIR / "static", append_version=False)
    app.cleanup_ctx.append(_idle_locker)
    return app
