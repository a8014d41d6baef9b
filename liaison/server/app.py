"""aiohttp application factory for the relay server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from liaison import __version__


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080


SETTINGS_KEY = web.AppKey("settings", Settings)


async def health(request: web.Request) -> web.Response:
    """GET /v1/health"""
    return web.json_response({"status": "ok", "version": __version__})


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app.router.add_get("/v1/health", health)
    return app
