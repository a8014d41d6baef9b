"""Device authentication: challenge and response bound to the server key, short-lived tokens."""

from __future__ import annotations

from crypto.encoding import b64d, b64e
from crypto.keys import DeviceKeys
from liaison.server.identity import token_digest
from tests.server.factory import vietnam_agency
from tests.server.helpers import enrol, register
from tests.server.relay_api import row_counts


async def _setup(api):
    vn = vietnam_agency()
    await register(api, vn)
    alice = vn.device("alice")
    await enrol(api, alice)
    return vn, alice


async def _challenge(api, device):
    answer = await api.post("/v1/auth/challenge", json={"device_id": device.device_id})
    return answer.body["challenge"]


async def _token_request(api, device, challenge, signature):
    return await api.post(
        "/v1/auth/token",
        json={"device_id": device.device_id, "challenge": challenge, "signature": b64e(signature)},
    )


async def test_device_gets_a_token_that_is_stored_only_hashed(api, relay) -> None:
    _, alice = await _setup(api)
    token = await api.login(alice)
    from liaison.server.app import STORE_KEY

    store = relay[1][STORE_KEY]
    assert (await store.token(token_digest(token))).device_id == alice.device_id
    assert await store.token(token.encode().hex().encode()) is None
    page = await api.get("/v1/messages", token=token)
    assert page.status == 200


async def test_replayed_challenge_is_refused(api, relay) -> None:
    _, alice = await _setup(api)
    key = b64d((await api.get("/v1/server")).body["log_public_key"])
    challenge = await _challenge(api, alice)
    signature = alice.sign_challenge(key, b64d(challenge))
    assert (await _token_request(api, alice, challenge, signature)).status == 200
    before = await row_counts(relay[1])
    again = await _token_request(api, alice, challenge, signature)
    assert (again.status, again.body["code"]) == (401, "challenge_used")
    assert await row_counts(relay[1]) == before


async def test_expired_challenge_is_refused(api, clock) -> None:
    _, alice = await _setup(api)
    key = b64d((await api.get("/v1/server")).body["log_public_key"])
    challenge = await _challenge(api, alice)
    clock.now += 61
    answer = await _token_request(api, alice, challenge, alice.sign_challenge(key, b64d(challenge)))
    assert (answer.status, answer.body["code"]) == (401, "challenge_expired")


async def test_signature_for_another_server_is_refused(api, relay) -> None:
    _, alice = await _setup(api)
    challenge = await _challenge(api, alice)
    other_server = DeviceKeys.generate().signing_public
    before = await row_counts(relay[1])
    answer = await _token_request(
        api, alice, challenge, alice.sign_challenge(other_server, b64d(challenge))
    )
    assert (answer.status, answer.body["code"]) == (401, "bad_signature")
    assert await row_counts(relay[1]) == before


async def test_signature_by_another_key_is_refused(api) -> None:
    vn, alice = await _setup(api)
    key = b64d((await api.get("/v1/server")).body["log_public_key"])
    challenge = await _challenge(api, alice)
    mallory = vn.device("mallory")
    answer = await _token_request(
        api, alice, challenge, mallory.sign_challenge(key, b64d(challenge))
    )
    assert (answer.status, answer.body["code"]) == (401, "bad_signature")


async def test_challenge_issued_to_another_device_is_refused(api) -> None:
    vn, alice = await _setup(api)
    bob = vn.device("bob")
    await enrol(api, bob)
    key = b64d((await api.get("/v1/server")).body["log_public_key"])
    challenge = await _challenge(api, alice)
    answer = await _token_request(api, bob, challenge, bob.sign_challenge(key, b64d(challenge)))
    assert (answer.status, answer.body["code"]) == (401, "unknown_challenge")


async def test_expired_token_is_refused(api, clock) -> None:
    _, alice = await _setup(api)
    token = await api.login(alice)
    clock.now += 901
    answer = await api.get("/v1/messages", token=token)
    assert (answer.status, answer.body["code"]) == (401, "token_expired")


async def test_missing_and_unknown_tokens_are_refused(api) -> None:
    answer = await api.get("/v1/messages")
    assert (answer.status, answer.body["code"]) == (401, "missing_token")
    answer = await api.get("/v1/messages", token="0" * 64)
    assert (answer.status, answer.body["code"]) == (401, "invalid_token")


async def test_unknown_device_cannot_ask_for_a_challenge(api, relay) -> None:
    await _setup(api)
    before = await row_counts(relay[1])
    answer = await api.post("/v1/auth/challenge", json={"device_id": "VN-QN-CA:nobody:phone"})
    assert (answer.status, answer.body["code"]) == (404, "unknown_device")
    answer = await api.post("/v1/auth/challenge", json={"device_id": "not a device"})
    assert (answer.status, answer.body["code"]) == (400, "invalid_device_id")
    assert await row_counts(relay[1]) == before


async def test_revoked_device_cannot_authenticate_nor_use_its_token(api) -> None:
    vn, alice = await _setup(api)
    bob = vn.device("bob")
    await enrol(api, bob)
    token = await api.login(alice)
    revocation = vn.revoke(alice)
    assert (
        await api.post("/v1/revocations", json={"revocation": b64e(revocation.to_bytes())})
    ).status == 201
    answer = await api.get("/v1/messages", token=token)
    assert (answer.status, answer.body["code"]) == (403, "device_revoked")
    sent = await api.post(
        "/v1/messages", json={"envelope": b64e(alice.seal([bob], "x").to_bytes())}, token=token
    )
    assert (sent.status, sent.body["code"]) == (403, "device_revoked")
    challenge = await api.post("/v1/auth/challenge", json={"device_id": alice.device_id})
    assert (challenge.status, challenge.body["code"]) == (403, "device_revoked")
