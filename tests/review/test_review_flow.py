"""Supervisor review on a real relay: logged first, verified before decryption, refusals logged."""

from __future__ import annotations

from typing import Any

import pytest

from crypto.encoding import b64d, b64e
from crypto.review_keys import reason_hash
from liaison.client import messages as message_ops
from liaison.client import review as review_ops
from liaison.client.errors import ServerError, VerificationError
from liaison.client.payload import Payload
from liaison.server import review as review_server
from tests.review.review_world import World

REASON = "Kiểm tra định kỳ / 例行检查"


def _request_id(world: World) -> str:
    return world.ctx.sent["request"].message_id


@pytest.mark.parametrize(
    "world", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_supervisor_review_logs_the_record_then_opens_the_message(world: World) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    size_before = (await world.api.checkpoint())["size"]
    traffic = await review_ops.list_traffic(supervisor, world.api)
    listed = {m["message_id"]: m for m in traffic}
    request = listed[_request_id(world)]
    assert request["sender"] == "VN-QN-CA:nguyen.van.an:phone"
    assert {r["device_id"] for r in request["recipients"]} == set(
        world.ctx.sent["request"].recipients
    )
    assert request["size"] > 0

    reviewed = await review_ops.read(supervisor, world.api, _request_id(world), REASON)

    assert "Đề nghị xác minh" in reviewed.payload.as_text()
    assert reviewed.review_log_index >= size_before
    entry = await world.entry(reviewed.review_log_index)
    assert entry["kind"] == "review"
    assert entry["message_id"] == _request_id(world)
    assert entry["device_id"] == "VN-QN-CA:pham.thu.ha:desk"
    # The log holds a hiding commitment to the reason; the supervisor's device keeps the opening.
    kept = supervisor.read_json(review_ops.REVIEWS_FILE)[-1]
    assert kept["reason"] == REASON
    assert entry["reason_hash"] == b64e(reason_hash(REASON, b64d(kept["salt"])))
    assert REASON not in str(await world.entries())


async def test_listing_filters_by_officer_and_time(world: World) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    everything = await review_ops.list_traffic(supervisor, world.api)
    assert everything
    own = await review_ops.list_traffic(supervisor, world.api, officer_id="nguyen.van.an")
    assert [m["message_id"] for m in own] == [m["message_id"] for m in everything]
    nobody = await review_ops.list_traffic(supervisor, world.api, officer_id="nobody")
    assert nobody == []
    later = everything[-1]["received_at"] + 1
    assert await review_ops.list_traffic(supervisor, world.api, start=later) == []
    assert await review_ops.list_traffic(supervisor, world.api, end=later) == everything


async def test_officer_review_attempt_is_refused_with_403_and_logged(world: World) -> None:
    officer = world.officer("an-phone")
    with pytest.raises(ServerError) as refused:
        await message_ops.authenticated(
            officer,
            world.api,
            lambda: world.api.request(
                "POST",
                f"/v1/review/messages/{_request_id(world)}",
                json={
                    "reason_hash": b64e(bytes(32)),
                    "requested_at": 1,
                    "signature": b64e(bytes(64)),
                },
            ),
        )
    assert (refused.value.status, refused.value.code) == (403, "review_forbidden")
    with pytest.raises(ServerError) as listing:
        await review_ops.list_traffic(officer, world.api)
    assert (listing.value.status, listing.value.code) == (403, "review_forbidden")
    last = (await world.entries())[-1]
    assert last["kind"] == "review_refused"
    assert last["device_id"] == "VN-QN-CA:nguyen.van.an:phone"
    assert last["refusal"] == "not_supervisor"
    assert last["message_id"] == _request_id(world)


async def test_supervisor_of_an_agency_not_party_is_refused_and_logged(world: World) -> None:
    # The reply goes from Dongxing to VN-QN-CA only: VN-QN-BP is not a party to it.
    li = world.officer("li")
    reply = await message_ops.send(li, world.api, ["VN-QN-CA/nguyen.van.an"], Payload.text("ok"))
    foreign = await world.enrol("bp-chief", "VN-QN-BP", "le.van.cuong", role="supervisor")
    size_before = (await world.api.checkpoint())["size"]
    with pytest.raises(ServerError) as refused:
        await review_ops.read(foreign, world.api, reply.message_id, "curiosity")
    assert (refused.value.status, refused.value.code) == (403, "review_forbidden")
    entries = await world.entries()
    assert len(entries) == size_before + 1
    assert entries[-1]["kind"] == "review_refused"
    assert entries[-1]["refusal"] == "not_party"
    assert entries[-1]["device_id"] == "VN-QN-BP:le.van.cuong:desk"
    # The same supervisor may review a message its agency is party to.
    reviewed = await review_ops.read(foreign, world.api, _request_id(world), "routine")
    assert "Đề nghị xác minh" in reviewed.payload.as_text()


def _tamper(world: World, monkeypatch: pytest.MonkeyPatch, change: Any) -> list[str]:
    """Make the relay's review answers pass through `change`; record any decryption attempt."""
    original = world.api.request
    opened: list[str] = []

    async def request(method: str, path: str, **kwargs: Any) -> Any:
        answer = await original(method, path, **kwargs)
        if method == "POST" and path.startswith("/v1/review/messages/"):
            change(answer)
        return answer

    def spy(*args: Any, **kwargs: Any) -> Any:
        opened.append("opened")
        raise AssertionError("decryption attempted")

    monkeypatch.setattr(world.api, "request", request)
    monkeypatch.setattr(review_ops, "open_as_reviewer", spy)
    return opened


def _flip_proof(answer: dict[str, Any]) -> None:
    proof = [bytearray(b64d(h)) for h in answer["inclusion_proof"]]
    proof[0][0] ^= 1
    answer["inclusion_proof"] = [b64e(bytes(h)) for h in proof]


def _other_reason(answer: dict[str, Any]) -> None:
    answer["review"]["reason_hash"] = b64e(bytes(32))


def _other_index(answer: dict[str, Any]) -> None:
    answer["log_index"] -= 1


def _no_record(answer: dict[str, Any]) -> None:
    del answer["review"]


@pytest.mark.parametrize("change", [_flip_proof, _other_reason, _other_index, _no_record])
async def test_review_without_a_valid_logged_record_is_not_decrypted(
    world: World, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    opened = _tamper(world, monkeypatch, change)
    with pytest.raises(VerificationError):
        await review_ops.read(supervisor, world.api, _request_id(world), REASON)
    assert opened == []


async def test_officer_sees_the_review_records_of_own_messages(world: World) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    reviewed = await review_ops.read(supervisor, world.api, _request_id(world), REASON)
    for name in ("an-phone", "li"):  # the sender, and a recipient in the other country
        rows = await review_ops.audit_log(world.officer(name), world.api)
        reviews = [r for r in rows if r["entry"]["kind"] == "review"]
        assert [r["index"] for r in reviews] == [reviewed.review_log_index]
        assert reviews[0]["verified"] is True
        assert reviews[0]["signed"] is True
        kinds = {r["entry"]["kind"] for r in rows}
        assert "envelope" in kinds
    # A supervisor sees the agency's directory changes, including the review-key wrap.
    rows = await review_ops.audit_log(supervisor, world.api)
    kinds = [r["entry"]["kind"] for r in rows]
    assert {"agency", "certificate", "review_key_wrap", "envelope", "review"} <= set(kinds)
    assert all(r["entry"].get("agency", "VN-QN-CA") == "VN-QN-CA" for r in rows)


async def test_an_officer_does_not_see_reviews_of_messages_not_his(world: World) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    li = world.officer("li")
    reply = await message_ops.send(li, world.api, ["VN-QN-CA/nguyen.van.an"], Payload.text("ok"))
    await review_ops.read(supervisor, world.api, reply.message_id, REASON)
    rows = await review_ops.audit_log(world.officer("binh"), world.api)
    assert all(r["entry"].get("message_id") != reply.message_id for r in rows)


async def test_review_of_a_purged_message_is_refused_without_a_record(world: World) -> None:
    from liaison.store import Store, database_url

    supervisor = world.supervisor
    assert supervisor is not None
    async with Store(database_url(world.data_dir)) as store:

        async def job(tx: Any) -> bool:
            return await tx.purge_envelope(_request_id(world), 1)

        assert await store.write(job)
    size_before = (await world.api.checkpoint())["size"]
    with pytest.raises(ServerError) as refused:
        await review_ops.read(supervisor, world.api, _request_id(world), REASON)
    assert (refused.value.status, refused.value.code) == (404, "envelope_purged")
    assert (await world.api.checkpoint())["size"] == size_before


async def test_audit_pages_scan_a_bounded_stretch_of_the_log_and_miss_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    await review_ops.read(supervisor, world.api, _request_id(world), REASON)
    li = world.officer("li")
    unbounded = await review_ops.audit_log(li, world.api)
    # Each request now reads at most two log entries, visible to Li or not: far more requests,
    # some with no record, and the same records in the same order.
    monkeypatch.setattr(review_server, "MAX_AUDIT_SCAN", 2)
    pages = []
    request = world.api.request

    async def counting(method, path, **kwargs):
        answer = await request(method, path, **kwargs)
        if path == "/v1/audit/records":
            pages.append((kwargs["params"]["after"], answer["next"], len(answer["records"])))
        return answer

    monkeypatch.setattr(world.api, "request", counting)
    bounded = await review_ops.audit_log(li, world.api)
    assert [r["index"] for r in bounded] == [r["index"] for r in unbounded]
    assert all(nxt is None or nxt - after <= 2 for after, nxt, _ in pages)
    assert any(found == 0 for _, nxt, found in pages if nxt is not None)


async def test_a_signed_review_request_is_honoured_once(world: World, monkeypatch) -> None:
    """Issue 14, defect 6: the same signed request posted again releases nothing, logs nothing."""
    supervisor = world.supervisor
    assert supervisor is not None
    sent: list[Any] = []
    post = world.api.review_message

    async def keep(message_id: str, request: Any) -> Any:
        sent.append((message_id, dict(request)))
        return await post(message_id, request)

    monkeypatch.setattr(world.api, "review_message", keep)
    await review_ops.read(supervisor, world.api, _request_id(world), REASON)
    (replayed,) = sent
    size_before = (await world.api.checkpoint())["size"]
    with pytest.raises(ServerError) as refused:
        await post(*replayed)
    assert (refused.value.status, refused.value.code) == (409, "review_replayed")
    assert (await world.api.checkpoint())["size"] == size_before
