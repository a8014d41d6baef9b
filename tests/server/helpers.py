"""Shared steps of the server tests: register agencies and devices, log in, send."""

from __future__ import annotations

from typing import Any

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, b64e, canonical_json
from crypto.merkle import leaf_hash, verify_inclusion
from tests.server.factory import AgencyKit, DeviceKit
from tests.server.relay_api import Api


async def register(api: Api, *agencies: AgencyKit) -> None:
    for agency in agencies:
        answer = await api.post("/v1/agencies", json=agency.registration(), token=api.admin_token)
        assert answer.status == 201, answer.body


async def enrol(api: Api, *devices: DeviceKit) -> None:
    for device in devices:
        answer = await api.post("/v1/certificates", json=device.upload())
        assert answer.status == 201, answer.body


async def send(api: Api, token: str, envelope: Any) -> Any:
    return await api.post("/v1/messages", json={"envelope": b64e(envelope.to_bytes())}, token=token)


async def verify_logged(api: Api, note: str, index: int, size: int, proof: list[str]) -> dict:
    """Check an inclusion proof against a signed checkpoint; answer the log entry."""
    server = (await api.get("/v1/server")).body
    checkpoint = verify_checkpoint(
        note, key_name=server["log_key_name"], public_key=b64d(server["log_public_key"])
    )
    assert checkpoint.size == size
    entry = (await api.get("/v1/log/entries", params={"start": index, "end": index + 1})).body
    [item] = entry["entries"]
    verify_inclusion(
        leaf_hash(canonical_json(item["entry"])),
        index,
        size,
        [b64d(h) for h in proof],
        checkpoint.root_hash,
    )
    return item["entry"]
