"""Handling code H2: a notice cannot be forwarded beyond its recipients nor exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liaison.domain.notices import (
    HandlingRestricted,
    ensure_may_export,
    ensure_may_forward,
    parse_notice,
)
from liaison.i18n import translate

NOTICES = Path(__file__).resolve().parent.parent / "golden" / "notices"


def notice_with(handling: str):
    data = json.loads((NOTICES / "verification_result.json").read_text(encoding="utf-8"))
    data["header"]["handling"] = handling
    if handling == "H3":
        data["header"]["handling_note"] = {"text": "仅限核查使用", "lang": "zh"}
    return parse_notice(data)


def test_h2_notice_cannot_be_forwarded_to_a_new_recipient():
    notice = notice_with("H2")
    with pytest.raises(HandlingRestricted) as info:
        ensure_may_forward(notice, ["VN-QN-CA", "INT-UNODC"], ["VN-QN-CA", "CN-GX-DXGA"])
    assert info.value.code == "handling_restricted"
    assert isinstance(info.value, PermissionError)
    assert "INT-UNODC" in translate(info.value.message, "en")
    assert "H2" in translate(info.value.message, "vi") and "H2" in translate(
        info.value.message, "zh"
    )


def test_h2_notice_may_go_again_to_its_original_recipients():
    ensure_may_forward(notice_with("H2"), ["CN-GX-DXGA"], ["VN-QN-CA", "CN-GX-DXGA"])


def test_h2_notice_cannot_be_exported():
    with pytest.raises(HandlingRestricted):
        ensure_may_export(notice_with("H2"))


@pytest.mark.parametrize("handling", ["H0", "H1", "H3"])
def test_other_handling_codes_do_not_block_forward_or_export(handling):
    notice = notice_with(handling)
    ensure_may_forward(notice, ["INT-UNODC"], ["VN-QN-CA"])
    ensure_may_export(notice)
