"""Reading in batches: one directory lookup per sender and agency per operation, none kept."""

from __future__ import annotations

import time
from typing import Any

import pytest

from liaison.client import agency as agency_ops
from liaison.client import directory, notices, officer
from liaison.client import messages as message_ops
from liaison.client.payload import Payload
from tests.review.review_world import World


def _record_paths(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    paths: list[str] = []
    request = world.api.request

    async def recorded(method: str, path: str, **kwargs: Any) -> Any:
        paths.append(path)
        return await request(method, path, **kwargs)

    monkeypatch.setattr(world.api, "request", recorded)
    return paths


async def test_search_checks_each_sender_once_and_sees_a_revocation_at_the_next_search(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    an, binh = world.officer("an-phone"), world.officer("binh")
    an_id = officer.own_certificate(an).device_id
    for i in range(3):
        await message_ops.send(an, world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text(f"số {i}"))
    await message_ops.sync(binh, world.api)
    paths = _record_paths(world, monkeypatch)

    found = await notices.search(binh, world.api, "so 1")
    assert len(found.hits) == 1 and found.unopened == []
    assert paths.count(f"/v1/devices/{an_id}") == 1
    assert paths.count("/v1/agencies/VN-QN-CA") == 1
    assert paths.count("/v1/agencies/VN-QN-BP") == 1

    # Nothing carries over to the next operation: it asks again and learns of the revocation.
    await agency_ops.revoke(world.ctx.admins["VN-QN-CA"], world.api, an_id, reason="device_lost")
    paths.clear()
    again = await notices.search(binh, world.api, "so 1")
    assert paths.count(f"/v1/devices/{an_id}") == 1
    assert an_id in directory.known_revocations(binh)
    # Logged before the revocation, so still readable (revocation counts from its log position).
    assert len(again.hits) == 1 and again.unopened == []


async def test_sync_and_reads_of_one_batch_share_the_sender_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    an, binh = world.officer("an-phone"), world.officer("binh")
    an_id = officer.own_certificate(an).device_id
    for text in ("một", "hai"):
        await message_ops.send(an, world.api, ["VN-QN-BP/tran.thi.binh"], Payload.text(text))
    paths = _record_paths(world, monkeypatch)
    lookups = directory.Lookups(binh, world.api, int(time.time()))
    new = await message_ops.sync(binh, world.api, lookups=lookups)
    opened = [
        (await message_ops.read(binh, world.api, r["message_id"], lookups=lookups)).payload
        for r in new
    ]
    assert {"hai", "một"} <= {p.as_text() for p in opened}
    assert paths.count(f"/v1/devices/{an_id}") == 1
