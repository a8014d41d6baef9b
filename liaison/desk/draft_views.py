"""Drafts on the desk: compose forms saved encrypted in the home folder (liaison/client/drafts.py,
local seal `liaison/v1/local-draft`), listed, resumed into their form, deleted."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict

from liaison.client.drafts import DraftError
from liaison.desk import views
from liaison.desk.state import DESK
from liaison.domain.notices import CATALOGUE, NOTICE_TYPES

DRAFT = "/drafts/{name:[0-9]{19}-[0-9a-f]{8}}"


async def drafts(request: web.Request) -> web.StreamResponse:
    """GET /drafts — newest first."""
    items = request.app[DESK].officer.drafts().items()
    return views.render(
        request, "drafts.html", drafts=items, saved=request.query.get("saved") == "1"
    )


async def resume(request: web.Request) -> web.StreamResponse:
    """GET /drafts/{name} — the draft's form again, as it was saved."""
    try:
        draft = request.app[DESK].officer.drafts().load(request.match_info["name"])
    except DraftError:
        raise web.HTTPNotFound() from None
    values: MultiDict[str] = MultiDict(draft.fields)
    values["draft"] = draft.name  # sending the form takes the draft's files, then removes it
    if draft.kind == "notice" and draft.notice_type in CATALOGUE:
        return views.notice_page(request, draft.notice_type, values)
    return views.render(
        request,
        "compose.html",
        notice_types=[(code, CATALOGUE[code].label) for code in NOTICE_TYPES],
        error=None,
        to=values.get("to", ""),
        text=values.get("text", ""),
        **views.draft_context(request, draft.name),
    )


async def delete(request: web.Request) -> web.StreamResponse:
    """POST /drafts/{name}/delete"""
    try:
        request.app[DESK].officer.drafts().delete(request.match_info["name"])
    except DraftError:
        raise web.HTTPNotFound() from None
    raise web.HTTPSeeOther("/drafts")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/drafts", drafts)
    app.router.add_get(DRAFT, resume)
    app.router.add_post(DRAFT + "/delete", delete)


__all__ = ["add_routes"]
