"""Attachments cross with their envelope (issue 16 §1, PROTOCOL.md §16.6): the blob goes to
the recipient's relay before the envelope declaring it, verified against its id there, and the
recipient fetches it from its own relay."""

from __future__ import annotations

from crypto.attachments import AttachmentEncryptor
from crypto.encoding import b64e
from tests.federation.test_forwarding import border, inbox, until
from tests.server.relay_api import Api


def encrypted(plaintext: bytes) -> tuple[bytes, str]:
    encryptor = AttachmentEncryptor()
    blob = encryptor.update(plaintext) + encryptor.finish()
    return blob, encryptor.reference(name="scan.pdf", media_type="application/pdf").blob_id


async def upload(api: Api, token: str, blob: bytes, blob_id: str) -> None:
    opened = await api.post("/v1/uploads", json={"size": len(blob)}, token=token)
    assert opened.status == 201, opened.body
    upload_id = opened.body["upload_id"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    async with api.client.put(
        f"/v1/uploads/{upload_id}", params={"offset": 0}, data=blob, headers=headers
    ) as answer:
        assert answer.status == 200, await answer.text()
    done = await api.post(f"/v1/uploads/{upload_id}/complete", json={"blob": blob_id}, token=token)
    assert done.status in (200, 201), done.body


async def test_an_attachment_crosses_with_its_envelope(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    blob, blob_id = encrypted(b"scan of a passport page " * 4000)
    await upload(vn.api, w["vn_token"], blob, blob_id)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Hồ sơ kèm theo")
    sent = await vn.api.post(
        "/v1/messages",
        json={"envelope": b64e(notice.to_bytes()), "blobs": [blob_id]},
        token=w["vn_token"],
    )
    assert sent.status == 201, sent.body
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    headers = {"Authorization": f"Bearer {w['cn_token']}"}
    async with cn.api.client.get(f"/v1/blobs/{blob_id}", headers=headers) as answer:
        assert answer.status == 200
        assert await answer.read() == blob
    # The other officer on the CN side, no party of the envelope, cannot fetch it.
    colleague_token = await cn.api.login(w["cn_colleague"])
    headers = {"Authorization": f"Bearer {colleague_token}"}
    async with cn.api.client.get(f"/v1/blobs/{blob_id}", headers=headers) as answer:
        assert answer.status == 404
