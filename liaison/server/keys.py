"""Typed application keys shared by the app factory and the handlers."""

from __future__ import annotations

from aiohttp import web

from liaison.server.push import PushHub
from liaison.server.relay import Relay

RELAY_KEY = web.AppKey("relay", Relay)
PUSH_KEY = web.AppKey("push", PushHub)
