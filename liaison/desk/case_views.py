"""The desk's case pages: cases and their timelines, the agenda and its calendar file."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from liaison.client.errors import ClientError
from liaison.client.handover_steps import StepRequest
from liaison.desk.language import CATALOGUE_LOCALE, request_language
from liaison.desk.state import DESK
from liaison.desk.views import render
from liaison.domain.agencies import reason_codes
from liaison.domain.agenda import build_agenda
from liaison.domain.case_events import Action, TimelineEntry
from liaison.domain.cases import all_handovers
from liaison.domain.fields import ZONES, NoticeError
from liaison.domain.handover import HandoverActionRefused, refusal_for
from liaison.domain.places import CN_ZONE, VN_ZONE, gate_pair, gate_pairs
from liaison.domain.warnings import VERIFICATION_LABELS, warnings_for_handover
from liaison.i18n import N_
from liaison.i18n import translate as translate_message
from liaison.i18n.dates import format_both_zones, parse_utc

# The handover steps the case page offers (a proposal is a notice form of its own; the record
# is written with `liaison handover complete` for now).
HANDOVER_STEPS = ("accept", "counter", "reschedule", "cancel", "countersign")
STEP_LABELS = {
    "accept": N_("Accept"),
    "counter": N_("Counter-propose"),
    "reschedule": N_("Reschedule"),
    "cancel": N_("Cancel the handover"),
    "countersign": N_("Countersign the record"),
}


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
        "action": translate_message(entry.action.message, locale),
        "slot": format_both_zones(entry.slot.utc, locale) if entry.slot else None,
        "place": _place_text(entry.place, locale)
        if entry.place and entry.action.value in ("propose", "counter")
        else None,
        "reason": reason,
        "superseded": translate_message(entry.superseded.message, locale)
        if entry.superseded
        else None,
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
                    (
                        h,
                        translate_message(h.state.message, locale),
                        format_both_zones(h.slot.utc, locale),
                    )
                    for h in case.handovers.values()
                ],
            }
        )
    return render(request, "cases.html", rows=rows)


async def _case_page(
    request: web.Request, *, pending: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    locale = CATALOGUE_LOCALE[request_language(request)]
    book = await request.app[DESK].officer.case_book()
    found = book.case(request.match_info["case_ref"])
    if found is None:
        raise web.HTTPNotFound()
    now = int(time.time())
    handovers = [
        {
            "handover": h,
            "state": translate_message(h.state.message, locale),
            "slot": format_both_zones(h.slot.utc, locale),
            "place": _place_text(h.place, locale),
            "warnings": [
                translate_message(w.message, locale)
                for w in warnings_for_handover(h, cases=book.cases, now=now)
            ],
            # Only the steps this side may take now: a refused one would only be superseded.
            "steps": [
                step for step in HANDOVER_STEPS if refusal_for(h, Action(step), book.side) is None
            ],
            "may_record": refusal_for(h, Action.RECORD, book.side) is None,
        }
        for h in found.handovers.values()
    ]
    return render(
        request,
        "case.html",
        status=status,
        case=found,
        verification=VERIFICATION_LABELS[found.verification.status],
        timeline=[_entry_view(e, locale) for e in found.timeline],
        handovers=handovers,
        step_labels=STEP_LABELS,
        zones=[(zone, zone) for zone in ZONES],
        own_zone=VN_ZONE if book.side == "VN" else CN_ZONE,
        gates=gate_pairs(),
        reasons=[
            (code, names.get(locale[:2]) or names.get("en") or code)
            for code, names in reason_codes().items()
        ],
        pending=pending,
        result=request.query.get("result"),
    )


async def case(request: web.Request) -> web.StreamResponse:
    """GET /cases/{case_ref} — the timeline (superseded steps with their reason), handovers
    with the warnings an officer should see before acting, and the steps open to this side."""
    return await _case_page(request)


def _step_request(
    step: str, form: Mapping[str, Any], handover_id: str, language: str
) -> StepRequest:
    """The step the case page's form asks for; free text is in the desk's language."""
    at = str(form.get("at", "")).strip().replace("T", " ")
    gate = str(form.get("gate", "")).strip()
    return StepRequest(
        step=step,
        language=language,
        handover=handover_id,
        at=at or None,
        tz=str(form.get("tz", "")) or None,
        place=f"gate:{gate}" if gate else None,
        reception=[line.strip() for line in str(form.get("team", "")).splitlines() if line.strip()],
        reason_code=str(form.get("reason_code", "")) or None,
        reason=str(form.get("reason", "")).strip() or None,
        handling=str(form.get("handling", "H1")),
    )


async def handover_step(request: web.Request) -> web.StreamResponse:
    """POST /cases/{case_ref}/handovers/{handover_id}/{step} — `check` shows the warnings and
    asks again; `send` seals and sends the step's notice to every agency of the case."""
    step = request.match_info["step"]
    if step not in HANDOVER_STEPS:
        raise web.HTTPNotFound()
    language = request_language(request)
    form = await request.post()
    step_request = _step_request(step, form, request.match_info["handover_id"], language)
    send = form.get("action") == "send"
    try:
        prepared, sent = await request.app[DESK].officer.handover_step(step_request, send=send)
    except HandoverActionRefused as exc:
        failure = translate_message(exc.message, CATALOGUE_LOCALE[language])
        return await _case_page(request, pending={"failure": failure, "step": step}, status=400)
    except (ClientError, NoticeError) as exc:
        return await _case_page(request, pending={"failure": str(exc), "step": step}, status=400)
    if sent is None:
        pending = {
            "failure": None,
            "step": step,
            "handover_id": request.match_info["handover_id"],
            "warnings": [
                translate_message(w.message, CATALOGUE_LOCALE[language]) for w in prepared.warnings
            ],
            "addresses": prepared.addresses,
            "fields": {k: v for k, v in form.items() if k not in ("action", "csrf_token")},
        }
        return await _case_page(request, pending=pending)
    raise web.HTTPSeeOther(
        f"/cases/{quote(request.match_info['case_ref'])}?result={quote(sent.message_id)}"
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
            "state": translate_message(item.state.message, locale),
            "warnings": [
                translate_message(w.message, locale)
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
    from liaison.i18n.ical import agenda_to_ics  # slow to import; only the download needs it

    language = request_language(request)
    book = await request.app[DESK].officer.case_book()
    data = agenda_to_ics(
        all_handovers(book.cases.values()),
        now=int(time.time()),
        # The officer's desk language, as the place names already were (not the process's).
        language=CATALOGUE_LOCALE[language],
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
    app.router.add_post("/cases/{case_ref}/handovers/{handover_id}/{step}", handover_step)
    app.router.add_get("/agenda", agenda)
    app.router.add_get("/agenda.ics", agenda_ics)
