"""schemathesis against the relay's own OpenAPI document (issue 14, section 4): schema-valid
requests of every route, with no token, the device's token or the admin token as the route's
security says, give no server error and no answer outside the document. Bounded (derandomized:
the same few cases per route each run) so that it runs in well under a minute."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto.encoding import b64d, b64e
from liaison.server.openapi import DOCUMENT
from tests.e2e.e2e_relay import RelayThread
from tests.server.factory import china_agency, vietnam_agency

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

CASES_PER_ROUTE = 8


async def _tokens(url: str, admin_token: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        for agency in (vietnam_agency(), china_agency()):
            async with session.post(
                f"{url}/v1/agencies",
                json=agency.registration(),
                headers={"Authorization": f"Bearer {admin_token}"},
            ) as answer:
                assert answer.status == 201
            if agency.code.startswith("VN"):
                device = agency.device("alice", role="supervisor")
        async with session.post(f"{url}/v1/certificates", json=device.upload()) as answer:
            assert answer.status == 201
        async with session.get(f"{url}/v1/server") as answer:
            log_key = b64d((await answer.json())["log_public_key"])
        async with session.post(
            f"{url}/v1/auth/challenge", json={"device_id": device.device_id}
        ) as answer:
            challenge = (await answer.json())["challenge"]
        signature = device.sign_challenge(log_key, b64d(challenge))
        body = {"device_id": device.device_id, "challenge": challenge, "signature": b64e(signature)}
        async with session.post(f"{url}/v1/auth/token", json=body) as answer:
            token = (await answer.json())["token"]
    return {"deviceToken": token, "adminToken": admin_token}


@pytest.fixture(scope="module")
def relay_with_tokens(tmp_path_factory) -> Any:
    relay = RelayThread(Path(tmp_path_factory.mktemp("schemathesis")) / "data")
    relay.start()
    try:
        yield relay.url, asyncio.run(_tokens(relay.url, relay.admin_token))
    finally:
        relay.stop()


SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _security(operation: Any) -> str | None:
    for requirement in operation.definition.raw.get("security") or []:
        for name in requirement:
            return str(name)
    return None


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_schema_valid_requests_get_documented_answers(relay_with_tokens, operation) -> None:
    url, tokens = relay_with_tokens
    scheme = _security(operation)
    headers = {"Authorization": f"Bearer {tokens[scheme]}"} if scheme in tokens else {}

    @settings(
        max_examples=CASES_PER_ROUTE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=url,
            headers={**(case.headers or {}), **headers},
            checks=[not_a_server_error, response_schema_conformance],
            timeout=10,
        )

    run()
