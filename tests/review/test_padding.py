"""Plaintext lengths padded to buckets (issue 14, section 2): what the relay sees of a message's
size is its bucket, not its length."""

from __future__ import annotations

import pytest

from crypto.envelope import Envelope
from liaison.client.payload import Payload, padded_length
from liaison.store import Store, database_url
from tests.review.review_world import World

AEAD_TAG = 16


def _bucket(length: int) -> bool:
    if length <= 64 * 1024:
        return length >= 256 and length & (length - 1) == 0
    return length % (64 * 1024) == 0


@pytest.mark.parametrize("length", [0, 1, 200, 230, 256, 257, 4000, 65_000, 65_537, 300_000])
def test_every_payload_fills_its_bucket_and_reads_back(length: int) -> None:
    payload = Payload("application/octet-stream", b"\x01" * length, "f.bin")
    data = payload.to_bytes()
    assert _bucket(len(data)) and len(data) == padded_length(len(data))
    assert Payload.from_bytes(data) == payload


def test_buckets_are_powers_of_two_then_64_kib_steps() -> None:
    assert [padded_length(n) for n in (1, 256, 257, 1025, 65_536, 65_537, 131_073)] == [
        256,
        256,
        512,
        2048,
        65_536,
        131_072,
        196_608,
    ]


async def test_the_relay_sees_only_bucketed_body_sizes(world: World) -> None:
    message_ids = [sent.message_id for sent in world.ctx.sent.values()]
    assert message_ids
    async with Store(database_url(world.data_dir)) as store:
        for message_id in message_ids:
            held = await store.held_envelope(message_id)
            assert held is not None
            body = Envelope.from_bytes(held.envelope).body
            assert _bucket(len(body) - AEAD_TAG), (message_id, len(body))
