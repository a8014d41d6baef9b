"""Directory: agencies, review keys, certificates and revocations, each logged and provable."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

from crypto.certs import issue_review_key_statement
from crypto.encoding import b64e
from crypto.keys import ReviewKeyPair, RootKey
from liaison.server.app import Settings, create_app
from liaison.server.identity import (
    ADMIN_TOKEN_FILE,
    ADMIN_TOKEN_HASH_FILE,
    SIGNING_KEY_FILE,
    token_digest,
)
from tests.server.factory import NOW, china_agency, vietnam_agency
from tests.server.helpers import enrol, register, verify_logged
from tests.server.relay_api import row_counts


async def test_first_start_creates_signing_key_and_admin_token_private_and_announced_once(
    aiohttp_client, tmp_path
) -> None:
    shown: list[str] = []
    settings = Settings(data_dir=tmp_path, announce_admin_token=shown.append)
    await aiohttp_client(create_app(settings))
    for name in (SIGNING_KEY_FILE, ADMIN_TOKEN_HASH_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    # Only the token's hash is kept (issue 14, defect 13).
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
    assert (tmp_path / ADMIN_TOKEN_HASH_FILE).read_text().strip() == token_digest(shown[0]).hex()
    await aiohttp_client(create_app(settings))
    assert len(shown) == 1


async def test_registered_agency_is_listed_and_logged(api) -> None:
    vn = vietnam_agency()
    answer = await api.post("/v1/agencies", json=vn.registration(), token=api.admin_token)
    assert answer.status == 201
    assert answer.body["log_index"] == 0
    listed = (await api.get("/v1/agencies")).body["agencies"]
    assert [a["code"] for a in listed] == ["VN-QN-CA"]
    got = (await api.get("/v1/agencies/VN-QN-CA")).body
    assert got["name_zh"] == "广宁省公安厅"
    assert got["root_key"] == b64e(vn.root.public)
    reader = vn.device("reader")
    await enrol(api, reader)
    await api.login(reader)  # log reads are for enrolled devices (issue 14, section 2)
    entry = (await api.get("/v1/log/entries", params={"start": 0, "end": 1})).body["entries"][0]
    assert entry["entry"]["kind"] == "agency"
    assert entry["entry"]["root_key"] == b64e(vn.root.public)


async def test_agency_registration_needs_the_admin_token(api, relay) -> None:
    before = await row_counts(relay[1])
    answer = await api.post("/v1/agencies", json=vietnam_agency().registration(), token="nope")
    assert (answer.status, answer.body["code"]) == (401, "invalid_admin_token")
    assert await row_counts(relay[1]) == before


async def test_second_registration_of_an_agency_is_refused(api, relay) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    before = await row_counts(relay[1])
    answer = await api.post("/v1/agencies", json=vn.registration(), token=api.admin_token)
    assert (answer.status, answer.body["code"]) == (409, "agency_exists")
    assert await row_counts(relay[1]) == before


async def test_review_statement_signed_by_another_root_is_refused(api, relay) -> None:
    vn = vietnam_agency()
    body = vn.registration()
    body["root_key"] = b64e(RootKey.generate().public)
    answer = await api.post("/v1/agencies", json=body, token=api.admin_token)
    assert (answer.status, answer.body["code"]) == (422, "bad_signature")
    assert (await row_counts(relay[1]))["agencies"] == 0


async def test_unknown_agency_is_404(api) -> None:
    answer = await api.get("/v1/agencies/VN-HN-CA")
    assert (answer.status, answer.body["code"]) == (404, "unknown_agency")


async def test_review_key_rotation_is_verified_and_logged(api, relay) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    new = issue_review_key_statement(
        vn.root, agency=vn.code, public_key=ReviewKeyPair.generate().public, not_before=NOW
    )
    answer = await api.post(
        "/v1/agencies/VN-QN-CA/review-keys", json={"statement": b64e(new.to_bytes())}
    )
    assert (answer.status, answer.body["log_index"]) == (201, 1)
    again = await api.post(
        "/v1/agencies/VN-QN-CA/review-keys", json={"statement": b64e(new.to_bytes())}
    )
    assert (again.status, again.body) == (200, answer.body)
    forged = issue_review_key_statement(
        RootKey.generate(),
        agency=vn.code,
        public_key=ReviewKeyPair.generate().public,
        not_before=NOW,
    )
    before = await row_counts(relay[1])
    refused = await api.post(
        "/v1/agencies/VN-QN-CA/review-keys", json={"statement": b64e(forged.to_bytes())}
    )
    assert (refused.status, refused.body["code"]) == (422, "bad_signature")
    assert await row_counts(relay[1]) == before
    agency = (await api.get("/v1/agencies/VN-QN-CA")).body
    assert len(agency["review_statements"]) == 2


async def test_certificate_lookup_carries_a_verifiable_inclusion_proof(api) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    await api.login(wei)  # directory and log reads are for enrolled devices
    device = (await api.get(f"/v1/devices/{alice.device_id}")).body
    assert device["revoked"] is False
    entry = await verify_logged(
        api,
        device["checkpoint"],
        device["log_index"],
        device["tree_size"],
        device["inclusion_proof"],
    )
    assert entry["kind"] == "certificate"
    assert entry["cert_hash"] == b64e(alice.cert.cert_hash())
    listed = (await api.get("/v1/agencies/CN-GX-DX/devices")).body
    assert [d["device_id"] for d in listed["devices"]] == [wei.device_id]


async def test_identical_certificate_reupload_answers_the_first_index(api, relay) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    alice = vn.device("alice")
    first = await api.post("/v1/certificates", json=alice.upload())
    before = await row_counts(relay[1])
    again = await api.post("/v1/certificates", json=alice.upload())
    assert (again.status, again.body) == (200, first.body)
    assert await row_counts(relay[1]) == before


async def test_certificate_from_an_unregistered_root_is_refused(api, relay) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    impostor = vn.device("mallory", root=RootKey.generate())
    before = await row_counts(relay[1])
    answer = await api.post("/v1/certificates", json=impostor.upload())
    assert (answer.status, answer.body["code"]) == (422, "bad_signature")
    assert await row_counts(relay[1]) == before


async def test_certificate_of_an_unregistered_agency_is_refused(api) -> None:
    answer = await api.post("/v1/certificates", json=vietnam_agency().device("a").upload())
    assert (answer.status, answer.body["code"]) == (404, "unknown_agency")


async def test_second_certificate_for_the_same_device_id_is_refused(api) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    await enrol(api, vn.device("alice"))
    answer = await api.post("/v1/certificates", json=vn.device("alice").upload())
    assert (answer.status, answer.body["code"]) == (409, "device_exists")


async def test_expired_certificate_is_refused(api) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    old = vn.device("old", not_before=NOW - 10 * 86400, not_after=NOW - 86400)
    answer = await api.post("/v1/certificates", json=old.upload())
    assert (answer.status, answer.body["code"]) == (422, "certificate_expired")


async def test_revocation_is_verified_logged_and_shown(api, relay) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    await api.login(wei)  # log reads are for enrolled devices
    bad = replace(vn.revoke(alice), signature=bytes(64))
    before = await row_counts(relay[1])
    refused = await api.post("/v1/revocations", json={"revocation": b64e(bad.to_bytes())})
    assert (refused.status, refused.body["code"]) == (422, "bad_signature")
    assert await row_counts(relay[1]) == before
    revocation = vn.revoke(alice)
    answer = await api.post("/v1/revocations", json={"revocation": b64e(revocation.to_bytes())})
    assert answer.status == 201
    again = await api.post("/v1/revocations", json={"revocation": b64e(revocation.to_bytes())})
    assert (again.status, again.body) == (200, answer.body)
    device = (await api.get(f"/v1/devices/{alice.device_id}")).body
    assert device["revoked"] is True
    assert device["revocation"] == b64e(revocation.to_bytes())
    assert device["revocation_log_index"] == answer.body["log_index"]
    entry = (
        await api.get(
            "/v1/log/entries",
            params={"start": answer.body["log_index"], "end": answer.body["log_index"] + 1},
        )
    ).body["entries"][0]["entry"]
    assert entry["kind"] == "revocation"
    assert entry["device_id"] == alice.device_id


async def test_revocation_of_an_unknown_device_is_404(api) -> None:
    vn = vietnam_agency()
    await register(api, vn)
    revocation = vn.revoke(vn.device("ghost"))
    answer = await api.post("/v1/revocations", json={"revocation": b64e(revocation.to_bytes())})
    assert (answer.status, answer.body["code"]) == (404, "unknown_device")
