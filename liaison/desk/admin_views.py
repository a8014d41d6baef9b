"""The desk's administrator pages, on a home holding the agency root: the agency's fingerprint,
its devices with their status, certifying a device request and revoking a device. And the one
page every other page gives way to on a desk whose own device its agency revoked."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from liaison.client import agency as agency_ops
from liaison.client.errors import ClientError
from liaison.desk.state import DESK
from liaison.desk.views import render
from liaison.i18n import N_

MAX_REQUEST_BYTES = 64 * 1024
MAX_DAYS = 5 * 365
ROLE_LABELS = {"officer": N_("Officer"), "supervisor": N_("Supervisor")}
# The reason a revocation records (signed, logged): a short code, worded on the page.
REVOKE_REASONS = {
    "lost": N_("Lost"),
    "stolen": N_("Stolen or compromised"),
    "left_post": N_("The officer left the post"),
    "replaced": N_("Replaced by another device"),
    "unspecified": N_("Other"),
}
DEVICE_ID = "{device_id:[A-Z0-9-]+:[a-z0-9._-]+:[a-z0-9-]+}"
# Pages a revoked desk still serves: its assets, the language switch, locking it.
_ALWAYS_OPEN = ("/static/", "/language", "/lock", "/unlock", "/launch")
# Pages of a desk on an agency home without an officer's device.
_AGENCY_PAGES = ("/agency", "/trust")


def refusal(request: web.Request) -> web.StreamResponse | None:
    """What an unlocked desk answers instead of the page asked for, or None: a revoked device
    is refused everywhere; a desk with no officer's device has only the administrator's pages."""
    desk = request.app[DESK]
    path = request.path
    if path.startswith(_ALWAYS_OPEN):
        return None
    if desk.relay_status == "device_revoked":
        if path == "/events":
            return web.Response(status=204)
        return render(request, "revoked.html", status=403)
    if not desk.officer.has_device and not path.startswith(_AGENCY_PAGES):
        if path == "/events":
            return web.Response(status=204)
        raise web.HTTPSeeOther("/agency")
    return None


def _not_administrator(request: web.Request) -> web.Response | None:
    if request.app[DESK].officer.is_administrator:
        return None
    return render(
        request,
        "refused.html",
        status=403,
        reason=N_(
            "This desk holds no agency root key: the administrator's pages open on the "
            "agency's own home folder."
        ),
    )


def _page(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    return render(
        request,
        template,
        status=status,
        roles=ROLE_LABELS,
        statuses=agency_ops.DEVICE_STATUSES,
        reasons=REVOKE_REASONS,
        **values,
    )


async def agency_home(request: web.Request) -> web.StreamResponse:
    """GET /agency — the agency's fingerprint and every device it certified, with its status."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    officer = request.app[DESK].officer
    devices, checked = await officer.agency_devices()
    return _page(
        request,
        "agency.html",
        agency=officer.agency(),
        fingerprint=officer.agency_fingerprint(),
        devices=devices,
        checked=checked,
        certified=request.query.get("certified", ""),
        revoked=request.query.get("revoked", ""),
    )


def _certify_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    defaults: dict[str, Any] = {
        "error": None,
        "described": None,
        "request_text": "",
        "role": "officer",
        "days": agency_ops.DEFAULT_VALIDITY_DAYS,
        "max_days": MAX_DAYS,
    }
    return _page(request, "agency_certify.html", status=status, **{**defaults, **values})


async def certify_form(request: web.Request) -> web.StreamResponse:
    """GET /agency/certify — upload the request file the officer's device wrote."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    return _certify_page(request)


async def certify(request: web.Request) -> web.StreamResponse:
    """POST /agency/certify — `check`: read the uploaded request and show its fingerprint to
    compare with the officer's; `certify` (after the comparison is confirmed): issue it."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    form = await request.post()
    role = str(form.get("role", "officer"))
    if role not in ROLE_LABELS:
        role = "officer"
    try:
        days = int(str(form.get("days", agency_ops.DEFAULT_VALIDITY_DAYS)))
    except ValueError:
        days = 0
    values: dict[str, Any] = {"role": role, "days": days}
    if form.get("action") == "certify":
        data = str(form.get("request_text", "")).encode("utf-8")
    else:
        upload = form.get("request")
        data = upload.file.read(MAX_REQUEST_BYTES + 1) if isinstance(upload, web.FileField) else b""
    if not data:
        return _certify_page(
            request, 400, error=N_("Choose the request file the officer gave you."), **values
        )
    if len(data) > MAX_REQUEST_BYTES:
        return _certify_page(request, 400, error=N_("This file is not a device request."), **values)
    try:
        described = agency_ops.describe_request(data)
    except ClientError as exc:
        return _certify_page(request, 400, error=str(exc), **values)
    values.update(described=described, request_text=data.decode("utf-8"))
    if not 1 <= days <= MAX_DAYS:
        error = N_("The validity must be at least one day and at most five years.")
        return _certify_page(request, 400, error=error, **values)
    if form.get("action") != "certify":
        return _certify_page(request, **values)
    if form.get("compared") != "yes":
        error = N_("Confirm that you compared the fingerprint with the officer's device.")
        return _certify_page(request, 400, error=error, **values)
    try:
        request.app[DESK].officer.certify(data, role=role, days=days)
    except ClientError as exc:
        return _certify_page(request, 400, error=str(exc), **values)
    raise web.HTTPSeeOther(f"/agency?certified={described.device_id}#devices")


async def certificate(request: web.Request) -> web.StreamResponse:
    """GET /agency/devices/{id}/certificate — the certificate file to hand to the officer."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    device_id = request.match_info["device_id"]
    try:
        data = request.app[DESK].officer.certificate_file(device_id)
    except ClientError:
        raise web.HTTPNotFound() from None
    filename = device_id.replace(":", "_") + ".cert"
    return web.Response(
        body=data,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _issued(request: web.Request, device_id: str) -> agency_ops.AgencyDevice:
    for device in request.app[DESK].officer.issued_devices():
        if device.device_id == device_id:
            return device
    raise web.HTTPNotFound()


async def revoke_form(request: web.Request) -> web.StreamResponse:
    """GET /agency/devices/{id}/revoke — what a revocation does, before it is done."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    device = _issued(request, request.match_info["device_id"])
    return _page(request, "agency_revoke.html", device=device, error=None)


async def revoke(request: web.Request) -> web.StreamResponse:
    """POST /agency/devices/{id}/revoke — sign the revocation with the root and upload it."""
    if (refused := _not_administrator(request)) is not None:
        return refused
    device = _issued(request, request.match_info["device_id"])
    form = await request.post()
    reason = str(form.get("reason", ""))
    if reason not in REVOKE_REASONS:
        error = N_("Choose why the device is revoked.")
        return _page(request, "agency_revoke.html", status=400, device=device, error=error)
    try:
        await request.app[DESK].officer.revoke(device.device_id, reason)
    except ClientError as exc:
        return _page(request, "agency_revoke.html", status=400, device=device, error=str(exc))
    raise web.HTTPSeeOther(f"/agency?revoked={device.device_id}#devices")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/agency", agency_home)
    app.router.add_get("/agency/certify", certify_form)
    app.router.add_post("/agency/certify", certify)
    app.router.add_get(f"/agency/devices/{DEVICE_ID}/certificate", certificate)
    app.router.add_get(f"/agency/devices/{DEVICE_ID}/revoke", revoke_form)
    app.router.add_post(f"/agency/devices/{DEVICE_ID}/revoke", revoke)
