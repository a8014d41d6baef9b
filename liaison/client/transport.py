"""HTTP transport to the relay server over one aiohttp ClientSession; maps refusals to errors."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from crypto.encoding import b64e
from liaison.client.errors import ServerError, TransportError
from liaison.i18n import _


class ApiClient:
    """One relay server's `/v1` API; every method returns the decoded JSON answer."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

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
            self._session = aiohttp.ClientSession(timeout=self._timeout)
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
        statuses: tuple[int, ...] = (200, 201),
    ) -> Any:
        """Send one request and decode its JSON answer, raising ServerError on a refusal."""
        headers = {}
        bearer = auth if auth is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        url = self.base_url + path
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self.session.request(
                method, url, json=json, params=query, headers=headers
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(
                _("Cannot reach the server at {url}: {reason}").format(
                    url=self.base_url, reason=exc.__class__.__name__
                )
            ) from exc
        body: Any = None
        if text:
            try:
                body = jsonlib.loads(text)
            except ValueError:
                body = None
        if status not in statuses:
            if isinstance(body, dict) and isinstance(body.get("code"), str):
                raise ServerError(status, body["code"], str(body.get("message", "")), body)
            raise ServerError(
                status,
                f"http_{status}",
                _("The server answered with HTTP status {status}.").format(status=status),
            )
        if body is None:
            raise TransportError(_("The server's answer is not JSON."))
        return body

    # --- Public directory and log -------------------------------------------------------------
    async def health(self) -> Any:
        return await self.request("GET", "/v1/health")

    async def server_info(self) -> Any:
        return await self.request("GET", "/v1/server")

    async def list_agencies(self) -> Any:
        return await self.request("GET", "/v1/agencies")

    async def get_agency(self, code: str) -> Any:
        return await self.request("GET", f"/v1/agencies/{code}")

    async def agency_devices(self, code: str) -> Any:
        return await self.request("GET", f"/v1/agencies/{code}/devices")

    async def get_device(self, device_id: str) -> Any:
        return await self.request("GET", f"/v1/devices/{device_id}")

    async def checkpoint(self) -> Any:
        return await self.request("GET", "/v1/log/checkpoint")

    async def consistency(self, old_size: int, new_size: int) -> Any:
        return await self.request(
            "GET", "/v1/log/consistency", params={"from": old_size, "to": new_size}
        )

    async def inclusion(self, index: int, size: int) -> Any:
        return await self.request("GET", "/v1/log/proof", params={"index": index, "size": size})

    async def entries(self, start: int, end: int) -> Any:
        return await self.request("GET", "/v1/log/entries", params={"start": start, "end": end})

    # --- Uploads verified by the server against agency roots -----------------------------------
    async def register_agency(self, admin_token: str, agency: Mapping[str, Any]) -> Any:
        return await self.request("POST", "/v1/agencies", json=dict(agency), auth=admin_token)

    async def upload_review_statement(self, code: str, statement: bytes) -> Any:
        return await self.request(
            "POST", f"/v1/agencies/{code}/review-keys", json={"statement": b64e(statement)}
        )

    async def upload_certificate(self, certificate: bytes) -> Any:
        return await self.request(
            "POST", "/v1/certificates", json={"certificate": b64e(certificate)}
        )

    async def upload_revocation(self, revocation: bytes) -> Any:
        return await self.request("POST", "/v1/revocations", json={"revocation": b64e(revocation)})

    # --- Device authentication and mailbox ---------------------------------------------------
    async def auth_challenge(self, device_id: str) -> Any:
        return await self.request("POST", "/v1/auth/challenge", json={"device_id": device_id})

    async def auth_token(self, device_id: str, challenge: str, signature: bytes) -> Any:
        return await self.request(
            "POST",
            "/v1/auth/token",
            json={"device_id": device_id, "challenge": challenge, "signature": b64e(signature)},
        )

    async def send_envelope(self, envelope: bytes, case_tags: list[str] | None = None) -> Any:
        body: dict[str, Any] = {"envelope": b64e(envelope)}
        if case_tags:
            body["case_tags"] = case_tags
        return await self.request("POST", "/v1/messages", json=body)

    async def fetch_messages(
        self, *, after: int | None = None, limit: int = 100, include_acknowledged: bool = False
    ) -> Any:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if include_acknowledged:
            params["all"] = 1
        return await self.request("GET", "/v1/messages", params=params)

    async def ack(self, message_id: str) -> Any:
        return await self.request("POST", f"/v1/messages/{message_id}/ack")

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
