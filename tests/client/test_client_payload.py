"""Message payloads: a content type and opaque bytes, so that notices can be added later."""

from __future__ import annotations

import pytest

from liaison.client.errors import BadInput, RefusedEnvelope
from liaison.client.messages import Address
from liaison.client.payload import NOTICE, Payload


def test_text_payload_round_trips_vietnamese_and_chinese() -> None:
    payload = Payload.text("Bàn giao tại cửa khẩu Móng Cái — 东兴口岸交接")
    back = Payload.from_bytes(payload.to_bytes())
    assert back == payload
    assert back.is_text
    assert back.as_text() == "Bàn giao tại cửa khẩu Móng Cái — 东兴口岸交接"


def test_other_content_types_stay_opaque() -> None:
    payload = Payload(NOTICE, b'{"type": "handover_proposal"}', "notice.json")
    back = Payload.from_bytes(payload.to_bytes())
    assert back.content_type == NOTICE and back.filename == "notice.json"
    assert not back.is_text


@pytest.mark.parametrize("data", [b"", b"not json", b'{"v":2,"content_type":"x","body":""}'])
def test_unknown_payload_is_refused(data: bytes) -> None:
    with pytest.raises(RefusedEnvelope):
        Payload.from_bytes(data)


@pytest.mark.parametrize(
    ("text", "agency", "officer"),
    [("VN-QN-CA", "VN-QN-CA", None), ("CN-GX-DXGA/li.wei", "CN-GX-DXGA", "li.wei")],
)
def test_addresses_name_an_agency_or_one_officer(text: str, agency: str, officer: str) -> None:
    address = Address.parse(text)
    assert (address.agency, address.officer_id) == (agency, officer)


@pytest.mark.parametrize("text", ["vn-qn-ca", "VN-QN-CA/Li Wei", "", "VN"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(BadInput):
        Address.parse(text)
