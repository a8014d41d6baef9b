"""HTTP handlers: authenticate, parse, call one service function, answer; route in docstring."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from liaison import __version__
from liaison.server import (
    attachments,
    auth,
    directory,
    log_queries,
    mailbox,
    retention,
    review,
    witness,
)
from liaison.server import models as m
from liaison.server.errors import BadRequest
from liaison.server.federation import forwarding
from liaison.server.keys import PUSH_KEY, RELAY_KEY
from liaison.server.models import RequestT, decode_request
from liaison.server.openapi import DOCUMENT


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _limit(request: web.Request, kind: str, device_id: str | None) -> None:
    """One request of `kind` against the device's and the address's rate limits (429)."""
    request.app[RELAY_KEY].limiter.check(kind, device=device_id, address=request.remote)


async def _body(request: web.Request, model: type[RequestT]) -> RequestT:
    """The request's JSON body decoded into `model` (400 when it is not one)."""
    return decode_request(model, await request.read())


def _int_param(
    request: web.Request,
    name: str,
    *,
    default: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest("invalid_request", f"Query parameter {name} must be an integer.")
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        raise BadRequest("invalid_request", f"Query parameter {name} is out of range.")
    return value


def _required_int(request: web.Request, name: str, *, minimum: int = 0) -> int:
    value = _int_param(request, name, minimum=minimum)
    if value is None:
        raise BadRequest("invalid_request", f"Query parameter {name} is required.")
    return value


_encode = msgspec.json.Encoder().encode


def _json(data: Any, status: int = 200) -> web.Response:
    # msgspec writes the same JSON as json.dumps (UTF-8 instead of \u escapes) several times
    # faster; the send receipt is on the relay's hottest path.
    return web.Response(
        body=_encode(data), status=status, content_type="application/json", charset="utf-8"
    )


async def health(request: web.Request) -> web.Response:
    """GET /v1/health"""
    degraded = forwarding.degraded_peers(request.app[RELAY_KEY])
    if degraded:
        return _json({"status": "degraded", "version": __version__, "degraded_peers": degraded})
    return _json({"status": "ok", "version": __version__})


async def server_info(request: web.Request) -> web.Response:
    """GET /v1/server"""
    return _json({**log_queries.server_info(request.app[RELAY_KEY]), "version": __version__})


async def openapi(request: web.Request) -> web.Response:
    """GET /v1/openapi.json"""
    return _json(DOCUMENT)


async def register_agency(request: web.Request) -> web.Response:
    """POST /v1/agencies  [admin]"""
    relay = request.app[RELAY_KEY]
    auth.authenticate_admin(relay, _bearer(request))
    body = await _body(request, m.AgencyRegistration)
    return _json(await directory.register_agency(relay, body), status=201)


async def list_agencies(request: web.Request) -> web.Response:
    """GET /v1/agencies"""
    return _json(await directory.agencies(request.app[RELAY_KEY]))


async def get_agency(request: web.Request) -> web.Response:
    """GET /v1/agencies/{code}"""
    return _json(await directory.agency(request.app[RELAY_KEY], request.match_info["code"]))


async def add_review_key(request: web.Request) -> web.Response:
    """POST /v1/agencies/{code}/review-keys"""
    body = await _body(request, m.ReviewKeyUpload)
    answer, created = await directory.add_review_key(
        request.app[RELAY_KEY], request.match_info["code"], body
    )
    return _json(answer, status=201 if created else 200)


async def agency_devices(request: web.Request) -> web.Response:
    """GET /v1/agencies/{code}/devices  [device]"""
    relay = request.app[RELAY_KEY]
    await auth.authenticate(relay, _bearer(request))  # officers' names: enrolled devices only
    return _json(await directory.agency_devices(relay, request.match_info["code"]))


async def upload_certificate(request: web.Request) -> web.Response:
    """POST /v1/certificates"""
    body = await _body(request, m.CertificateUpload)
    answer, created = await directory.upload_certificate(request.app[RELAY_KEY], body)
    return _json(answer, status=201 if created else 200)


async def upload_revocation(request: web.Request) -> web.Response:
    """POST /v1/revocations"""
    body = await _body(request, m.RevocationUpload)
    answer, created = await directory.upload_revocation(request.app[RELAY_KEY], body)
    return _json(answer, status=201 if created else 200)


async def get_device(request: web.Request) -> web.Response:
    """GET /v1/devices/{device_id}"""
    return _json(await directory.device(request.app[RELAY_KEY], request.match_info["device_id"]))


async def auth_challenge(request: web.Request) -> web.Response:
    """POST /v1/auth/challenge"""
    body = await _body(request, m.ChallengeRequest)
    _limit(request, "challenge", body.device_id)
    return _json(await auth.challenge(request.app[RELAY_KEY], body))


async def auth_token(request: web.Request) -> web.Response:
    """POST /v1/auth/token"""
    body = await _body(request, m.TokenRequest)
    return _json(await auth.token(request.app[RELAY_KEY], body))


async def send_message(request: web.Request) -> web.Response:
    """POST /v1/messages  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request), revocation_checked_later=True)
    _limit(request, "send", device_id)
    body = await _body(request, m.SendRequest)
    answer, created = await mailbox.send(relay, device_id, body)
    return _json(answer, status=201 if created else 200)


async def fetch_messages(request: web.Request) -> web.Response:
    """GET /v1/messages?after=&limit=&all=  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    _limit(request, "fetch", device_id)
    after = _int_param(request, "after", default=0)
    limit = _int_param(request, "limit", default=50, minimum=1, maximum=100)
    include_all = request.query.get("all", "0")
    if include_all not in ("0", "1", "true", "false"):
        raise BadRequest("invalid_request", "Query parameter all must be 0 or 1.")
    answer = await mailbox.fetch(
        relay,
        device_id,
        after=after or 0,
        limit=limit or 50,
        include_acknowledged=include_all in ("1", "true"),
    )
    return _json(answer)


async def ack_message(request: web.Request) -> web.Response:
    """POST /v1/messages/{message_id}/ack  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    return _json(await mailbox.acknowledge(relay, device_id, request.match_info["message_id"]))


async def log_checkpoint(request: web.Request) -> web.Response:
    """GET /v1/log/checkpoint"""
    return _json(await witness.checkpoint(request.app[RELAY_KEY]))


async def log_consistency(request: web.Request) -> web.Response:
    """GET /v1/log/consistency?from=&to="""
    old = _required_int(request, "from")
    new = _int_param(request, "to")
    return _json(await log_queries.consistency(request.app[RELAY_KEY], old, new))


async def log_proof(request: web.Request) -> web.Response:
    """GET /v1/log/proof?index=&size="""
    index = _required_int(request, "index")
    size = _int_param(request, "size", minimum=1)
    return _json(await log_queries.inclusion(request.app[RELAY_KEY], index, size))


async def log_entries(request: web.Request) -> web.Response:
    """GET /v1/log/entries?start=&end=  [device]"""
    # Who writes to whom and when: enrolled devices only (issue 14, section 2).
    await auth.authenticate(request.app[RELAY_KEY], _bearer(request))
    start = _required_int(request, "start")
    end = _required_int(request, "end")
    return _json(await log_queries.entries(request.app[RELAY_KEY], start, end))


async def push_socket(request: web.Request) -> web.StreamResponse:
    """GET /v1/ws?token=  (WebSocket; the server pushes {"type":"message","message_id","cursor"})"""
    relay = request.app[RELAY_KEY]
    device_id, expires_at = await auth.authenticate_session(
        relay, request.query.get("token") or _bearer(request)
    )
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = request.app[PUSH_KEY]
    hub.connect(device_id, ws, expires_at=expires_at)  # closed when its token expires
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break  # the client only listens; anything it sends is ignored
    finally:
        hub.disconnect(device_id, ws)
    return ws


async def upload_review_key_wrap(request: web.Request) -> web.Response:
    """POST /v1/review-keys/wraps"""
    body = await _body(request, m.ReviewKeyWrapUpload)
    answer, created = await review.upload_wrap(request.app[RELAY_KEY], body)
    return _json(answer, status=201 if created else 200)


async def review_key_wraps(request: web.Request) -> web.Response:
    """GET /v1/review-keys/wraps  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    return _json(await review.device_wraps(relay, device_id))


async def review_messages(request: web.Request) -> web.Response:
    """GET /v1/review/messages?officer=&from=&to=&limit=  [supervisor device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    answer = await review.traffic(
        relay,
        device_id,
        officer=request.query.get("officer") or None,
        start=_int_param(request, "from"),
        end=_int_param(request, "to"),
        limit=_int_param(request, "limit", default=500, minimum=1, maximum=1000) or 500,
    )
    return _json(answer)


async def review_message(request: web.Request) -> web.Response:
    """POST /v1/review/messages/{message_id}  [supervisor device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    _limit(request, "review", device_id)
    body = await _body(request, m.ReviewRequest)
    return _json(await review.review(relay, device_id, request.match_info["message_id"], body))


async def audit_records(request: web.Request) -> web.Response:
    """GET /v1/audit/records?after=&limit=  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    after = _int_param(request, "after", default=0) or 0
    limit = _int_param(request, "limit", default=500, minimum=1, maximum=1000) or 500
    return _json(await review.audit_records(relay, device_id, after=after, limit=limit))


async def set_retention(request: web.Request) -> web.Response:
    """PUT /v1/agencies/{code}/retention  [admin]"""
    relay = request.app[RELAY_KEY]
    auth.authenticate_admin(relay, _bearer(request))
    body = await _body(request, m.RetentionSetting)
    return _json(await retention.set_retention(relay, request.match_info["code"], body))


async def place_hold(request: web.Request) -> web.Response:
    """POST /v1/holds  [supervisor device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    body = await _body(request, m.HoldRequest)
    return _json(await retention.place_hold(relay, device_id, body), status=201)


async def release_hold(request: web.Request) -> web.Response:
    """POST /v1/holds/release  [supervisor device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    body = await _body(request, m.HoldRelease)
    return _json(await retention.release_hold(relay, device_id, body))


async def list_holds(request: web.Request) -> web.Response:
    """GET /v1/holds  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    return _json(await retention.holds(relay, device_id))


async def add_case_tags(request: web.Request) -> web.Response:
    """POST /v1/messages/{message_id}/case-tags  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    body = await _body(request, m.CaseTags)
    message_id = request.match_info["message_id"]
    return _json(await retention.add_case_tags(relay, device_id, message_id, body))


async def submit_cosignature(request: web.Request) -> web.Response:
    """POST /v1/log/cosignatures"""
    body = await _body(request, m.CosignatureUpload)
    return _json(await witness.submit(request.app[RELAY_KEY], body), status=201)


# --- attachments (crypto/PROTOCOL.md section 14.6) ------------------------------------------

BLOB_READ_CHUNK = 256 * 1024  # bytes per read of a request body streamed to disk


async def create_upload(request: web.Request) -> web.Response:
    """POST /v1/uploads  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    body = await _body(request, m.UploadRequest)
    return _json(await attachments.create_upload(relay, device_id, body), status=201)


async def get_upload(request: web.Request) -> web.Response:
    """GET /v1/uploads/{upload_id}  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    return _json(await attachments.upload_state(relay, device_id, request.match_info["upload_id"]))


async def append_upload(request: web.Request) -> web.Response:
    """PUT /v1/uploads/{upload_id}?offset=  [device]: the body is streamed, never held whole."""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    offset = _required_int(request, "offset")

    async def body() -> Any:
        while chunk := await request.content.read(BLOB_READ_CHUNK):
            yield chunk

    upload_id = request.match_info["upload_id"]
    try:
        return _json(await attachments.append(relay, device_id, upload_id, offset, body()))
    except ConnectionResetError:
        # The client went away mid-body; what arrived is kept and it resumes from the offset.
        raise web.HTTPBadRequest(reason="The upload's connection was lost.") from None


async def complete_upload(request: web.Request) -> web.Response:
    """POST /v1/uploads/{upload_id}/complete  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    body = await _body(request, m.UploadCompletion)
    upload_id = request.match_info["upload_id"]
    return _json(await attachments.complete(relay, device_id, upload_id, body), status=201)


async def abort_upload(request: web.Request) -> web.Response:
    """DELETE /v1/uploads/{upload_id}  [device]"""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    await attachments.abort(relay, device_id, request.match_info["upload_id"])
    return web.Response(status=204)


async def fetch_blob(request: web.Request) -> web.StreamResponse:
    """GET /v1/blobs/{blob_id}?start=  [device]: a streamed answer, one read at a time."""
    relay = request.app[RELAY_KEY]
    device_id = await auth.authenticate(relay, _bearer(request))
    start = _int_param(request, "start", default=0) or 0
    size, chunks = await attachments.fetch(relay, device_id, request.match_info["blob_id"], start)
    answer = web.StreamResponse(status=200, headers={"Content-Type": "application/octet-stream"})
    answer.content_length = size - start
    try:
        await answer.prepare(request)
        async for chunk in chunks:
            await answer.write(chunk)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    await answer.write_eof()
    return answer


ROUTES = [
    ("GET", "/v1/health", health),
    ("GET", "/v1/server", server_info),
    ("GET", "/v1/openapi.json", openapi),
    ("POST", "/v1/agencies", register_agency),
    ("GET", "/v1/agencies", list_agencies),
    ("GET", "/v1/agencies/{code}", get_agency),
    ("POST", "/v1/agencies/{code}/review-keys", add_review_key),
    ("GET", "/v1/agencies/{code}/devices", agency_devices),
    ("POST", "/v1/certificates", upload_certificate),
    ("POST", "/v1/revocations", upload_revocation),
    ("GET", "/v1/devices/{device_id}", get_device),
    ("POST", "/v1/auth/challenge", auth_challenge),
    ("POST", "/v1/auth/token", auth_token),
    ("POST", "/v1/messages", send_message),
    ("GET", "/v1/messages", fetch_messages),
    ("POST", "/v1/messages/{message_id}/ack", ack_message),
    ("GET", "/v1/log/checkpoint", log_checkpoint),
    ("GET", "/v1/log/consistency", log_consistency),
    ("GET", "/v1/log/proof", log_proof),
    ("GET", "/v1/log/entries", log_entries),
    ("GET", "/v1/ws", push_socket),
    ("POST", "/v1/review-keys/wraps", upload_review_key_wrap),
    ("GET", "/v1/review-keys/wraps", review_key_wraps),
    ("GET", "/v1/review/messages", review_messages),
    ("POST", "/v1/review/messages/{message_id}", review_message),
    ("GET", "/v1/audit/records", audit_records),
    ("PUT", "/v1/agencies/{code}/retention", set_retention),
    ("POST", "/v1/holds", place_hold),
    ("POST", "/v1/holds/release", release_hold),
    ("GET", "/v1/holds", list_holds),
    ("POST", "/v1/log/cosignatures", submit_cosignature),
    ("POST", "/v1/messages/{message_id}/case-tags", add_case_tags),
    ("POST", "/v1/uploads", create_upload),
    ("GET", "/v1/uploads/{upload_id}", get_upload),
    ("PUT", "/v1/uploads/{upload_id}", append_upload),
    ("POST", "/v1/uploads/{upload_id}/complete", complete_upload),
    ("DELETE", "/v1/uploads/{upload_id}", abort_upload),
    ("GET", "/v1/blobs/{blob_id}", fetch_blob),
]
