"""Files on the desk: a plain message composed with files, and a received message's
attachments listed, downloaded and (images) shown inline. No plaintext of a file is ever
written to disk (issue 13, §1).

Compose streams the multipart form: the CSRF token must be its FIRST part and is checked
before any file part is read (the desk guard does not read these forms). Each file part is
encrypted as it arrives, straight into a blob in the home's spool (liaison/client/spool.py):
only ciphertext is written, the file key stays in memory; the message then goes through the
outbox, which takes the blobs along (uploaded before the envelope, kept while the relay cannot
be reached). Whatever a refused form had spooled is deleted.

A received attachment is downloaded, decrypted and verified as it streams into the HTTP
response (`decrypt_stream`): every piece served authenticated under the file key, and the last
piece is held back until the whole blob checked out. The response declares the file's
Content-Length; when verification fails the connection is aborted, so the browser has received
fewer bytes than announced (never the end of the file) and marks the download as failed
instead of keeping a complete-looking file. An inline image is decrypted and verified in memory
first (at most `MAX_INLINE_BYTES`), then served whole.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from crypto.errors import CryptoError
from liaison.client.errors import ClientError
from liaison.client.spool import SpooledBlob, SpoolTooLarge, discard
from liaison.desk import views
from liaison.desk.language import request_language, translate
from liaison.desk.security import CSRF_FIELD, SECURITY_HEADERS, same_token
from liaison.desk.state import DESK, SESSION_KEY
from liaison.desk.views import shown_inline
from liaison.domain.notices import CATALOGUE
from liaison.i18n import N_

log = logging.getLogger(__name__)
MAX_FIELDS = 4000  # text parts of one form (a notice with many person blocks stays far below)


def is_streamed(path: str) -> bool:
    """Forms whose multipart body the handler streams itself (CSRF from the first part)."""
    return path == "/compose/message" or path.startswith("/compose/notice/")


MAX_FIELD_BYTES = 1024 * 1024  # a text field of the compose form
READ_CHUNK = 256 * 1024


class FormRefused(Exception):
    """The multipart form is not the desk's own or is malformed; `message` says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def _field_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise FormRefused(N_("A field of the form is too long."))
    return data.decode("utf-8", errors="replace")


async def _token_text(part: BodyPartReader) -> str:
    """The CSRF part's value, read no further than a token can be long."""
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > 1024:
            return ""
    return data.decode("utf-8", errors="replace")


async def _part_bytes(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(READ_CHUNK):
        yield chunk


async def _spool_part(request: web.Request, part: BodyPartReader) -> SpooledBlob | None:
    """One file part encrypted into the spool as it arrives; None for a file control left
    empty (no name, no bytes)."""
    # Browsers send the name in UTF-8 with `"` and line breaks percent-encoded (HTML's
    # multipart rules), aiohttp's client percent-encodes it all: decode both alike.
    name = unquote(part.filename or "")
    try:
        blob = await request.app[DESK].officer.spool(_part_bytes(part), name=name)
    except SpoolTooLarge:
        raise FormRefused(
            N_("A file is larger than 2 GiB, the most one attachment can be.")
        ) from None
    if blob.reference.size == 0 and not part.filename:
        discard([blob])
        return None
    return blob


async def read_streamed_form(request: web.Request, blobs: list[SpooledBlob]) -> MultiDict[str]:
    """The text fields of a multipart form, its files spooled (appended to `blobs`, which the
    caller deletes once handed on or refused), the CSRF token checked from its first part
    before anything else is read."""
    session = request[SESSION_KEY]
    reader = await request.multipart()
    first = await reader.next()
    if (
        not isinstance(first, BodyPartReader)
        or first.name != CSRF_FIELD
        or not same_token(await _token_text(first), session.csrf_token)
    ):
        raise FormRefused(N_("This form is stale or not from the desk: reload the page."), 403)
    fields: MultiDict[str] = MultiDict()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise FormRefused(N_("The form could not be read."))
        if part.filename is not None:
            spooled = await _spool_part(request, part)
            if spooled is not None:
                blobs.append(spooled)
        elif part.name and len(fields) < MAX_FIELDS:
            fields.add(part.name, await _field_text(part))
        else:
            raise FormRefused(N_("The form could not be read."))
    return fields


async def compose_message(request: web.Request) -> web.StreamResponse:
    """POST /compose/message — a plain message; with files when the form is multipart."""
    if request.content_type != "multipart/form-data":
        return await views.compose_message(request)
    blobs: list[SpooledBlob] = []
    try:
        try:
            fields = await read_streamed_form(request, blobs)
        except FormRefused as exc:
            if exc.status == 403:
                raise web.HTTPForbidden(
                    text=translate(request_language(request), exc.message)
                ) from None
            return views.compose_again(request, exc.message, "", "")
        return await views.submit_message(request, fields, blobs)
    finally:
        discard(blobs)  # what the outbox or a draft took has moved; the rest is deleted


async def notice_submit(request: web.Request) -> web.StreamResponse:
    """POST /compose/notice/{type} — the notice form, with the files its indexes name."""
    if request.content_type != "multipart/form-data":
        return await views.notice_submit(request)
    notice_type = request.match_info["notice_type"]
    if notice_type not in CATALOGUE:
        raise web.HTTPNotFound()
    blobs: list[SpooledBlob] = []
    try:
        try:
            values = await read_streamed_form(request, blobs)
        except FormRefused as exc:
            raise _refused(request, exc.message, exc.status) from None
        return await views.submit_notice(request, notice_type, values, blobs)
    finally:
        discard(blobs)


def _refused(request: web.Request, message: str, status: int) -> web.HTTPException:
    text = translate(request_language(request), message)
    if status == 403:
        return web.HTTPForbidden(text=text)
    return web.HTTPBadRequest(text=text)


def _headers(name: str, content_type: str, disposition: str) -> dict[str, str]:
    return {
        # Streamed: the security middleware's headers would come after these went out.
        **SECURITY_HEADERS,
        "Cache-Control": "no-store",
        "Content-Type": content_type,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
    }


async def _serve_attachment(request: web.Request, *, inline: bool) -> web.StreamResponse:
    desk = request.app[DESK]
    message_id = request.match_info["message_id"]
    index = int(request.match_info["index"])
    try:
        ref, plaintext = await desk.officer.attachment(message_id, index)
    except (ClientError, CryptoError) as exc:
        code = getattr(exc, "code", "")
        if code in ("no_such_attachment", "unknown_message") or isinstance(exc, LookupError):
            raise web.HTTPNotFound() from None
        return views.render(request, "refused.html", status=502, reason=str(exc))
    try:
        if inline:
            if not shown_inline(ref):
                raise web.HTTPNotFound()
            # Verified whole, in memory (bounded), before its first byte is served.
            body = b"".join([piece async for piece in plaintext])
            return web.Response(body=body, headers=_headers(ref.name, ref.media_type, "inline"))
        # The first piece before the answer starts: a refusal by the relay (or a small file
        # that does not verify) still gets an error page.
        first = await anext(plaintext, b"")
    except (ClientError, CryptoError) as exc:
        return views.render(request, "refused.html", status=502, reason=str(exc))
    finally:
        if inline:
            await plaintext.aclose()
    response = web.StreamResponse(
        headers={
            **_headers(ref.name, "application/octet-stream", "attachment"),
            "Content-Length": str(ref.size),
        }
    )
    await response.prepare(request)
    try:
        await response.write(first)
        async for piece in plaintext:
            await response.write(piece)
    except (ClientError, CryptoError) as exc:
        # Fewer bytes than announced and the connection cut: the browser reports a failed
        # download, never a complete file (the held-back end of the file was not sent).
        log.warning("attachment download refused mid-stream: %s", type(exc).__name__)
        if request.transport is not None:
            request.transport.abort()
        return response
    finally:
        await plaintext.aclose()
    await response.write_eof()
    return response


async def download(request: web.Request) -> web.StreamResponse:
    """GET /message/{id}/attachment/{n} — the decrypted, verified file, as a download."""
    return await _serve_attachment(request, inline=False)


async def inline(request: web.Request) -> web.StreamResponse:
    """GET /message/{id}/attachment/{n}/inline — an image attachment, shown on the read page."""
    return await _serve_attachment(request, inline=True)


def add_routes(app: web.Application) -> None:
    message = "/message/{message_id:[0-9a-f]{32}}/attachment/{index:[0-9]{1,4}}"
    app.router.add_post("/compose/message", compose_message)
    app.router.add_post("/compose/notice/{notice_type}", notice_submit)
    app.router.add_get(message, download)
    app.router.add_get(message + "/inline", inline)


__all__ = ["add_routes", "is_streamed"]
