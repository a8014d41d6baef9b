"""HTTP transport to the relay over one aiohttp ClientSession: typed answers, typed refusals."""

from __future__ import annotations

import contextlib
import ipaddress
import json as jsonlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from crypto.encoding import b64e
from liaison.client import answers
from liaison.client.answers import AnswerT, decode_answer
from liaison.client.errors import InvalidAnswer, ServerError, TransportError
from liaison.i18n import _

# Plain http:// carries device and admin tokens in clear (issue 14, defect 12): only to this
# machine, unless the officer asked for it (`liaison --insecure-http`, which warns).
_insecure_http = [False]


def allow_insecure_http(allowed: bool = True) -> None:
    _insecure_http[0] = allowed


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plain_http(url: str) -> None:
    """Refuse an http:// relay URL that is not on this machine (unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not _loopback(parts.hostname or "") and not _insecure_http[0]:
        raise TransportError(
            _(
                "Refusing plain http:// to {url}: tokens would travel in clear. Use https://, "
                "or --insecure-http if this network is trusted."
            ).format(url=url)
        )


READ_BUFFER_BYTES = 256 * 1024  # aiohttp read buffer of the client session


class ApiClient:
    """One relay server's `/v1` API: one typed method per route of its OpenAPI document, each
    answer decoded into a `liaison.client.answers` struct (or InvalidAnswer naming the route)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        refuse_plain_http(self.base_url)
        self.token = token
        # Directory and log reads need an enrolled device (issue 14, section 2): how to log in
        # when they are asked for before any token is held (set by transparency.pin_server).
        self.device_login: Callable[[], Awaitable[object]] | None = None
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Blob transfers take as long as their size needs: only a stalled read is a failure.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A larger read buffer than aiohttp's 64 KiB: a blob download arrives in fewer,
            # larger pieces (fewer event-loop turns per mebibyte).
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, read_bufsize=READ_BUFFER_BYTES
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: str | None = None,
        route: str | None = None,
    ) -> Any:
        """Send one request and parse its JSON answer (not yet typed), raising ServerError on a
        refusal; every typed method below goes through here. `route` (the OpenAPI path) names
        the route in InvalidAnswer."""
        data = await self._exchange(method, path, json=json, params=params, auth=auth)
        try:
            return jsonlib.loads(data)
        except ValueError as exc:
            raise InvalidAnswer(f"{method} {route or path}", "not JSON") from exc

    async def _typed(
        self,
        kind: type[AnswerT],
        method: str,
        route: str,
        *,
        path: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: str | None = None,
    ) -> AnswerT:
        """One request to `route` (its OpenAPI path; `path` when it has parameters), its answer
        decoded into `kind` at the edge: anything else is InvalidAnswer naming the route."""
        body = await self.request(
            method, path or route, json=json, params=params, auth=auth, route=route
        )
        return decode_answer(f"{method} {route}", body, kind)

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: str | None = None,
        body: AsyncIterable[bytes] | None = None,
        body_length: int | None = None,
        streaming: bool = False,
    ) -> bytes:
        """The body of a successful answer; a refusal raises ServerError with its JSON code."""
        try:
            async with self._open(
                method, path, json=json, params=params, auth=auth, body=body,
                body_length=body_length, streaming=streaming,
            ) as response:  # fmt: skip
                return await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from exc

    @contextlib.asynccontextmanager
    async def _open(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: str | None = None,
        body: AsyncIterable[bytes] | None = None,
        body_length: int | None = None,
        streaming: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An answer whose status is a success, its body unread; a refusal raises ServerError."""
        headers = {}
        bearer = auth if auth is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
            if body_length is not None:
                headers["Content-Length"] = str(body_length)
        url = self.base_url + path
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        extra: dict[str, Any] = {"timeout": self._stream_timeout} if streaming else {}
        try:
            response = await self.session.request(
                method, url, json=json, params=query, headers=headers, data=body, **extra
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from exc
        async with response:
            if response.status in (200, 201, 204):
                yield response
                return
            try:
                data = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._unreachable(exc) from exc
        answer: Any = None
        try:
            answer = jsonlib.loads(data) if data else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("code"), str):
            raise ServerError(
                response.status, answer["code"], str(answer.get("message", "")), answer
            )
        raise ServerError(
            response.status,
            f"http_{response.status}",
            _("The server answered with HTTP status {status}.").format(status=response.status),
        )

    def _unreachable(self, exc: BaseException) -> TransportError:
        return TransportError(
            _("Cannot reach the server at {url}: {reason}").format(
                url=self.base_url, reason=exc.__class__.__name__
            )
        )

    # --- Public directory and log -------------------------------------------------------------
    async def health(self) -> answers.Health:
        return await self._typed(answers.Health, "GET", "/v1/health")

    async def server_info(self) -> answers.ServerInfo:
        return await self._typed(answers.ServerInfo, "GET", "/v1/server")

    async def openapi(self) -> dict[str, Any]:
        """The relay's OpenAPI document (a JSON object, read as is)."""
        return await self._typed(dict[str, Any], "GET", "/v1/openapi.json")

    async def list_agencies(self) -> answers.AgencyList:
        return await self._typed(answers.AgencyList, "GET", "/v1/agencies")

    async def get_agency(self, code: str) -> answers.Agency:
        return await self._typed(
            answers.Agency, "GET", "/v1/agencies/{code}", path=f"/v1/agencies/{code}"
        )

    async def _device_token(self) -> None:
        if self.token is None and self.device_login is not None:
            await self.device_login()

    async def agency_devices(self, code: str) -> answers.DeviceList:
        await self._device_token()
        return await self._typed(
            answers.DeviceList,
            "GET",
            "/v1/agencies/{code}/devices",
            path=f"/v1/agencies/{code}/devices",
        )

    async def foreign_agency(self, code: str, *, since: int = 0) -> Any:
        """An agency homed on a peer relay, as the peer proved it (PROTOCOL.md §16.5); the
        answer is untrusted and decoded by liaison/client/foreign.py."""
        await self._device_token()
        params = {"since": since} if since else None
        return await self.request(
            "GET",
            f"/v1/foreign/agencies/{code}",
            params=params,
            route="/v1/foreign/agencies/{code}",
        )

    async def get_device(self, device_id: str) -> answers.Device:
        return await self._typed(
            answers.Device,
            "GET",
            "/v1/devices/{device_id}",
            path=f"/v1/devices/{device_id}",
        )

    async def checkpoint(self) -> answers.CheckpointAnswer:
        return await self._typed(answers.CheckpointAnswer, "GET", "/v1/log/checkpoint")

    async def consistency(self, old_size: int, new_size: int) -> answers.ConsistencyProof:
        return await self._typed(
            answers.ConsistencyProof,
            "GET",
            "/v1/log/consistency",
            params={"from": old_size, "to": new_size},
        )

    async def inclusion(self, index: int, size: int) -> answers.InclusionProof:
        return await self._typed(
            answers.InclusionProof, "GET", "/v1/log/proof", params={"index": index, "size": size}
        )

    async def entries(self, start: int, end: int) -> answers.LogEntries:
        await self._device_token()
        return await self._typed(
            answers.LogEntries, "GET", "/v1/log/entries", params={"start": start, "end": end}
        )

    async def submit_cosignature(
        self, checkpoint: str, witness_name: str, witness_key: bytes
    ) -> answers.CosignatureReceipt:
        return await self._typed(
            answers.CosignatureReceipt,
            "POST",
            "/v1/log/cosignatures",
            json={
                "checkpoint": checkpoint,
                "witness_name": witness_name,
                "witness_key": b64e(witness_key),
            },
        )

    # --- Uploads verified by the server against agency roots -----------------------------------
    async def register_agency(
        self, admin_token: str, agency: Mapping[str, Any]
    ) -> answers.AgencyCreated:
        return await self._typed(
            answers.AgencyCreated, "POST", "/v1/agencies", json=dict(agency), auth=admin_token
        )

    async def upload_review_statement(self, code: str, statement: bytes) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex,
            "POST",
            "/v1/agencies/{code}/review-keys",
            path=f"/v1/agencies/{code}/review-keys",
            json={"statement": b64e(statement)},
        )

    async def upload_certificate(self, certificate: bytes) -> answers.CertificateAccepted:
        return await self._typed(
            answers.CertificateAccepted,
            "POST",
            "/v1/certificates",
            json={"certificate": b64e(certificate)},
        )

    async def upload_revocation(self, revocation: bytes) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex, "POST", "/v1/revocations", json={"revocation": b64e(revocation)}
        )

    async def set_retention(
        self, admin_token: str, code: str, days: int
    ) -> answers.RetentionAnswer:
        return await self._typed(
            answers.RetentionAnswer,
            "PUT",
            "/v1/agencies/{code}/retention",
            path=f"/v1/agencies/{code}/retention",
            json={"days": days},
            auth=admin_token,
        )

    # --- Device authentication and mailbox ---------------------------------------------------
    async def auth_challenge(self, device_id: str) -> answers.Challenge:
        return await self._typed(
            answers.Challenge, "POST", "/v1/auth/challenge", json={"device_id": device_id}
        )

    async def auth_token(self, device_id: str, challenge: str, signature: bytes) -> answers.Token:
        return await self._typed(
            answers.Token,
            "POST",
            "/v1/auth/token",
            json={"device_id": device_id, "challenge": challenge, "signature": b64e(signature)},
        )

    async def send_envelope(
        self,
        envelope: bytes,
        case_tags: list[str] | None = None,
        blobs: list[str] | None = None,
    ) -> answers.SendReceipt:
        body: dict[str, Any] = {"envelope": b64e(envelope)}
        if case_tags:
            body["case_tags"] = case_tags
        if blobs:
            body["blobs"] = blobs
        return await self._typed(answers.SendReceipt, "POST", "/v1/messages", json=body)

    # --- Attachment blobs (crypto/PROTOCOL.md section 14.6) ---------------------------------
    async def create_upload(self, size: int) -> answers.UploadState:
        return await self._typed(answers.UploadState, "POST", "/v1/uploads", json={"size": size})

    async def upload_state(self, upload_id: str) -> answers.UploadState:
        return await self._typed(
            answers.UploadState, "GET", "/v1/uploads/{upload_id}", path=f"/v1/uploads/{upload_id}"
        )

    async def append_upload(
        self,
        upload_id: str,
        offset: int,
        chunks: AsyncIterable[bytes],
        *,
        length: int | None = None,
    ) -> answers.UploadOffset:
        """Stream `chunks` (the blob from `offset`) as one request body, never held whole.
        With its `length` known the body goes as is, not chunked (aiohttp would copy every
        block to frame it on this Python)."""
        route = "/v1/uploads/{upload_id}"
        data = await self._exchange(
            "PUT",
            f"/v1/uploads/{upload_id}",
            params={"offset": offset},
            body=chunks,
            body_length=length,
            streaming=True,
        )
        try:
            parsed = jsonlib.loads(data)
        except ValueError as exc:
            raise InvalidAnswer(f"PUT {route}", "not JSON") from exc
        return decode_answer(f"PUT {route}", parsed, answers.UploadOffset)

    async def complete_upload(self, upload_id: str, blob_id: str) -> answers.BlobStored:
        return await self._typed(
            answers.BlobStored,
            "POST",
            "/v1/uploads/{upload_id}/complete",
            path=f"/v1/uploads/{upload_id}/complete",
            json={"blob": blob_id},
        )

    async def abort_upload(self, upload_id: str) -> None:
        await self._exchange("DELETE", f"/v1/uploads/{upload_id}")

    async def fetch_blob(
        self, blob_id: str, *, start: int = 0, read_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        """The blob's bytes from `start` as they arrive (a refusal raises before the first)."""
        path = f"/v1/blobs/{blob_id}"
        async with self._open("GET", path, params={"start": start}, streaming=True) as answer:
            try:
                while chunk := await answer.content.read(read_size):
                    yield chunk
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._unreachable(exc) from exc

    async def fetch_messages(
        self, *, after: int | None = None, limit: int = 100, include_acknowledged: bool = False
    ) -> answers.MessagePage:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if include_acknowledged:
            params["all"] = 1
        return await self._typed(answers.MessagePage, "GET", "/v1/messages", params=params)

    async def ack(self, message_id: str) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex,
            "POST",
            "/v1/messages/{message_id}/ack",
            path=f"/v1/messages/{message_id}/ack",
        )

    async def add_case_tags(self, message_id: str, case_tags: list[str]) -> answers.CaseTagsAnswer:
        return await self._typed(
            answers.CaseTagsAnswer,
            "POST",
            "/v1/messages/{message_id}/case-tags",
            path=f"/v1/messages/{message_id}/case-tags",
            json={"case_tags": case_tags},
        )

    # --- Supervisor review and the audit log ---------------------------------------------------
    async def upload_review_key_wrap(self, wrap: str) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex, "POST", "/v1/review-keys/wraps", json={"wrap": wrap}
        )

    async def review_key_wraps(self) -> answers.ReviewKeyWraps:
        return await self._typed(answers.ReviewKeyWraps, "GET", "/v1/review-keys/wraps")

    async def review_traffic(
        self, *, officer_id: str | None = None, start: int | None = None, end: int | None = None
    ) -> answers.ReviewTraffic:
        return await self._typed(
            answers.ReviewTraffic,
            "GET",
            "/v1/review/messages",
            params={"officer": officer_id, "from": start, "to": end},
        )

    async def review_message(
        self, message_id: str, request: Mapping[str, Any]
    ) -> answers.ReviewRelease:
        return await self._typed(
            answers.ReviewRelease,
            "POST",
            "/v1/review/messages/{message_id}",
            path=f"/v1/review/messages/{message_id}",
            json=dict(request),
        )

    async def audit_records(self, after: int) -> answers.AuditRecords:
        return await self._typed(
            answers.AuditRecords, "GET", "/v1/audit/records", params={"after": after}
        )

    # --- Legal holds ----------------------------------------------------------------------------
    async def place_hold(self, case_tag: str, reason_hash: str) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex,
            "POST",
            "/v1/holds",
            json={"case_tag": case_tag, "reason_hash": reason_hash},
        )

    async def release_hold(self, case_tag: str) -> answers.LogIndex:
        return await self._typed(
            answers.LogIndex, "POST", "/v1/holds/release", json={"case_tag": case_tag}
        )

    async def list_holds(self) -> answers.Holds:
        return await self._typed(answers.Holds, "GET", "/v1/holds")

    # --- Push ---------------------------------------------------------------------------------
    async def websocket(self) -> aiohttp.ClientWebSocketResponse:
        """The push channel; the caller reads `{"type": "message", ...}` frames from it."""
        try:
            return await self.session.ws_connect(
                self.base_url + "/v1/ws", params={"token": self.token or ""}, heartbeat=20.0
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ServerError(exc.status, f"http_{exc.status}", exc.message) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                _("Cannot reach the server at {url}: {reason}").format(
                    url=self.base_url, reason=exc.__class__.__name__
                )
            ) from exc
