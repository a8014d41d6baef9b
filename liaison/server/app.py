"""aiohttp application factory of the relay server: settings, resources, middleware, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from liaison.server.errors import ApiError
from liaison.server.federation import routes as federation_routes
from liaison.server.handlers import ROUTES
from liaison.server.keys import PUSH_KEY, RELAY_KEY
from liaison.server.relay import Settings, open_relay
from liaison.server.retention import purge_periodically
from liaison.server.review import log_refusal_counts_periodically
from liaison.server.workers import WORKER_HEADER
from liaison.store import Store

__all__ = ["SETTINGS_KEY", "STORE_KEY", "Settings", "create_app"]

log = logging.getLogger(__name__)


REQUEST_READ_BUFFER_BYTES = 256 * 1024  # per connection, while a request body streams in
SETTINGS_KEY = web.AppKey("settings", Settings)
STORE_KEY = web.AppKey("store", Store)

_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every refusal as JSON {"code", "message"}; unexpected failures as a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(
            {"code": exc.code, "message": exc.message}, status=exc.status, headers=exc.headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        return web.json_response(
            {"code": code, "message": exc.reason}, status=exc.status, headers=_allow(exc)
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(
            {"code": "internal_error", "message": "The server failed; try again later."},
            status=500,
        )


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    async with open_relay(settings) as relay:
        app[STORE_KEY] = relay.store
        app[PUSH_KEY] = relay.push
        app[RELAY_KEY] = relay
        stop_purge = asyncio.Event()
        purge_task = (
            asyncio.create_task(
                purge_periodically(relay, settings.purge_interval, stop_purge),
                name="liaison-retention-purge",
            )
            if settings.purge_interval > 0
            else None
        )
        refusal_counts = asyncio.create_task(
            log_refusal_counts_periodically(relay, stop_purge), name="liaison-refusal-counts"
        )
        measuring = contextlib.AsyncExitStack()
        if settings.metrics:
            from liaison.server.metrics import measuring as measure_relay

            await measuring.enter_async_context(measure_relay(relay))
        try:
            async with federation_routes.running(relay):
                yield
        finally:
            await measuring.aclose()
            stop_purge.set()
            if purge_task is not None:
                await purge_task
            await refusal_counts


async def _close_push_sockets(app: web.Application) -> None:
    """Close every WebSocket as shutdown begins (code 1001: clients reconnect), so the server
    does not wait out aiohttp's shutdown timeout for push channels that never end by themselves."""
    if PUSH_KEY in app:
        await app[PUSH_KEY].close_all()


def _worker_header(name: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = name

    return add


def create_app(settings: Settings) -> web.Application:
    """The relay as an aiohttp application; its database and keys open in cleanup_ctx."""
    # Base64 grows the envelope by a third; leave room for the JSON around it.
    middlewares = [json_errors]
    if settings.metrics:
        from liaison.server.metrics import measure

        middlewares.insert(0, measure)  # outermost: sees the status json_errors answered
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_envelope_bytes * 4 // 3 + 64 * 1024,
        # A request body (a blob upload) is buffered up to this much before reading pauses:
        # four times aiohttp's default, so an upload takes fewer event-loop turns; bounded.
        handler_args={"read_bufsize": REQUEST_READ_BUFFER_BYTES},
    )
    app[SETTINGS_KEY] = settings
    app.cleanup_ctx.append(_resources)
    app.on_shutdown.append(_close_push_sockets)
    if settings.worker_name is not None:
        app.on_response_prepare.append(_worker_header(settings.worker_name))
    for method, path, handler in ROUTES + federation_routes.ROUTES:
        app.router.add_route(method, path, handler)
    return app
