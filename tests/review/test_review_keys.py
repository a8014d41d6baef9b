"""Agency review keys: sealed to supervisors, rotated for new messages, old ones kept."""

from __future__ import annotations

import time

import pytest

from crypto.certs import ReviewKeyStatement, issue_review_key_statement
from crypto.encoding import b64d, b64e
from crypto.envelope import MAX_CLOCK_SKEW, Envelope, ReviewRecipient
from crypto.errors import DecryptionError, SignatureError
from crypto.keys import DeviceKeys, ReviewKeyPair, RootKey
from crypto.review_keys import (
    ReviewKeyWrap,
    current_review_statement,
    reason_hash,
    review_statements_valid_at,
    wrap_review_key,
)
from liaison.client import directory
from liaison.client import messages as message_ops
from liaison.client import review as review_ops
from liaison.client.agency import load_agency
from liaison.client.errors import BadInput, RefusedEnvelope, ServerError
from liaison.client.payload import Payload
from tests.review.review_world import World

CA = "VN-QN-CA"
DAY = 86400


def _key_ids(world: World) -> list[str]:
    return [k["key_id"] for k in review_ops.review_key_entries(load_agency(world.ctx.admins[CA]))]


async def _review_key_of(world: World, home_name: str, message_id: str) -> str:
    home = world.officer(home_name)
    await message_ops.sync(home, world.api)
    record = home.load_message(message_id)
    assert record is not None
    header = Envelope.from_bytes(b64d(record["envelope"])).header
    return dict(header.review_recipients)[CA]


async def test_rotation_gives_new_messages_the_new_key_and_old_ones_stay_reviewable(
    world: World,
) -> None:
    supervisor = world.supervisor
    assert supervisor is not None
    old_message = world.ctx.sent["request"].message_id
    (old_key,) = _key_ids(world)
    rotated = await review_ops.rotate_review_key(world.ctx.admins[CA], world.api)
    assert rotated["key_id"] != old_key
    assert rotated["wrapped_to"] == ["VN-QN-CA:pham.thu.ha:desk"]
    assert _key_ids(world) == [old_key, rotated["key_id"]]
    # A rotated key counts from its not_before, at least a second after the previous key's
    # (statements strictly increase): send from then, however fast the world was built.
    entries = review_ops.review_key_entries(load_agency(world.ctx.admins[CA]))
    takes_over = ReviewKeyStatement.from_bytes(b64d(entries[-1]["statement"])).not_before
    new = await message_ops.send(
        world.officer("an-phone"),
        world.api,
        ["VN-QN-BP/tran.thi.binh"],
        Payload.text("mới"),
        now=max(int(time.time()), takes_over),
    )

    assert await _review_key_of(world, "binh", old_message) == old_key
    assert await _review_key_of(world, "binh", new.message_id) == rotated["key_id"]
    # Recipients accept either key: both are vouched for by the agency root.
    binh = world.officer("binh")
    assert (await message_ops.read(binh, world.api, new.message_id)).payload.as_text() == "mới"
    assert "Đề nghị" in (await message_ops.read(binh, world.api, old_message)).payload.as_text()
    # The supervisor holds both keys: old messages with the old one, new with the new one.
    held = await review_ops.review_keys(supervisor, world.api)
    assert set(held) == {old_key, rotated["key_id"]}
    old_text = (await review_ops.read(supervisor, world.api, old_message, "audit")).payload
    new_text = (await review_ops.read(supervisor, world.api, new.message_id, "audit")).payload
    assert "Đề nghị" in old_text.as_text() and new_text.as_text() == "mới"


async def test_supervisor_certified_after_rotation_receives_every_key(world: World) -> None:
    old_message = world.ctx.sent["request"].message_id
    await review_ops.rotate_review_key(world.ctx.admins[CA], world.api)
    newcomer = await world.enrol("ha2", CA, "do.minh.chau", role="supervisor")
    held = await review_ops.review_keys(newcomer, world.api)
    assert set(held) == set(_key_ids(world))
    reviewed = await review_ops.read(newcomer, world.api, old_message, "handover check")
    assert "Đề nghị" in reviewed.payload.as_text()


async def test_only_supervisor_devices_are_handed_review_keys(world: World) -> None:
    agency = load_agency(world.ctx.admins[CA])
    assert set(agency["review_wraps"]) == {"VN-QN-CA:pham.thu.ha:desk"}
    officer = world.officer("an-phone")
    answer = await message_ops.authenticated(
        officer, world.api, lambda: world.api.request("GET", "/v1/review-keys/wraps")
    )
    assert answer == {"wraps": []}
    with pytest.raises(BadInput):
        await review_ops.review_keys(officer, world.api)


async def test_envelope_with_a_review_key_its_root_never_vouched_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = ReviewKeyPair.generate()
    genuine = directory.current_review_key

    async def substitute(home, api, agency, *, now=None):  # type: ignore[no-untyped-def]
        if agency == CA:
            return ReviewRecipient(CA, forged.key_id, forged.public)
        return await genuine(home, api, agency, now=now)

    monkeypatch.setattr(directory, "current_review_key", substitute)
    sent = await message_ops.send(
        world.officer("an-phone"), world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text("x")
    )
    monkeypatch.setattr(directory, "current_review_key", genuine)
    binh = world.officer("binh")
    await message_ops.sync(binh, world.api)
    with pytest.raises(RefusedEnvelope) as refused:
        await message_ops.read(binh, world.api, sent.message_id)
    assert refused.value.code == "bad_review_wrap"


def _force_review_key(monkeypatch: pytest.MonkeyPatch, agency: str, key: ReviewRecipient) -> None:
    """Make this process's senders wrap `agency`'s review wrap to `key`, whatever is current."""
    genuine = directory.current_review_key

    async def substitute(home, api, code, *, now=None):  # type: ignore[no-untyped-def]
        return key if code == agency else await genuine(home, api, code, now=now)

    monkeypatch.setattr(directory, "current_review_key", substitute)


async def _statement(world: World, key_id: str) -> ReviewKeyStatement:
    (found,) = [
        s
        for s in await directory.review_keys(world.officer("binh"), world.api, CA)
        if s.key_id == key_id
    ]
    return found


async def test_envelope_wrapped_to_a_review_key_not_yet_valid_at_its_send_time_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time())
    (old_key,) = _key_ids(world)
    # A rotation published ahead of time: valid from tomorrow, not for today's messages.
    rotated = await review_ops.rotate_review_key(world.ctx.admins[CA], world.api, now=now + DAY)
    future = await _statement(world, rotated["key_id"])
    assert future.not_before == now + DAY
    an, binh = world.officer("an-phone"), world.officer("binh")
    today = await message_ops.send(an, world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text("a"))
    assert await _review_key_of(world, "binh", today.message_id) == old_key
    assert (await message_ops.read(binh, world.api, today.message_id)).payload.as_text() == "a"

    _force_review_key(monkeypatch, CA, directory.recipient(future))
    early = await message_ops.send(an, world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text("b"))
    assert await _review_key_of(world, "binh", early.message_id) == rotated["key_id"]
    with pytest.raises(RefusedEnvelope) as refused:
        await message_ops.read(binh, world.api, early.message_id)
    assert refused.value.code == "bad_review_wrap"


async def test_envelope_sent_after_rotation_but_wrapped_to_the_old_key_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old_key,) = _key_ids(world)
    old_message = world.ctx.sent["request"].message_id
    rotated = await review_ops.rotate_review_key(world.ctx.admins[CA], world.api)
    later = (await _statement(world, rotated["key_id"])).not_before + 2 * MAX_CLOCK_SKEW
    an, binh = world.officer("an-phone"), world.officer("binh")
    _force_review_key(monkeypatch, CA, directory.recipient(await _statement(world, old_key)))
    stale = await message_ops.send(
        an, world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text("x"), now=later
    )
    assert await _review_key_of(world, "binh", stale.message_id) == old_key
    with pytest.raises(RefusedEnvelope) as refused:
        await message_ops.read(binh, world.api, stale.message_id, now=later)
    assert refused.value.code == "bad_review_wrap"
    # The message sent before the rotation still opens with the old key, also read later on.
    opened = await message_ops.read(binh, world.api, old_message, now=later)
    assert "Đề nghị" in opened.payload.as_text()


def test_review_key_valid_at_send_time_is_the_newest_by_then_within_clock_skew() -> None:
    root = RootKey.generate()

    def statement(not_before: int) -> ReviewKeyStatement:
        public = ReviewKeyPair.generate().public
        return issue_review_key_statement(root, agency=CA, public_key=public, not_before=not_before)

    first, second, third = statement(1000), statement(5000), statement(9000)
    pool = [third, first, second]
    assert current_review_statement(pool, 999) is None
    assert current_review_statement(pool, 5000) == second
    assert current_review_statement(pool, 8999) == second
    assert review_statements_valid_at(pool, 6000, max_clock_skew=0) == [second]
    assert review_statements_valid_at(pool, 4999, max_clock_skew=0) == [first]
    assert review_statements_valid_at(pool, 999, max_clock_skew=0) == []
    # Within the skew of a rotation both keys are accepted; beyond it only the newer one.
    assert set(review_statements_valid_at(pool, 5000, max_clock_skew=300)) == {first, second}
    assert set(review_statements_valid_at(pool, 4800, max_clock_skew=300)) == {first, second}
    assert review_statements_valid_at(pool, 5301, max_clock_skew=300) == [second]
    assert review_statements_valid_at(pool, 4699, max_clock_skew=300) == [first]


async def test_relay_refuses_a_wrap_not_signed_by_the_agency_root(world: World) -> None:
    keys = DeviceKeys.generate()
    wrap = wrap_review_key(
        RootKey.generate(),
        ReviewKeyPair.generate(),
        device_id="VN-QN-CA:mallory:desk",
        encryption_key=keys.encryption_public,
        issued_at=1,
    )
    with pytest.raises(ServerError) as refused:
        await world.api.request(
            "POST", "/v1/review-keys/wraps", json={"wrap": b64e(wrap.to_bytes())}
        )
    assert (refused.value.status, refused.value.code) == (422, "bad_signature")


def test_wrap_opens_only_for_its_device_and_verifies_only_with_its_root() -> None:
    root, review, device, other = (
        RootKey.generate(),
        ReviewKeyPair.generate(),
        DeviceKeys.generate(),
        DeviceKeys.generate(),
    )
    wrap = wrap_review_key(
        root,
        review,
        device_id="VN-QN-CA:ha:desk",
        encryption_key=device.encryption_public,
        issued_at=5,
    )
    parsed = ReviewKeyWrap.from_bytes(wrap.to_bytes())
    parsed.verify(root.public)
    assert parsed.open(device).to_bytes() == review.to_bytes()
    with pytest.raises(DecryptionError):
        parsed.open(other)
    with pytest.raises(SignatureError):
        parsed.verify(RootKey.generate().public)
    moved = ReviewKeyWrap(
        agency="VN-QN-CA",
        device_id="VN-QN-CA:other:desk",
        key_id=wrap.key_id,
        sealed=wrap.sealed,
        issued_at=wrap.issued_at,
        signature=wrap.signature,
    )
    with pytest.raises(SignatureError):
        moved.verify(root.public)


def test_reason_commitment_hides_the_reason_behind_its_salt() -> None:
    salt_a, salt_b = b"a" * 16, b"b" * 16
    assert reason_hash("routine", salt_a) == reason_hash("routine", salt_a)
    assert reason_hash("routine", salt_a) != reason_hash("routine", salt_b)
    assert reason_hash("routine", salt_a) != reason_hash("routine.", salt_a)
