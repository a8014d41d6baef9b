"""Review storage on SQLite and PostgreSQL: review-key wraps and an agency's traffic."""

from __future__ import annotations

import hashlib

from liaison.store import Store
from liaison.store.review import ReviewKeyWrapRecord


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


async def _world(store: Store) -> None:
    """Two agencies, and three envelopes: CA→CN, CN→CA, BP→BP; received at 100, 200, 300."""

    async def job(tx) -> None:
        for code in ("VN-QN-CA", "CN-GX-DXGA", "VN-QN-BP"):
            index = await tx.append_log(code.encode(), _leaf(code.encode()), at=1)
            await tx.insert_agency(
                code=code,
                country=code[:2],
                name_vi="v",
                name_zh="z",
                root_key=b"r" * 32,
                log_index=index,
                at=1,
            )
        sends = [
            ("a" * 32, "VN-QN-CA:an:phone", ["CN-GX-DXGA:li:desk", "VN-QN-CA:an:laptop"], 100),
            ("b" * 32, "CN-GX-DXGA:li:desk", ["VN-QN-CA:an:phone"], 200),
            ("c" * 32, "VN-QN-BP:binh:phone", ["VN-QN-BP:dung:phone"], 300),
        ]
        for counter, (message_id, sender, recipients, at) in enumerate(sends, start=1):
            data = message_id.encode()
            index = await tx.append_log(data, _leaf(data), at=at)
            tx.insert_envelope(
                message_id=message_id,
                envelope_hash=hashlib.sha256(data).digest(),
                sender_device=sender,
                counter=counter,
                envelope=b"envelope:" + data,
                log_index=index,
                received_at=at,
                recipients=recipients,
            )

    await store.write(job)

    async def ack(tx) -> None:
        await tx.acknowledge(
            device_id="VN-QN-CA:an:phone", message_id="b" * 32, log_index=9, at=250
        )

    await store.write(ack)


async def test_agency_traffic_holds_the_envelopes_the_agency_is_party_to(store: Store) -> None:
    await _world(store)
    ca = await store.agency_traffic(
        "VN-QN-CA", officer_prefix=None, start=None, end=None, limit=100
    )
    assert [r.message_id for r in ca] == ["a" * 32, "b" * 32]
    reply = ca[1]
    assert reply.sender_device == "CN-GX-DXGA:li:desk"
    assert [(d.device_id, d.acknowledged_at) for d in reply.deliveries] == [
        ("VN-QN-CA:an:phone", 250)
    ]
    bp = await store.agency_traffic(
        "VN-QN-BP", officer_prefix=None, start=None, end=None, limit=100
    )
    assert [r.message_id for r in bp] == ["c" * 32]
    timed = await store.agency_traffic(
        "VN-QN-CA", officer_prefix=None, start=150, end=300, limit=100
    )
    assert [r.message_id for r in timed] == ["b" * 32]
    laptop = await store.agency_traffic(
        "CN-GX-DXGA", officer_prefix="CN-GX-DXGA:li:", start=None, end=None, limit=1
    )
    assert [r.message_id for r in laptop] == ["a" * 32]


async def test_an_officers_traffic_is_what_the_officers_devices_sent_or_received(
    store: Store,
) -> None:
    """The officer list finds the officer's devices by id prefix (revision 0010): only as a
    sender, only as a recipient, both; never a device of an officer whose name merely starts
    with the same letters; bounded by the time range on both sides."""
    await _world(store)

    async def job(tx) -> None:
        data = b"d" * 32
        index = await tx.append_log(data, _leaf(data), at=400)
        tx.insert_envelope(
            message_id="d" * 32,
            envelope_hash=hashlib.sha256(data).digest(),
            sender_device="VN-QN-CA:anh:phone",
            counter=1,
            envelope=b"envelope:" + data,
            log_index=index,
            received_at=400,
            recipients=["VN-QN-BP:dung:phone"],
        )

    await store.write(job)

    async def officer(agency: str, prefix: str, start: int | None = None) -> list[str]:
        found = await store.agency_traffic(
            agency, officer_prefix=prefix, start=start, end=None, limit=100
        )
        return [r.message_id for r in found]

    assert await officer("VN-QN-CA", "VN-QN-CA:an:") == ["a" * 32, "b" * 32]
    assert await officer("VN-QN-CA", "VN-QN-CA:anh:") == ["d" * 32]
    assert await officer("VN-QN-BP", "VN-QN-BP:binh:") == ["c" * 32]  # sender only
    assert await officer("VN-QN-BP", "VN-QN-BP:dung:") == ["c" * 32, "d" * 32]  # recipient
    assert await officer("VN-QN-BP", "VN-QN-BP:dung:", start=350) == ["d" * 32]
    assert await officer("VN-QN-CA", "VN-QN-CA:an:", start=150) == ["b" * 32]
    assert await officer("VN-QN-CA", "VN-QN-CA:nobody:") == []
    # An officer of another agency: the agency condition still applies.
    assert await officer("VN-QN-BP", "VN-QN-CA:anh:") == ["d" * 32]
    assert await officer("CN-GX-DXGA", "VN-QN-CA:anh:") == []


async def test_a_newer_wrap_replaces_the_stored_one(store: Store) -> None:
    await _world(store)

    async def put(wrap: bytes, issued_at: int, log_index: int):
        async def job(tx) -> ReviewKeyWrapRecord | None:
            await tx.put_wrap(
                device_id="VN-QN-CA:ha:desk",
                key_id="K" * 32,
                agency="VN-QN-CA",
                wrap=wrap,
                wrap_hash=hashlib.sha256(wrap).digest(),
                issued_at=issued_at,
                log_index=log_index,
                at=issued_at,
            )
            return await tx.review_key_wrap("VN-QN-CA:ha:desk", "K" * 32)

        return await store.write(job)

    first = await put(b"first", 10, 20)
    assert first is not None and first.wrap == b"first"
    await put(b"second", 11, 21)
    held = await store.wraps_for_device("VN-QN-CA:ha:desk")
    assert [(w.wrap, w.issued_at, w.log_index) for w in held] == [(b"second", 11, 21)]
    assert await store.wraps_for_device("VN-QN-CA:an:phone") == []
