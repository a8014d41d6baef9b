"""The desk's outbox page: messages composed while the relay could not be reached, waiting to
be sent in order (liaison/client/outbox.py); retry a refused one, delete one (confirmed)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crypto.errors import CryptoError
from liaison.client.errors import ClientError
from liaison.client.notices import is_notice
from liaison.client.outbox import OutboxItem
from liaison.desk.state import DESK
from liaison.desk.views import render
from liaison.domain.fields import NoticeError
from liaison.domain.notices import CATALOGUE, parse_notice

ITEM_ID = "{item_id:[0-9a-f]{8}}"


def item_view(item: OutboxItem) -> dict[str, Any]:
    """What the outbox page shows of one item (a notice by its type's label and case)."""
    kind, case_ref = "message", ""
    if not item.damaged and is_notice(item.payload):
        try:
            notice = parse_notice(item.payload.body)
        except NoticeError:
            pass
        else:
            kind = CATALOGUE[notice.type].label if notice.type in CATALOGUE else notice.type
            case_ref = notice.case_ref
    return {
        "id": item.item_id,
        "created_at": item.created_at,
        "addresses": ", ".join(item.addresses),
        "summary": item.summary if kind == "message" else "",
        "kind": kind,
        "case_ref": case_ref,
        "state": "damaged" if item.damaged else ("refused" if item.error_code else item.state),
        "error_code": item.error_code,
        "error_message": item.error_message,
        "attempts": item.attempts,
    }


async def outbox_page(request: web.Request) -> web.StreamResponse:
    """GET /outbox — the waiting items, in the order they will be sent."""
    desk = request.app[DESK]
    items = [item_view(item) for item in desk.officer.outbox_items()]
    return render(
        request, "outbox.html", items=items, result=request.query.get("result"), busy=False
    )


async def outbox_send(request: web.Request) -> web.StreamResponse:
    """POST /outbox/send — try the relay now."""
    desk = request.app[DESK]
    try:
        report = await desk.officer.send_outbox()
    except ClientError:
        raise web.HTTPSeeOther("/outbox?result=unreachable") from None
    if report.busy:
        result = "busy"
    elif report.error is not None:
        result = "stopped"
    elif report.unreachable:
        result = "unreachable"
    else:
        result = "sent"
    raise web.HTTPSeeOther(f"/outbox?result={result}")


async def outbox_retry(request: web.Request) -> web.StreamResponse:
    """POST /outbox/{id}/retry — forget the refusal; the outbox is sent again."""
    desk = request.app[DESK]
    try:
        desk.officer.retry_outbox_item(request.match_info["item_id"])
    except (ClientError, CryptoError):
        raise web.HTTPNotFound() from None
    desk.outbox_kick.set()
    raise web.HTTPSeeOther("/outbox?result=retrying")


def _find(request: web.Request) -> dict[str, Any]:
    item_id = request.match_info["item_id"]
    for item in request.app[DESK].officer.outbox_items():
        if item.item_id == item_id:
            return item_view(item)
    raise web.HTTPNotFound()


async def outbox_delete_form(request: web.Request) -> web.StreamResponse:
    """GET /outbox/{id}/delete — the confirmation asked before deleting."""
    return render(request, "outbox_delete.html", item=_find(request))


async def outbox_delete(request: web.Request) -> web.StreamResponse:
    """POST /outbox/{id}/delete — removes the item without sending it."""
    _find(request)
    request.app[DESK].officer.delete_outbox_item(request.match_info["item_id"])
    raise web.HTTPSeeOther("/outbox?result=deleted")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/outbox", outbox_page)
    app.router.add_post("/outbox/send", outbox_send)
    app.router.add_post(f"/outbox/{ITEM_ID}/retry", outbox_retry)
    app.router.add_get(f"/outbox/{ITEM_ID}/delete", outbox_delete_form)
    app.router.add_post(f"/outbox/{ITEM_ID}/delete", outbox_delete)


__all__ = ["add_routes"]
