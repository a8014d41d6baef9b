"""Files on the desk: a plain message composed with files, and a received message's
attachments listed, downloaded and (images) shown inline.

Compose streams the multipart form: the CSRF token must be its FIRST part and is checked
before any file part is read (the desk guard does not read these forms). Each file is
written, as it arrives, into a private temporary folder (0700, files 0600) and the folder is
deleted right after sending: the plaintext of an attached file is on the officer's own disk
for the time of the upload. Attachments of received messages are downloaded, decrypted and
verified by the desk into such a folder and unlinked before their first byte is served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from crypto.attachments import MAX_ATTACHMENT_SIZE, sanitise_file_name
from crypto.errors import CryptoError
from liaison.client.errors import ClientError, TransportError
from liaison.desk import views
from liaison.desk.language import request_language, translate
from liaison.desk.security import CSRF_FIELD, SECURITY_HEADERS, same_token
from liaison.desk.state import DESK, SESSION_KEY
from liaison.desk.views import INLINE_TYPES
from liaison.domain.notices import CATALOGUE
from liaison.i18n import N_

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


def private_folder() -> Path:
    """A new temporary folder only this user can enter (mkdtemp makes it 0700)."""
    return Path(tempfile.mkdtemp(prefix="liaison-desk-"))


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


async def _save_part(part: BodyPartReader, folder: Path, number: int) -> Path | None:
    """Write one file part to `folder/number/name` (0600, never through an existing file);
    None for a file control left empty (no name, no bytes)."""
    # Browsers send the name in UTF-8 with `"` and line breaks percent-encoded (HTML's
    # multipart rules), aiohttp's client percent-encodes it all: decode both alike.
    name = sanitise_file_name(unquote(part.filename or ""))
    own = folder / str(number)
    own.mkdir(mode=0o700)
    target = own / name
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        while chunk := await part.read_chunk(READ_CHUNK):
            size += len(chunk)
            if size > MAX_ATTACHMENT_SIZE:
                raise FormRefused(
                    N_("A file is larger than 2 GiB, the most one attachment can be.")
                )
            handle.write(chunk)
    if size == 0 and not part.filename:
        return None  # the file control left empty
    return target


async def read_streamed_form(
    request: web.Request, folder: Path
) -> tuple[MultiDict[str], list[Path]]:
    """The text fields and the saved files of a multipart form, the CSRF token checked from
    its first part before anything else is read."""
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
    files: list[Path] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise FormRefused(N_("The form could not be read."))
        if part.filename is not None:
            saved = await _save_part(part, folder, len(files) + len(fields) + 1)
            if saved is not None:
                files.append(saved)
        elif part.name and len(fields) < MAX_FIELDS:
            fields.add(part.name, await _field_text(part))
        else:
            raise FormRefused(N_("The form could not be read."))
    return fields, files


async def compose_message(request: web.Request) -> web.StreamResponse:
    """POST /compose/message — a plain message; with files when the form is multipart."""
    if request.content_type != "multipart/form-data":
        return await views.compose_message(request)
    desk = request.app[DESK]
    folder = private_folder()
    try:
        try:
            fields, files = await read_streamed_form(request, folder)
        except FormRefused as exc:
            if exc.status == 403:
                raise web.HTTPForbidden(
                    text=translate(request_language(request), exc.message)
                ) from None
            return views.compose_again(request, exc.message, "", "")
        to, text = fields.get("to", "").strip(), fields.get("text", "")
        if fields.get("action") == "draft":
            return views.save_draft(request, "message", MultiDict(to=to, text=text))
        addresses = [a.strip() for a in to.split(",") if a.strip()]
        if not files:
            if not text.strip():
                return views.compose_again(request, N_("Write the message first."), to, text)
            try:
                sent, _item, _report = await desk.officer.send_or_queue(addresses, text=text)
            except ClientError as exc:
                return views.compose_again(request, str(exc), to, text)
            if sent is None:
                return views.render(request, "queued.html")
            return views.render(request, "sent.html", sent=sent)
        try:
            sent = await desk.officer.send_with_files(addresses, text, files)
        except TransportError:
            return views.compose_again(
                request,
                views.FILES_NEED_RELAY,
                to,
                text,
            )
        except ClientError as exc:
            return views.compose_again(request, str(exc), to, text)
        return views.render(request, "sent.html", sent=sent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def notice_submit(request: web.Request) -> web.StreamResponse:
    """POST /compose/notice/{type} — the notice form, with the files its indexes name."""
    if request.content_type != "multipart/form-data":
        return await views.notice_submit(request)
    notice_type = request.match_info["notice_type"]
    if notice_type not in CATALOGUE:
        raise web.HTTPNotFound()
    folder = private_folder()
    try:
        try:
            values, files = await read_streamed_form(request, folder)
        except FormRefused as exc:
            raise _refused(request, exc.message, exc.status) from None
        return await views.submit_notice(request, notice_type, values, files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _refused(request: web.Request, message: str, status: int) -> web.HTTPException:
    text = translate(request_language(request), message)
    if status == 403:
        return web.HTTPForbidden(text=text)
    return web.HTTPBadRequest(text=text)


async def _serve_attachment(request: web.Request, *, inline: bool) -> web.StreamResponse:
    desk = request.app[DESK]
    message_id = request.match_info["message_id"]
    index = int(request.match_info["index"])
    folder = private_folder()
    try:
        try:
            ref, path = await desk.officer.attachment_to(message_id, index, folder)
        except (ClientError, CryptoError) as exc:
            code = getattr(exc, "code", "")
            if code in ("no_such_attachment", "unknown_message") or isinstance(exc, LookupError):
                raise web.HTTPNotFound() from None
            return views.render(request, "refused.html", status=502, reason=str(exc))
        handle = path.open("rb")
        path.unlink()  # verified: read from the open file only, gone from the folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    name, media_type = ref.name, ref.media_type
    with handle:
        if inline:
            if media_type not in INLINE_TYPES:
                raise web.HTTPNotFound()
            content_type, disposition = media_type, "inline"
        else:
            content_type, disposition = "application/octet-stream", "attachment"
        size = os.fstat(handle.fileno()).st_size
        response = web.StreamResponse(
            headers={
                # Streamed: the security middleware's headers would come after these went out.
                **SECURITY_HEADERS,
                "Cache-Control": "no-store",
                "Content-Type": content_type,
                "Content-Length": str(size),
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
            }
        )
        await response.prepare(request)
        while chunk := handle.read(READ_CHUNK):
            await response.write(chunk)
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
