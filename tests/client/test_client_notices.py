"""Client-side notice rules without a relay: addressing, forwarding, export formats, H1/H2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liaison.client.errors import BadInput
from liaison.client.notices import (
    NoticeAddressError,
    check_addressing,
    export_bytes,
    export_format,
    forwarded_notice,
)
from liaison.domain.notices import HANDLING_CODES, HandlingRestricted, parse_notice
from liaison.i18n import gettext_for, translate

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notices"
MESSAGE_ID = "0123456789abcdef0123456789abcdef"


def golden(name: str, **header: str):
    data = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    data["header"].update(header)
    return parse_notice(data)


def test_notice_must_name_the_sending_agency_and_a_recipient_agency() -> None:
    request = golden("verification_request")  # VN-QN-CA to CN-GX-DXGA
    check_addressing(request, "VN-QN-CA", ["CN-GX-DXGA/li.wei", "VN-QN-BP"])
    with pytest.raises(NoticeAddressError, match="sender_unit"):
        check_addressing(request, "VN-QN-BP", ["CN-GX-DXGA"])
    with pytest.raises(NoticeAddressError, match="recipient_unit"):
        check_addressing(request, "VN-QN-CA", ["VN-QN-BP"])


def test_forwarded_notice_keeps_content_and_names_the_original() -> None:
    original = golden("verification_result")  # CN-GX-DXGA to VN-QN-CA, their_ref set
    forwarded = forwarded_notice(original, MESSAGE_ID, "VN-QN-CA", ["VN-QN-BP/tran.thi.binh"])
    assert forwarded.fields == original.fields
    assert forwarded.header["forwarded_from"] == {
        "message_id": MESSAGE_ID,
        "sender_unit": "CN-GX-DXGA",
        "our_ref": original.header["our_ref"],
    }
    assert (forwarded.header["sender_unit"], forwarded.header["recipient_unit"]) == (
        "VN-QN-CA",
        "VN-QN-BP",
    )
    assert "their_ref" not in forwarded.header
    again = forwarded_notice(forwarded, "f" * 32, "VN-QN-BP", ["CN-GX-DXGA"])
    assert again.header["forwarded_from"]["message_id"] == "f" * 32
    with pytest.raises(BadInput):
        forwarded_notice(original, MESSAGE_ID, "VN-QN-CA", ["VN-QN-BP", "CN-GX-DXGA"])


def test_h2_notice_is_forwarded_only_within_its_units_and_never_exported() -> None:
    proposal = golden("handover_proposal")  # H2, CN-GX-DXGA to VN-QN-BP
    assert proposal.handling == "H2"
    with pytest.raises(HandlingRestricted) as info:
        forwarded_notice(proposal, MESSAGE_ID, "VN-QN-BP", ["VN-QN-CA"])
    assert info.value.code == "handling_restricted" and "VN-QN-CA" in translate(
        info.value.message, "en"
    )
    assert forwarded_notice(proposal, MESSAGE_ID, "VN-QN-BP", ["CN-GX-DXGA"]).handling == "H2"
    for fmt in ("json", "text", "html"):
        with pytest.raises(HandlingRestricted):
            export_bytes(proposal, fmt, "both")


def test_h1_text_and_html_exports_open_with_the_not_as_evidence_banner() -> None:
    request = golden("verification_request")
    assert request.handling == "H1"
    for fmt in ("text", "html"):
        data = export_bytes(request, fmt, "both").decode("utf-8")
        first_body_line = data.index("Lò Thị Mai")
        for locale in ("vi", "zh_Hans_CN"):
            assert -1 < data.index(gettext_for(locale, HANDLING_CODES["H1"])) < first_body_line
    assert parse_notice(export_bytes(request, "json", "both")) == request


@pytest.mark.parametrize(
    ("path", "requested", "expected"),
    [
        ("out.json", None, "json"),
        ("OUT.HTML", None, "html"),
        ("out.htm", None, "html"),
        ("out.txt", None, "text"),
        ("-", None, "text"),
        ("out.json", "html", "html"),
    ],
)
def test_export_format_follows_the_option_then_the_file_name(path, requested, expected) -> None:
    assert export_format(path, requested) == expected


def test_received_notice_naming_another_sender_unit_than_its_certificate_is_refused() -> None:
    from liaison.client.errors import RefusedEnvelope
    from liaison.client.messages import OpenedMessage
    from liaison.client.notices import notice_payload, open_notice

    request = golden("verification_request")  # names VN-QN-CA as its sender unit

    def opened(sender_device: str) -> OpenedMessage:
        return OpenedMessage(
            message_id=MESSAGE_ID,
            sender_device=sender_device,
            sender_names={},
            sent_at=0,
            log_index=1,
            recipients=("CN-GX-DXGA:li.wei:d1",),
            payload=notice_payload(request),
        )

    assert open_notice(opened("VN-QN-CA:nguyen.van.an:d1")).to_dict() == request.to_dict()
    with pytest.raises(RefusedEnvelope) as refused:
        open_notice(opened("VN-QN-BP:tran.thi.binh:d1"))
    assert refused.value.code == "sender_unit_mismatch"
