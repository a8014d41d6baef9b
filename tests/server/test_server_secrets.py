"""The server stores ciphertext and routing metadata only: a database dump holds no secret."""

from __future__ import annotations

import base64

from sqlalchemy import select

from liaison.server.app import STORE_KEY
from liaison.store.tables import metadata
from tests.server.factory import MARKERS, china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send


async def _dump(app) -> bytes:
    chunks: list[bytes] = []
    async with app[STORE_KEY].reader.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode("utf-8"))
    return b"\n".join(chunks)


def _forms(secret: bytes) -> list[bytes]:
    return [secret, base64.b64encode(secret), secret.hex().encode()]


async def test_database_dump_after_an_exchange_holds_no_plaintext_and_no_private_key(
    api, relay
) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice, wei)
    a, w = await api.login(alice), await api.login(wei)
    for marker in MARKERS:
        assert (await send(api, a, alice.seal([wei], marker))).status == 201
        assert (await send(api, w, wei.seal([alice], marker))).status == 201
    page = (await api.get("/v1/messages", token=w)).body
    for message in page["messages"]:
        await api.post(f"/v1/messages/{message['message_id']}/ack", token=w)
    dump = await _dump(relay[1])
    assert b"CN-GX-DX" in dump  # the dump is real: routing metadata is there
    for marker in MARKERS:
        for encoding in ("utf-8", "utf-16-le"):
            assert marker.encode(encoding) not in dump
        assert base64.b64encode(marker.encode()) not in dump
    secrets = [
        alice.keys.signing.encode(),
        bytes(alice.keys.encryption),
        wei.keys.signing.encode(),
        bytes(wei.keys.encryption),
        vn.root.to_bytes(),
        cn.root.to_bytes(),
        vn.review.to_bytes(),
        cn.review.to_bytes(),
        a.encode(),
        w.encode(),
    ]
    for secret in secrets:
        for form in _forms(secret):
            assert form not in dump
