"""Bad input gets the documented 4xx JSON error and changes nothing."""

from __future__ import annotations

import pytest

from crypto.encoding import b64e
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register
from tests.server.relay_api import row_counts

MALFORMED = [
    ("not json", "malformed_json"),
    ('{"envelope": ', "malformed_json"),
    ("[1, 2]", "invalid_request"),
    ("[" * 100_000 + "]" * 100_000, "malformed_json"),
    (b'{"envelope": "\xff"}', "malformed_json"),
    ('{"envelope": 12}', "invalid_request"),
    ('{"envelope": "AAAA", "extra": 1}', "invalid_request"),
    ("{}", "invalid_request"),
    ('{"envelope": "not*base64"}', "invalid_request"),
    ('{"envelope": "AB=="}', "malformed_base64"),
    ('{"envelope": "AAAA"}', "malformed_envelope"),
]


@pytest.fixture
def database():
    """SQLite only: these checks run before any write, the same code on both backends (the
    mailbox and directory tests cover refusals on PostgreSQL)."""
    return None, None


@pytest.fixture
async def sender(api):
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    return alice, wei, await api.login(alice)


@pytest.mark.parametrize(("body", "code"), MALFORMED)
async def test_malformed_send_is_refused_and_stores_nothing(api, relay, sender, body, code) -> None:
    before = await row_counts(relay[1])
    answer = await api.post("/v1/messages", data=body, token=sender[2])
    assert (answer.status, answer.body["code"]) == (400, code)
    assert await row_counts(relay[1]) == before


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/certificates", {"certificate": 5}, "invalid_request"),
        ("/v1/certificates", {"certificate": b64e(b"{}")}, "malformed_certificate"),
        ("/v1/revocations", {"revocation": b64e(b"junk")}, "malformed_revocation"),
        ("/v1/auth/challenge", {"device_id": ["x"]}, "invalid_request"),
        ("/v1/auth/token", {"device_id": "VN-QN-CA:alice:phone"}, "invalid_request"),
        (
            "/v1/auth/token",
            {"device_id": "VN-QN-CA:alice:phone", "challenge": b64e(b"short"), "signature": ""},
            "invalid_request",
        ),
        (
            "/v1/agencies/VN-QN-CA/review-keys",
            {"statement": b64e(b"x")},
            "malformed_review_statement",
        ),
    ],
)
async def test_wrong_types_and_garbage_are_refused(api, relay, sender, path, body, code) -> None:
    before = await row_counts(relay[1])
    answer = await api.post(path, json=body)
    assert (answer.status, answer.body["code"]) == (400, code)
    assert await row_counts(relay[1]) == before


@pytest.mark.parametrize(
    "change",
    [
        {"code": "vn-bad"},
        {"country": "CN"},
        {"root_key": b64e(b"short")},
        {"name_vi": 7},
    ],
)
async def test_bad_agency_registration_is_refused(api, relay, change) -> None:
    body = {**vietnam_agency().registration(), **change}
    answer = await api.post("/v1/agencies", json=body, token=api.admin_token)
    assert answer.status == 400
    assert (await row_counts(relay[1]))["agencies"] == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/log/consistency", {"from": "x"}),
        ("/v1/log/consistency", {}),
        ("/v1/log/consistency", {"from": 5, "to": 99}),
        ("/v1/log/consistency", {"from": 0, "to": 0}),
        ("/v1/log/consistency", {"from": 0}),
        ("/v1/log/proof", {"index": 0}),
        ("/v1/log/entries", {"start": 0, "end": 5000}),
        ("/v1/log/entries", {"start": -1, "end": 2}),
    ],
)
async def test_bad_log_queries_are_refused(api, path, params) -> None:
    if path == "/v1/log/entries":  # enrolled devices only: the checks past authentication
        vn, cn = vietnam_agency(), china_agency()
        await register(api, vn, cn)
        reader = vn.device("reader")
        await enrol(api, reader)
        await api.login(reader)
    answer = await api.get(path, params=params)
    assert answer.status == 400
    assert answer.body["code"] in ("invalid_request", "bad_range")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"after": "x"}, {"all": "yes"}])
async def test_bad_fetch_parameters_are_refused(api, sender, params) -> None:
    answer = await api.get("/v1/messages", token=sender[2], params=params)
    assert (answer.status, answer.body["code"]) == (400, "invalid_request")


async def test_unknown_routes_and_methods_answer_json(api) -> None:
    answer = await api.client.get("/v1/nowhere")
    assert answer.status == 404
    assert (await answer.json())["code"] == "not_found"
    answer = await api.client.delete("/v1/agencies")
    assert answer.status == 405
    assert (await answer.json())["code"] == "method_not_allowed"


async def test_error_messages_are_english_whatever_the_process_language(api, sender) -> None:
    from liaison import i18n

    before = i18n.current_language()
    i18n.set_language("vi")
    try:
        answer = await api.post("/v1/messages", data="not json", token=sender[2])
        unknown = await api.get("/v1/agencies/VN-XX-CA")
    finally:
        i18n.set_language(before)
    assert answer.body == {
        "code": "malformed_json",
        "message": "The request body is not valid JSON.",
    }
    assert unknown.body["message"] == "No agency is registered under this code."


def test_every_error_code_the_relay_raises_is_documented() -> None:
    import re
    from pathlib import Path

    import liaison.server

    server = Path(liaison.server.__file__).parent
    source = "\n".join(p.read_text() for p in sorted(server.glob("*.py")))
    raised = set(
        re.findall(
            r"(?:BadRequest|Unauthorized|Forbidden|NotFound|Conflict|"
            r"PayloadTooLarge|Unprocessable)\(\s*\"([a-z_]+)\"",
            source,
        )
    )
    raised |= set(re.findall(r"\d{3}: \"([a-z_]+)\"", source))  # the HTTP layer's codes
    assert len(raised) > 40
    docs = (server.parents[1] / "docs" / "api.md").read_text()
    table = docs[docs.index("| code | status | when |") :]
    assert not {code for code in raised if f"`{code}`" not in table}
