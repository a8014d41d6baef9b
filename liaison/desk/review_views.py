"""The desk's oversight pages: the agency's traffic (metadata) and review with a reason for
a supervisor; every officer's audit log (where each review of their messages shows) and the
agency roots the device trusts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crypto.errors import CryptoError
from liaison.client.errors import ClientError
from liaison.client.notices import is_notice
from liaison.desk.state import DESK
from liaison.desk.views import notice_view, render
from liaison.domain.fields import NoticeError
from liaison.domain.notices import parse_notice
from liaison.i18n import N_

MAX_REASON = 1000


async def review_list(request: web.Request) -> web.StreamResponse:
    """GET /review — the agency's messages, metadata only; nothing is decrypted here."""
    officer = request.app[DESK].officer
    if not officer.is_supervisor:
        return render(
            request,
            "refused.html",
            status=403,
            reason=N_("Only a supervisor device may review messages."),
        )
    traffic = await officer.review_traffic()
    return render(request, "review_list.html", traffic=list(reversed(traffic)))


async def review_form(request: web.Request) -> web.StreamResponse:
    """GET /review/{id} — the reason must be given before anything is opened."""
    return render(
        request, "review.html", message_id=request.match_info["message_id"], error=None, seen=None
    )


async def review(request: web.Request) -> web.StreamResponse:
    """POST /review/{id} — the relay logs the review first; then the message is shown."""
    officer = request.app[DESK].officer
    message_id = request.match_info["message_id"]
    form = await request.post()
    reason = str(form.get("reason", "")).strip()
    if not reason or len(reason) > MAX_REASON:
        return render(
            request,
            "review.html",
            status=400,
            message_id=message_id,
            error=N_("Give a reason of 1 to 1000 characters."),
            seen=None,
        )
    try:
        reviewed = await officer.review(message_id, reason)
    except (ClientError, CryptoError) as exc:
        return render(
            request, "review.html", status=400, message_id=message_id, error=str(exc), seen=None
        )
    seen: dict[str, Any] = {"reviewed": reviewed, "notice": None, "text": None}
    if is_notice(reviewed.payload):
        try:
            notice = parse_notice(reviewed.payload.body)
            seen["notice"] = notice_view(notice, {"message_id": reviewed.message_id})
        except NoticeError as exc:
            seen["text"] = str(exc)
    elif reviewed.payload.is_text:
        seen["text"] = reviewed.payload.as_text()
    return render(request, "review.html", message_id=message_id, error=None, seen=seen)


async def audit(request: web.Request) -> web.StreamResponse:
    """GET /audit — this device's log records, each checked against a signed checkpoint."""
    rows = await request.app[DESK].officer.audit_log()
    return render(request, "audit.html", rows=list(reversed(rows)))


PIN_HOW = {
    "own-agency": N_("own agency, when it was created"),
    "enrolment": N_("own agency, with the certificate"),
    "in-person": N_("fingerprint compared in person"),
}


def _trust_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    pins = request.app[DESK].officer.pins()
    return render(request, "trust.html", status=status, pins=pins, pin_how=PIN_HOW, **values)


async def trust(request: web.Request) -> web.StreamResponse:
    """GET /trust — the agency roots this device trusts, with their fingerprints."""
    pinned = request.query.get("pinned", "")
    return _trust_page(request, error=None, pinned=pinned if pinned.isascii() else "")


async def pin(request: web.Request) -> web.StreamResponse:
    """POST /trust — pin a foreign agency's root by the fingerprint exchanged in person."""
    officer = request.app[DESK].officer
    if not officer.has_device:
        # The relay's log, which the pin is checked against, answers enrolled devices only.
        return _trust_page(request, status=403, error=None, pinned="")
    form = await request.post()
    agency = str(form.get("agency", "")).strip().upper()
    fingerprint = str(form.get("fingerprint", "")).strip()
    try:
        await officer.pin(agency, fingerprint)
    except (ClientError, CryptoError) as exc:
        return _trust_page(request, status=400, error=str(exc), pinned="")
    raise web.HTTPSeeOther(f"/trust?pinned={agency}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/review", review_list)
    app.router.add_get("/review/{message_id:[0-9a-f]{32}}", review_form)
    app.router.add_post("/review/{message_id:[0-9a-f]{32}}", review)
    app.router.add_get("/audit", audit)
    app.router.add_get("/trust", trust)
    app.router.add_post("/trust", pin)
