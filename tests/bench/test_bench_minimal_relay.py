"""bench/minimal_relay.py, the benchmark's reference server, does the work it claims to do.

Its figures are only worth printing if it really refuses a bad signature and really stores
every envelope before it answers; these tests check that (no timing here: figures come from
bench/relay.py).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from crypto.encoding import b64e
from tests.server.factory import AgencyKit

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("minimal_relay", ROOT / "bench" / "minimal_relay.py")
assert _spec is not None and _spec.loader is not None
minimal_relay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(minimal_relay)


@pytest.fixture
def kit(tmp_path: Path):  # type: ignore[no-untyped-def]
    vn = AgencyKit("VN-QN-CA", "Công an tỉnh Quảng Ninh", "广宁省公安厅")
    cn = AgencyKit("CN-GX-DX", "Công an thành phố Đông Hưng", "东兴市公安局")
    sender, first, second = vn.device("a"), cn.device("b"), cn.device("c")
    devices = {"tok-a": sender, "tok-b": first, "tok-c": second}
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            {
                "tokens": {token: d.device_id for token, d in devices.items()},
                "keys": {d.device_id: b64e(d.keys.signing_public) for d in devices.values()},
            }
        )
    )
    return keys, sender, [first, second]


def _body(envelope_bytes: bytes) -> str:
    return json.dumps({"envelope": b64e(envelope_bytes)})


def _stored(tmp_path: Path) -> tuple[int, int, int]:
    with sqlite3.connect(tmp_path / "minimal.sqlite") as db:
        return tuple(  # type: ignore[return-value]
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("envelopes", "deliveries", "log_entries")
        )


async def test_store_stage_stores_before_answering_and_pushes(
    aiohttp_client, kit, tmp_path: Path
) -> None:
    keys, sender, recipients = kit
    client = await aiohttp_client(minimal_relay.make_app(keys, "store", tmp_path))
    ws = await client.ws_connect("/v1/ws", params={"token": "tok-b"})
    envelope = sender.seal(recipients, "hello")
    answer = await client.post(
        "/v1/messages", data=_body(envelope.to_bytes()), headers={"Authorization": "Bearer tok-a"}
    )
    assert answer.status == 201
    assert (await answer.json())["message_id"] == envelope.header.message_id
    assert _stored(tmp_path) == (1, 2, 1)
    notice = await ws.receive_json(timeout=5)
    assert notice["message_id"] == envelope.header.message_id
    await ws.close()


async def test_bad_signature_and_unknown_token_are_refused_and_not_stored(
    aiohttp_client, kit, tmp_path: Path
) -> None:
    keys, sender, recipients = kit
    client = await aiohttp_client(minimal_relay.make_app(keys, "store", tmp_path))
    data = bytearray(sender.seal(recipients, "hello").to_bytes())
    data[-1] ^= 1  # the signature is the envelope's last field
    refused = await client.post(
        "/v1/messages", data=_body(bytes(data)), headers={"Authorization": "Bearer tok-a"}
    )
    assert refused.status == 422
    good = sender.seal(recipients, "hello").to_bytes()
    unknown = await client.post(
        "/v1/messages", data=_body(good), headers={"Authorization": "Bearer nobody"}
    )
    assert unknown.status == 401
    not_sender = await client.post(
        "/v1/messages", data=_body(good), headers={"Authorization": "Bearer tok-b"}
    )
    assert not_sender.status == 403
    assert _stored(tmp_path) == (0, 0, 0)


async def test_verify_stage_stores_nothing(aiohttp_client, kit, tmp_path: Path) -> None:
    keys, sender, recipients = kit
    client = await aiohttp_client(minimal_relay.make_app(keys, "verify", tmp_path))
    answer = await client.post(
        "/v1/messages",
        data=_body(sender.seal(recipients, "hello").to_bytes()),
        headers={"Authorization": "Bearer tok-a"},
    )
    assert answer.status == 201
    assert not (tmp_path / "minimal.sqlite").exists()
