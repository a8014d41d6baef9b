"""The desk's case pages: cases and their timelines, the agenda and its calendar file."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from liaison.desk.app import DESK
from liaison.desk.language import CATALOGUE_LOCALE, request_language
from liaison.desk.views import render
from liaison.domain.agencies import reason_codes
from liaison.domain.agenda import build_agenda
from liaison.domain.case_events import TimelineEntry
from liaison.domain.cases import all_handovers
from liaison.domain.places import gate_pair
from liaison.domain.warnings import VERIFICATION_LABELS, warnings_for_handover
from liaison.i18n.dates import format_both_zones, parse_utc


def _place_text(place: Mapping[str, Any], language: str) -> str:
    kind = place.get("kind")
    if kind == "gate":
        pair = gate_pair(str(place.get("gate", "")))
        if pair is None:
            return str(place.get("gate", ""))
        return f"{pair.vn.name(language)} – {pair.cn.name(language)}"
    if kind == "marker":
        return f"#{place.get('number', '')}"
    name = place.get("name")
    return str(name.get("text", "")) if isinstance(name, Mapping) else str(name or "")


def _entry_view(entry: TimelineEntry, locale: str) -> dict[str, Any]:
    reason = None
    if entry.reason_code:
        names = reason_codes().get(entry.reason_code, {})
        reason = names.get(locale[:2]) or names.get("en") or entry.reason_code
    return {
        "entry": entry,
        "action": entry.action.message(locale),
        "slot": format_both_zones(entry.slot.utc, locale) if entry.slot else None,
        "place": _place_text(entry.place, locale)
        if entry.place and entry.action.value in ("propose", "counter")
        else None,
        "reason": reason,
        "superseded": entry.superseded.message(locale) if entry.superseded else None,
    }


async def cases(request: web.Request) -> web.StreamResponse:
    """GET /cases — every case this device can derive, with its verification and handovers."""
    locale = CATALOGUE_LOCALE[request_language(request)]
    book = await request.app[DESK].officer.case_book()
    rows = []
    for case in book.cases.values():
        rows.append(
            {
                "case": case,
                "verification": VERIFICATION_LABELS[case.verification.status],
                "handovers": [
                    (h, h.state.message(locale), format_both_zones(h.slot.utc, locale))
                    for h in case.handovers.values()
                ],
            }
        )
    return render(request, "cases.html", rows=rows)


async def case(request: web.Request) -> web.StreamResponse:
    """GET /cases/{case_ref} — the timeline (superseded steps with their reason), handovers
    with the warnings an officer should see before acting."""
    locale = CATALOGUE_LOCALE[request_language(request)]
    book = await request.app[DESK].officer.case_book()
    found = book.case(request.match_info["case_ref"])
    if found is None:
        raise web.HTTPNotFound()
    now = int(time.time())
    handovers = [
        {
            "handover": h,
            "state": h.state.message(locale),
            "slot": format_both_zones(h.slot.utc, locale),
            "place": _place_text(h.place, locale),
            "warnings": [
                w.message(locale) for w in warnings_for_handover(h, cases=book.cases, now=now)
            ],
        }
        for h in found.handovers.values()
    ]
    return render(
        request,
        "case.html",
        case=found,
        verification=VERIFICATION_LABELS[found.verification.status],
        timeline=[_entry_view(e, locale) for e in found.timeline],
        handovers=handovers,
    )


async def agenda(request: web.Request) -> web.StreamResponse:
    """GET /agenda — handovers ahead (with warnings), replies due, support windows."""
    locale = CATALOGUE_LOCALE[request_language(request)]
    book = await request.app[DESK].officer.case_book()
    now = int(time.time())
    try:
        days = max(1, min(int(request.query.get("days", "7")), 90))
    except ValueError:
        days = 7
    plan = build_agenda(book.cases, now=now, days=days)
    by_id = {h.handover_id: h for h in all_handovers(book.cases.values())}
    upcoming = [
        {
            "item": item,
            "slot": format_both_zones(item.slot.utc, locale),
            "place": _place_text(item.place, locale),
            "state": item.state.message(locale),
            "warnings": [
                w.message(locale)
                for w in warnings_for_handover(by_id[item.handover_id], cases=book.cases, now=now)
            ],
        }
        for item in plan.handovers
    ]
    replies = [
        {"reply": reply, "by": format_both_zones(parse_utc(reply.reply_by.to_notice()), locale)}
        for reply in plan.replies
    ]
    return render(
        request,
        "agenda.html",
        days=days,
        upcoming=upcoming,
        replies=replies,
        windows=plan.support_windows,
    )


async def agenda_ics(request: web.Request) -> web.StreamResponse:
    """GET /agenda.ics — every handover of this device's cases as an iCalendar file."""
    from liaison.domain.ical import agenda_to_ics  # slow to import; only the download needs it

    language = request_language(request)
    book = await request.app[DESK].officer.case_book()
    data = agenda_to_ics(
        all_handovers(book.cases.values()),
        now=int(time.time()),
        place_label=lambda place: _place_text(place, language),
    )
    return web.Response(
        body=data,
        content_type="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="liaison-handovers.ics"'},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/cases", cases)
    app.router.add_get("/cases/{case_ref}", case)
    app.router.add_get("/agenda", agenda)
    app.router.add_get("/agenda.ics", agenda_ics)
