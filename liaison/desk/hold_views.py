"""The desk's legal holds page (a supervisor's device): the agency's active holds, placing a
hold on a case and releasing one; the same client calls as `liaison hold`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from liaison.client.errors import ClientError
from liaison.desk.state import DESK
from liaison.desk.views import render
from liaison.i18n import N_

MAX_CASE_REF = 100
MAX_REASON = 1000


def _not_supervisor(request: web.Request) -> web.Response | None:
    if request.app[DESK].officer.is_supervisor:
        return None
    return render(
        request,
        "refused.html",
        status=403,
        reason=N_("Only a supervisor device may place or release legal holds."),
    )


async def _page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    officer = request.app[DESK].officer
    holds: list[dict[str, Any]] = []
    failure = None
    try:
        holds = await officer.holds()
    except ClientError as exc:
        failure = str(exc)
    page: dict[str, Any] = {
        "error": None,
        "result": None,
        "case_ref": "",
        "has_secret": officer.has_case_secret,
        "holds": sorted(holds, key=lambda hold: hold["log_index"], reverse=True),
        "list_failure": failure,
    }
    return render(request, "holds.html", status=status, **{**page, **values})


async def holds(request: web.Request) -> web.StreamResponse:
    """GET /holds — the agency's active holds."""
    if (refused := _not_supervisor(request)) is not None:
        return refused
    result = request.query.get("result", "")
    return await _page(request, result=result if result in ("placed", "released") else None)


def _case_ref(form: Any) -> str:
    return str(form.get("case_ref", "")).strip()[: MAX_CASE_REF + 1]


async def place(request: web.Request) -> web.StreamResponse:
    """POST /holds — hold a case past retention, with a reason kept on this device."""
    if (refused := _not_supervisor(request)) is not None:
        return refused
    form = await request.post()
    case_ref, reason = _case_ref(form), str(form.get("reason", "")).strip()
    if not case_ref or len(case_ref) > MAX_CASE_REF:
        error = N_("Give the case reference (at most 100 characters).")
        return await _page(request, 400, error=error, case_ref=case_ref)
    if not reason or len(reason) > MAX_REASON:
        return await _page(
            request, 400, error=N_("Give a reason of 1 to 1000 characters."), case_ref=case_ref
        )
    try:
        await request.app[DESK].officer.place_hold(case_ref, reason)
    except ClientError as exc:
        return await _page(request, 400, error=str(exc), case_ref=case_ref)
    raise web.HTTPSeeOther("/holds?result=placed")


async def release(request: web.Request) -> web.StreamResponse:
    """POST /holds/release — lift the agency's hold on a case."""
    if (refused := _not_supervisor(request)) is not None:
        return refused
    form = await request.post()
    case_ref = _case_ref(form)
    if not case_ref or len(case_ref) > MAX_CASE_REF:
        error = N_("Give the case reference (at most 100 characters).")
        return await _page(request, 400, error=error)
    try:
        await request.app[DESK].officer.release_hold(case_ref)
    except ClientError as exc:
        return await _page(request, 400, error=str(exc))
    raise web.HTTPSeeOther("/holds?result=released")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/holds", holds)
    app.router.add_post("/holds", place)
    app.router.add_post("/holds/release", release)
