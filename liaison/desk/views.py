"""The desk's pages: each handler reads the request, makes one call on the desk, renders."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDict

from crypto.attachments import AttachmentRef
from crypto.errors import CryptoError
from liaison.client.attachments import format_bytes
from liaison.client.drafts import DraftError
from liaison.client.errors import ClientError, PassphraseError
from liaison.client.notices import is_notice, open_notice
from liaison.client.spool import SpooledBlob, discard
from liaison.desk import forms
from liaison.desk.inbox import InboxFilter, entry_for
from liaison.desk.language import (
    DESK_LANGUAGES,
    HTML_LANG,
    LANGUAGE_COOKIE,
    request_language,
    translate,
)
from liaison.desk.security import CSRF_FIELD, set_session_cookie
from liaison.desk.state import DESK, SESSION_KEY, Desk
from liaison.domain.fields import FieldError, NoticeError
from liaison.domain.notices import CATALOGUE, HANDLING_CODES, NOTICE_TYPES, parse_notice
from liaison.domain.places import CN_ZONE, VN_ZONE
from liaison.i18n import N_
from liaison.i18n import translate as translate_message
from liaison.i18n.render import AUTONYMS, handling_banner, notice_rows

KEEPALIVE_SECONDS = 15.0
# Images a browser may show inline; never SVG (it can carry script).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# An inline image is decrypted and verified in memory before its first byte is served: at most
# this many bytes (a larger one is offered as a download only).
MAX_INLINE_BYTES = 16 * 1024 * 1024
ZONE_LABELS = {
    VN_ZONE: N_("Vietnam time (UTC+7)"),
    CN_ZONE: N_("China time (UTC+8)"),
    "UTC": N_("UTC"),
}


def _desk(request: web.Request) -> Desk:
    return request.app[DESK]


def _safe_next(value: str | None) -> str:
    """Only a path on the desk itself (never //host or a scheme) to go back to."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


def _time_in(zone: str) -> Callable[[int], str]:
    """Send times as the officer's own country keeps its clocks (both stay on one offset)."""
    suffix = {VN_ZONE: "UTC+7", CN_ZONE: "UTC+8"}.get(zone, "UTC")

    def show(seconds: int) -> str:
        if not seconds:
            return ""
        moment = datetime.fromtimestamp(seconds, UTC).astimezone(ZoneInfo(zone))
        return f"{moment:%Y-%m-%d %H:%M} ({suffix})"

    return show


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every page template gets: the language, its translator, the CSRF token."""
    desk = _desk(request)
    language = request_language(request)
    session = request.get(SESSION_KEY)
    officer_name, zone = "", VN_ZONE
    officer_device = desk.officer.unlocked and desk.officer.has_device
    if officer_device:
        cert = desk.officer.certificate
        names = dict(cert.display_names)
        officer_name = f"{names.get(language[:2]) or names.get('vi', '')} · {cert.agency}"
        zone = VN_ZONE if cert.agency.startswith("VN") else CN_ZONE
    elif desk.officer.unlocked:
        agency = desk.officer.agency()
        name = agency.get("name_zh") if language.startswith("zh") else agency.get("name_vi")
        officer_name = f"{name} · {agency['code']}"
        zone = VN_ZONE if agency["code"].startswith("VN") else CN_ZONE
    base: dict[str, Any] = {
        "lang": language,
        "html_lang": HTML_LANG[language],
        "html_lang_of": HTML_LANG,
        "_": lambda message: translate(language, message),
        "languages": DESK_LANGUAGES,
        "csrf_field": CSRF_FIELD,
        "csrf": session.csrf_token if session is not None else "",
        "here": request.path_qs,
        "unlocked": desk.officer.unlocked,
        "officer_name": officer_name,
        "relay_status": desk.relay_status,
        "supervisor": officer_device and desk.officer.is_supervisor,
        "officer_device": officer_device,
        "administrator": desk.officer.unlocked and desk.officer.is_administrator,
        "agency_home": not desk.officer.has_device and desk.officer.is_administrator,
        "outbox_waiting": desk.officer.outbox_count() if officer_device else 0,
        "time": _time_in(zone),
        "notice_label": lambda code: CATALOGUE[code].label if code in CATALOGUE else code,
        "zone_label": lambda zone: translate(language, ZONE_LABELS.get(zone, zone)),
        "other_label": lambda zone: translate(
            language, ZONE_LABELS[forms.other_zone(zone) if zone in ZONE_LABELS else VN_ZONE]
        ),
    }
    base.update(values)
    return base


def render(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    return aiohttp_jinja2.render_template(
        template, request, context(request, **values), status=status
    )


# --- Launch, unlock, lock, language ------------------------------------------------------------
async def launch(request: web.Request) -> web.StreamResponse:
    """GET /launch?token=… — the printed link; the token is spent for a session cookie."""
    session = _desk(request).sessions.exchange(request.query.get("token"))
    if session is None:
        return render(
            request,
            "refused.html",
            status=403,
            reason=N_("This launch link is not valid or was already used."),
        )
    response = web.HTTPSeeOther("/")
    set_session_cookie(response, session)
    raise response


async def unlock_page(request: web.Request) -> web.StreamResponse:
    """GET /unlock"""
    if _desk(request).officer.unlocked:
        raise web.HTTPSeeOther("/")
    return render(request, "unlock.html", error=None)


async def unlock(request: web.Request) -> web.StreamResponse:
    """POST /unlock — the passphrase unlocks the device keys in the desk's process."""
    desk = _desk(request)
    form = await request.post()
    if not desk.officer.unlocked:
        try:
            await desk.unlock(str(form.get("passphrase", "")))
        except PassphraseError:
            return render(
                request,
                "unlock.html",
                status=403,
                error=N_("The passphrase does not unlock this device."),
            )
    raise web.HTTPSeeOther("/")


async def lock(request: web.Request) -> web.StreamResponse:
    """POST /lock"""
    await _desk(request).lock()
    raise web.HTTPSeeOther("/unlock")


async def language(request: web.Request) -> web.StreamResponse:
    """POST /language — remembered in a cookie; back to the page it was chosen on."""
    form = await request.post()
    chosen = str(form.get("lang", ""))
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    if chosen in DESK_LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, httponly=True, samesite="Strict", max_age=10 * 365 * 86400
        )
    raise response


# --- Inbox ------------------------------------------------------------------------------------
def _inbox_filter(query: Mapping[str, str]) -> InboxFilter:
    return InboxFilter(
        query=query.get("q", "")[:200],
        unread=query.get("unread") == "1",
        case_ref=query.get("case", "")[:100],
        notice_type=query.get("type", "") if query.get("type") in CATALOGUE else "",
        urgent=query.get("urgent") == "1",
    )


async def inbox(request: web.Request) -> web.StreamResponse:
    """GET / — the inbox, newest first; `before` pages by log index; `rows=1` only the rows."""
    desk = _desk(request)
    wanted = _inbox_filter(request.query)
    if request.query.get("awaiting") == "1":
        wanted = dataclasses.replace(wanted, awaiting=await desk.awaiting_reply())
    try:
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        before = None
    page = desk.index.page(wanted, before=before)
    kept = {
        k: v
        for k, v in request.query.items()
        if k in ("q", "unread", "case", "type", "urgent", "awaiting")
    }
    next_url = "/?" + urlencode({**kept, "before": page.next_before}) if page.next_before else None
    template = "inbox_rows.html" if request.query.get("rows") == "1" else "inbox.html"
    return render(
        request,
        template,
        page=page,
        wanted=wanted,
        next_url=next_url,
        first_page=before is None,
        index=desk.index,
        cases=desk.index.cases(),
        notice_types=[(code, CATALOGUE[code].label) for code in NOTICE_TYPES],
        total=len(desk.index),
    )


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events — Server-Sent Events: one `inbox` event per message that arrives."""
    desk = _desk(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    queue = desk.live.listen()  # before the headers go out: a page that has them misses nothing
    try:
        await response.prepare(request)
        await response.write(b": ready\n\n")
        while True:
            try:
                message_id = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if message_id is None:
                break
            await response.write(f"event: inbox\ndata: {message_id}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        desk.live.leave(queue)
    return response


# --- Read, acknowledge, forward ---------------------------------------------------------------
def notice_view(notice: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Vietnamese and Chinese side by side, row by row, as the printed notice has them."""
    locales = ("vi", "zh_Hans_CN")
    columns = [notice_rows(notice, locale, meta) for locale in locales]
    return {
        "banner": handling_banner(notice.handling, "both"),
        "banner_langs": ["vi", "zh-Hans-CN"],
        "heads": [(AUTONYMS[loc], HTML_LANG.get(loc, loc)) for loc in locales],
        "rows": list(zip(*columns, strict=True)),
        "handling": notice.handling,
        "titles": [
            (translate(loc, notice.spec().label), HTML_LANG.get(loc, loc)) for loc in locales
        ],
    }


def shown_inline(ref: AttachmentRef) -> bool:
    """An image the read page shows (decrypted in memory, so bounded in size)."""
    return ref.media_type in INLINE_TYPES and ref.size <= MAX_INLINE_BYTES


def attachment_rows(attachments: Sequence[AttachmentRef]) -> list[dict[str, object]]:
    """What the read page lists of each attachment: name, type, size, shown inline or not."""
    return [
        {
            "index": index,
            "name": ref.name,
            "media_type": ref.media_type,
            "size": format_bytes(ref.size),
            "inline": shown_inline(ref),
        }
        for index, ref in enumerate(attachments)
    ]


async def message(request: web.Request) -> web.StreamResponse:
    """GET /message/{id} — open, verify, show; the verification result is shown first."""
    desk = _desk(request)
    message_id = request.match_info["message_id"]
    try:
        record = desk.officer.message_record(message_id)
    except ClientError:
        raise web.HTTPNotFound() from None
    values: dict[str, Any] = {
        "record": record,
        "failure": None,
        "opened": None,
        "notice": None,
        "reply_types": [],
        "attachments": [],
    }
    try:
        opened = await desk.officer.open(message_id)
    except (ClientError, CryptoError) as exc:
        values["failure"] = str(exc)
        return render(request, "message.html", **values)
    desk.mark_seen(opened.message_id)
    # Opened now: an entry that could not be opened at unlock (relay away) gets its content.
    desk.index.replace(entry_for(record, opened))
    values["opened"] = opened
    if is_notice(opened.payload):
        notice = open_notice(opened)
        meta = {"message_id": opened.message_id, "sender_names": opened.sender_names}
        values["notice"] = notice_view(notice, meta)
        values["restricted"] = notice.handling == "H2"
        values["reply_types"] = [
            (code, CATALOGUE[code].label) for code in forms.REPLY_TYPES.get(notice.type, ())
        ]
        values["handling_meaning"] = HANDLING_CODES[notice.handling]
    elif opened.payload.is_text:
        values["text"] = opened.payload.as_text()
    values["attachments"] = attachment_rows(opened.payload.attachments)
    values["result"] = request.query.get("result")
    return render(request, "message.html", **values)


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """POST /message/{id}/ack"""
    message_id = request.match_info["message_id"]
    await _desk(request).officer.acknowledge(message_id)
    raise web.HTTPSeeOther(f"/message/{message_id}?result=acknowledged")


async def forward(request: web.Request) -> web.StreamResponse:
    """POST /message/{id}/forward — refused for H2 before anything is sealed, with the reason."""
    desk = _desk(request)
    message_id = request.match_info["message_id"]
    form = await request.post()
    addresses = [a.strip() for a in str(form.get("to", "")).split(",") if a.strip()]
    language_code = request_language(request)
    try:
        await desk.officer.forward(message_id, addresses)
    except NoticeError as exc:
        return render(
            request,
            "refused.html",
            status=403,
            reason=translate_message(exc.message, _catalogue(language_code)),
        )
    except ClientError as exc:
        return render(request, "refused.html", status=400, reason=str(exc))
    raise web.HTTPSeeOther(f"/message/{message_id}?result=forwarded")


def _digest(warnings: list[str]) -> str:
    return hashlib.sha256("\n".join(warnings).encode("utf-8")).hexdigest()[:32]


def _catalogue(language_code: str) -> str:
    return {"zh": "zh_Hans_CN"}.get(language_code, language_code)


# --- Compose ----------------------------------------------------------------------------------
async def compose(request: web.Request) -> web.StreamResponse:
    """GET /compose — a plain message, or the choice of a notice type."""
    return render(
        request,
        "compose.html",
        notice_types=[(code, CATALOGUE[code].label) for code in NOTICE_TYPES],
        error=None,
        to=request.query.get("to", ""),
        text="",
    )


async def compose_message(request: web.Request) -> web.StreamResponse:
    """POST /compose/message (a form without files)"""
    form = await request.post()
    values: MultiDict[str] = MultiDict(
        (key, value) for key, value in form.items() if isinstance(value, str)
    )
    return await submit_message(request, values)


async def submit_message(
    request: web.Request, values: MultiDict[str], files: Sequence[SpooledBlob] = ()
) -> web.StreamResponse:
    """Save the message form as a draft, or send it through the outbox (kept waiting when
    the relay cannot be reached) with the files of the draft it was resumed from, then
    `files` (spooled blobs, ciphertext)."""
    desk = _desk(request)
    to, text = values.get("to", "").strip(), values.get("text", "")
    draft = values.get("draft", "")
    files = [*desk.officer.draft_files(draft), *files]
    try:
        if values.get("action") == "draft":
            kept = MultiDict(to=to, text=text, draft=draft)
            return save_draft(request, "message", kept, blobs=files)
        if not files and not text.strip():
            return compose_again(request, N_("Write the message first."), to, text, draft)
        addresses = [a.strip() for a in to.split(",") if a.strip()]
        try:
            sent, _item, _report = await desk.officer.send_or_queue(
                addresses, text=text, blobs=files
            )
        except ClientError as exc:
            return compose_again(request, str(exc), to, text, draft)
        _draft_sent(request, draft)
        if sent is None:
            return render(request, "queued.html")
        return render(request, "sent.html", sent=sent)
    finally:
        discard(files)  # what the outbox or a draft took has moved; the rest is deleted


def compose_again(
    request: web.Request, error: str, to: str, text: str, draft: str = ""
) -> web.Response:
    """The message form shown again with what was typed and what went wrong (400)."""
    return render(
        request,
        "compose.html",
        status=400,
        notice_types=[(code, CATALOGUE[code].label) for code in NOTICE_TYPES],
        error=error,
        to=to,
        text=text,
        **draft_context(request, draft),
    )


def draft_context(request: web.Request, name: str) -> dict[str, object]:
    """For a form resumed from a draft: the draft's name (a hidden field, so that sending
    takes its files and then removes it) and the files kept with it, attached first."""
    if not name:
        return {"draft": "", "kept": []}
    try:
        draft = _desk(request).officer.drafts().load(name)
    except DraftError:
        return {"draft": "", "kept": []}
    return {"draft": name, "kept": attachment_rows([blob.reference for blob in draft.blobs])}


def _draft_sent(request: web.Request, name: str) -> None:
    """The draft a sent (or queued) form came from is done: it goes, with its blobs."""
    if name:
        with contextlib.suppress(DraftError):
            _desk(request).officer.drafts().delete(name)


# Fields of a form that are not its content (never kept in a draft).
_NOT_DRAFTED = (CSRF_FIELD, "action", "warnings_seen", "checked", "add", "remove", "files", "draft")


def save_draft(
    request: web.Request,
    kind: str,
    values: MultiDict[str],
    notice_type: str = "",
    *,
    blobs: Sequence[SpooledBlob] = (),
) -> web.StreamResponse:
    """Seal the form as a draft in the home folder, with its files' blobs (they move into
    it), and list the drafts. A form resumed from a draft replaces that draft."""
    kept = [(k, v) for k, v in values.items() if k not in _NOT_DRAFTED]
    if kind == "message":
        title = f"{values.get('to', '')} · {values.get('text', '')[:60]}"
    else:
        parts = [translate(request_language(request), CATALOGUE[notice_type].label)]
        parts += [values.get("header.case_ref", ""), values.get("header.our_ref", "")]
        title = " · ".join(p for p in parts if p)
    drafts = _desk(request).officer.drafts()
    drafts.save(kind, kept, notice_type=notice_type, title=title, blobs=blobs)
    _draft_sent(request, values.get("draft", ""))
    raise web.HTTPSeeOther("/drafts?saved=1")


def _notice_page(
    request: web.Request,
    notice_type: str,
    values: MultiDict[str],
    *,
    error: NoticeError | ClientError | None = None,
    status: int = 200,
    warnings: list[str] | None = None,
) -> web.Response:
    language_code = request_language(request)
    header = forms.build(forms.FORM_HEADER_FIELDS, values, "header", language_code)
    body = forms.build(CATALOGUE[notice_type].fields, values, "fields", language_code)
    error_text, error_path, error_anchor, error_label = None, None, None, None
    if error is not None:
        if isinstance(error, NoticeError):
            error_text = translate_message(error.message, _catalogue(language_code))
        else:
            error_text = str(error)
        if isinstance(error, FieldError):
            control = forms.field_for_error([*header, *body], error.field)
            if control is not None:
                error_path, error_anchor = control.path, control.anchor
                error_label = control.label
    return render(
        request,
        "notice_form.html",
        status=status,
        notice_type=notice_type,
        spec=CATALOGUE[notice_type],
        header=header,
        body=body,
        to=values.get("to", ""),
        error_text=error_text,
        error_path=error_path,
        error_anchor=error_anchor,
        error_label=error_label,
        checked=values.get("checked") == "1",
        warnings=warnings or [],
        warnings_digest=_digest(warnings or []),
        gates=forms.gate_pairs(),
        side_choices=list(forms.kinds.SIDE_CHOICES.items()),
        **draft_context(request, values.get("draft", "")),
        place_kinds=[("gate", N_("Gate")), ("marker", N_("Border marker")), ("point", N_("Point"))],
    )


async def notice_form(request: web.Request) -> web.StreamResponse:
    """GET /compose/notice/{type}"""
    notice_type = request.match_info["notice_type"]
    if notice_type not in CATALOGUE:
        raise web.HTTPNotFound()
    desk = _desk(request)
    values = MultiDict(forms.new_form_values(desk.officer.certificate.agency, notice_type))
    handover_id = request.query.get("handover", "")
    if notice_type == "handover_record" and handover_id:
        try:
            values.update(await desk.officer.record_start(handover_id))
        except ClientError:
            raise web.HTTPNotFound() from None
    reply_to = request.query.get("reply_to", "")
    if reply_to:
        # A reply starts from the notice it answers: its case, its sender, its reference.
        try:
            original = open_notice(await desk.officer.open(reply_to, mark_read=False))
        except (ClientError, CryptoError, NoticeError):
            raise web.HTTPNotFound() from None
        values.update(forms.reply_values(original, reply_to, notice_type))
    return _notice_page(request, notice_type, values)


async def notice_submit(request: web.Request) -> web.StreamResponse:
    """POST /compose/notice/{type} — add/remove a block, check, or check and send."""
    notice_type = request.match_info["notice_type"]
    if notice_type not in CATALOGUE:
        raise web.HTTPNotFound()
    posted = await request.post()
    values: MultiDict[str] = MultiDict(
        (key, value) for key, value in posted.items() if isinstance(value, str)
    )
    return await submit_notice(request, notice_type, values)


async def submit_notice(
    request: web.Request,
    notice_type: str,
    values: MultiDict[str],
    files: Sequence[SpooledBlob] = (),
) -> web.StreamResponse:
    """Check the posted notice form (its attachment indexes against the files of the draft it
    was resumed from, then `files`, the spooled blobs, in order), and send it when asked,
    through the outbox."""
    desk = _desk(request)
    files = [*desk.officer.draft_files(values.get("draft", "")), *files]
    try:
        return await _submit_notice(request, notice_type, values, files)
    finally:
        discard(files)  # what the outbox or a draft took has moved; the rest is deleted


async def _submit_notice(
    request: web.Request, notice_type: str, values: MultiDict[str], files: list[SpooledBlob]
) -> web.StreamResponse:
    desk = _desk(request)
    action = values.get("action", "check")
    if action == "draft":
        return save_draft(request, "notice", values, notice_type, blobs=files)
    if values.get("add") or values.get("remove"):
        # The counts already include the change: render again with the new number of blocks.
        fixed = MultiDict((k, v) for k, v in values.items() if not k.endswith(".count"))
        for control in forms.build(CATALOGUE[notice_type].fields, values, "fields", "en"):
            if control.widget == "list":
                fixed[f"{control.path}.count"] = control.extra["count"]
        fixed.pop("add", None)
        fixed.pop("remove", None)
        return _notice_page(request, notice_type, fixed)
    try:
        notice = parse_notice(forms.notice_json(notice_type, values), attachments=len(files))
    except NoticeError as exc:
        return _notice_page(request, notice_type, values, error=exc, status=400)
    if notice_type == "handover_record":
        # A record of a handover that is not confirmed (or cancelled) would only be superseded.
        try:
            refusal = await desk.officer.record_refusal(str(notice.fields["in_reply_to"]))
        except ClientError as exc:
            return _notice_page(request, notice_type, values, error=exc, status=400)
        if refusal is not None:
            language = _catalogue(request_language(request))
            failure = ClientError(
                translate_message(refusal.message, language), code=refusal.reason.value
            )
            return _notice_page(request, notice_type, values, error=failure, status=400)
    warnings: list[str] = []
    if notice_type == "handover_proposal":
        language = _catalogue(request_language(request))
        warnings = [
            translate_message(w.message, language)
            for w in await desk.officer.proposal_warnings(notice)
        ]
    # A warning is shown before anything is sent; sending then needs a second, informed click.
    # The digest ties the confirmation to these warnings: a changed slot must be read again.
    if action != "send" or (warnings and values.get("warnings_seen") != _digest(warnings)):
        values["checked"] = "1"
        return _notice_page(request, notice_type, values, warnings=warnings)
    to = values.get("to", "").strip() or str(notice.header["recipient_unit"])
    addresses = [a.strip() for a in to.split(",") if a.strip()]
    try:
        # Through the outbox, files too (their blobs): kept when the relay cannot be reached.
        sent, _item, _report = await desk.officer.send_or_queue(
            addresses, notice=notice, blobs=files
        )
    except (NoticeError, ClientError) as exc:
        return _notice_page(request, notice_type, values, error=exc, status=400)
    _draft_sent(request, values.get("draft", ""))
    if sent is None:
        return render(request, "queued.html")
    return render(request, "sent.html", sent=sent)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/launch", launch)
    app.router.add_get("/unlock", unlock_page)
    app.router.add_post("/unlock", unlock)
    app.router.add_post("/lock", lock)
    app.router.add_post("/language", language)
    app.router.add_get("/", inbox)
    app.router.add_get("/events", events)
    app.router.add_get("/message/{message_id:[0-9a-f]{32}}", message)
    app.router.add_post("/message/{message_id:[0-9a-f]{32}}/ack", acknowledge)
    app.router.add_post("/message/{message_id:[0-9a-f]{32}}/forward", forward)
    app.router.add_get("/compose", compose)
    app.router.add_get("/compose/notice/{notice_type}", notice_form)


__all__ = ["add_routes", "context", "notice_page", "notice_submit", "save_draft", "submit_notice"]
notice_page = _notice_page
