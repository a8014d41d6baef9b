"""aiohttp application factory of the relay server: settings, resources, middleware, routes."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from liaison.i18n import _
from liaison.server.errors import ApiError
from liaison.server.handlers import ROUTES
from liaison.server.identity import ensure_server_identity
from liaison.server.keys import PUSH_KEY, RELAY_KEY
from liaison.server.log import TransparencyLog
from liaison.server.push import PushHub
from liaison.server.services import DEFAULT_MAX_ENVELOPE, Relay
from liaison.store import Store, database_url
from liaison.store.engine import asyncpg_dsn, schema_connect_args

log = logging.getLogger(__name__)


def _now() -> int:
    return int(time.time())


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
        return web.json_response({"code": exc.code, "message": exc.message}, status=exc.status)
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
            {"code": "internal_error", "message": _("The server failed; try again later.")},
            status=500,
        )


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def push_channel(settings: Settings) -> str:
    return "liaison_push" + (f"_{settings.db_schema}" if settings.db_schema else "")


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    identity, new_token = ensure_server_identity(
        settings.data_dir, origin=settings.origin, rng=settings.rng
    )
    if new_token is not None and settings.announce_admin_token is not None:
        settings.announce_admin_token(new_token)
    url = database_url(settings.data_dir, settings.database_url)
    connect_args = schema_connect_args(url, settings.db_schema)
    store = Store(url, connect_args=connect_args)
    await store.open()
    hub = PushHub()
    transparency = TransparencyLog(store, identity)
    await transparency.load()
    channel = push_channel(settings)
    if store.postgres:
        dsn = asyncpg_dsn(url)
        server_settings = connect_args.get("server_settings", {})
        await hub.listen(dsn, channel, server_settings)  # type: ignore[arg-type]
    app[STORE_KEY] = store
    app[PUSH_KEY] = hub
    app[RELAY_KEY] = Relay(
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
    )
    from liaison.server.retention import purge_periodically

    stop_purge = asyncio.Event()
    purge_task = (
        asyncio.create_task(
            purge_periodically(app[RELAY_KEY], settings.purge_interval, stop_purge),
            name="liaison-retention-purge",
        )
        if settings.purge_interval > 0
        else None
    )
    try:
        yield
    finally:
        stop_purge.set()
        if purge_task is not None:
            await purge_task
        await hub.close_all()
        await hub.stop_listening()
        await store.close()


async def _close_push_sockets(app: web.Application) -> None:
    """Close every WebSocket as shutdown begins (code 1001: clients reconnect), so the server
    does not wait out aiohttp's shutdown timeout for push channels that never end by themselves."""
    if PUSH_KEY in app:
        await app[PUSH_KEY].close_all()


def create_app(settings: Settings) -> web.Application:
    """The relay as an aiohttp application; its database and keys open in cleanup_ctx."""
    # Base64 grows the envelope by a third; leave room for the JSON around it.
    app = web.Application(
        middlewares=[json_errors],
        client_max_size=settings.max_envelope_bytes * 4 // 3 + 64 * 1024,
    )
    app[SETTINGS_KEY] = settings
    app.cleanup_ctx.append(_resources)
    app.on_shutdown.append(_close_push_sockets)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
