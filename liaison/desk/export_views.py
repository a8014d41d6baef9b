"""A received notice as a PDF from the desk: the signable bilingual A4 document that
`liaison read ID --pdf` writes (liaison/i18n/pdf.py through `export_bytes`), refused for H2
as every export is, and a worded page when WeasyPrint or its fonts are missing."""

from __future__ import annotations

import asyncio

from aiohttp import web

from crypto.errors import CryptoError
from liaison.client import notices as notice_ops
from liaison.client.errors import ClientError
from liaison.desk import views
from liaison.desk.language import request_language, translate
from liaison.desk.security import SECURITY_HEADERS
from liaison.desk.state import DESK
from liaison.domain.fields import NoticeError
from liaison.i18n import N_
from liaison.i18n import translate as translate_message
from liaison.i18n.errors import PDF_UNAVAILABLE
from liaison.i18n.pdf import INSTALL_HINT, PdfUnavailable


async def notice_pdf(request: web.Request) -> web.StreamResponse:
    """GET /message/{id}/pdf — the notice as A4 PDF (a download)."""
    desk = request.app[DESK]
    message_id = request.match_info["message_id"]
    language = request_language(request)
    try:
        record = desk.officer.message_record(message_id)
        opened = await desk.officer.open(message_id, mark_read=False)
    except (ClientError, CryptoError):
        raise web.HTTPNotFound() from None
    if not notice_ops.is_notice(opened.payload):
        return views.render(
            request,
            "refused.html",
            status=400,
            reason=N_("Only a notice can be exported as PDF; print a plain message instead."),
        )
    try:
        notice = notice_ops.open_notice(opened)
        meta = notice_ops.message_meta(opened, record)
        # WeasyPrint takes a while for a page: a worker thread keeps the desk answering.
        document = await asyncio.to_thread(notice_ops.export_bytes, notice, "pdf", "both", meta)
    except NoticeError as exc:  # H2 (HandlingRestricted): not exported, with the reason
        reason = translate_message(exc.message, {"zh": "zh_Hans_CN"}.get(language, language))
        return views.render(request, "refused.html", status=403, reason=reason)
    except PdfUnavailable:
        reason = translate(language, PDF_UNAVAILABLE).format(install=INSTALL_HINT)
        return views.render(request, "refused.html", status=503, reason=reason)
    return web.Response(
        body=document,
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="{message_id}.pdf"',
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/message/{message_id:[0-9a-f]{32}}/pdf", notice_pdf)


__all__ = ["add_routes"]
