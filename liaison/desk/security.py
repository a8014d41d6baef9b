"""What keeps the desk to its own officer: launch token, session cookie, CSRF, Host/Origin, headers.

The desk is a web server on 127.0.0.1 holding unlocked keys, so any web page the officer visits
could try to talk to it. The launch token (printed, single use, as Jupyter's) proves the first
visitor started the desk; it becomes an HttpOnly SameSite=Strict cookie. Every POST carries a
CSRF token from a hidden field. The Host header must name the desk itself, which defeats DNS
rebinding; an Origin header from another site is refused.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from liaison.desk.language import request_language, translate
from liaison.i18n import N_

log = logging.getLogger(__name__)
SESSION_COOKIE = "liaison_desk_session"
CSRF_FIELD = "csrf_token"
TOKEN_BYTES = 32

# No inline script or style, no external resource: every asset comes from the desk itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TokenSource = Callable[[int], str]


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a token from the browser with the one we issued."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass
class DeskSession:
    session_id: str
    csrf_token: str


@dataclass
class Sessions:
    """The launch token (usable once) and the browser sessions it opened."""

    token_source: TokenSource = secrets.token_urlsafe
    launch_token: str | None = None
    _sessions: dict[str, DeskSession] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.launch_token is None:
            self.launch_token = self.token_source(TOKEN_BYTES)

    def exchange(self, token: str | None) -> DeskSession | None:
        """A new session for the launch token, which is spent; None for any other token."""
        if self.launch_token is None or not same_token(token, self.launch_token):
            return None
        self.launch_token = None
        session = DeskSession(self.token_source(TOKEN_BYTES), self.token_source(TOKEN_BYTES))
        self._sessions[session.session_id] = session
        return session

    def new_launch_token(self) -> str:
        """A fresh launch token (printed again by the desk's process when asked)."""
        self.launch_token = self.token_source(TOKEN_BYTES)
        return self.launch_token

    def find(self, session_id: str | None) -> DeskSession | None:
        if not session_id:
            return None
        for known_id, session in self._sessions.items():
            if same_token(session_id, known_id):
                return session
        return None


def own_hosts(request: web.Request) -> set[str]:
    """The Host values that name this desk: the loopback address and port it was reached on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if sockname else None
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def origin_allowed(request: web.Request) -> bool:
    """No Origin (a top-level GET), `null` (a POST under Referrer-Policy no-referrer), or ours."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    return origin in {f"http://{host}" for host in own_hosts(request)}


def set_session_cookie(response: web.StreamResponse, session: DeskSession) -> None:
    response.set_cookie(
        SESSION_COOKIE, session.session_id, httponly=True, samesite="Strict", path="/"
    )


def _decorate(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The headers every answer carries, refusals and failures included; pages never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _decorate(request, exc)
        raise
    except Exception:
        log.exception("desk request failed: %s %s", request.method, request.path)
        failure = web.HTTPInternalServerError(
            text=translate(request_language(request), N_("The desk failed; see its terminal."))
        )
        _decorate(request, failure)
        raise failure from None
    _decorate(request, response)
    return response


@web.middleware
async def own_host_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a request whose Host is not the desk (DNS rebinding) or whose Origin is foreign."""
    if request.headers.get("Host") not in own_hosts(request):
        raise web.HTTPForbidden(
            text=translate(
                request_language(request), N_("This desk answers only at its own address.")
            )
        )
    if not origin_allowed(request):
        raise web.HTTPForbidden(
            text=translate(request_language(request), N_("Requests from other sites are refused."))
        )
    return await handler(request)
