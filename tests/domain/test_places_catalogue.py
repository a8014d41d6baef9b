"""Gate pairs and agencies come from data files with names in vi/zh/en and zones per side."""

from __future__ import annotations

from datetime import time

from liaison.domain.agencies import AGENCY_CODE, agencies, agency, reason_codes
from liaison.domain.places import gate_pair, gate_pairs


def test_eleven_gate_pairs_each_with_names_in_three_languages_and_both_zones():
    pairs = gate_pairs()
    assert len(pairs) == 11
    for pair in pairs.values():
        for side in (pair.vn, pair.cn):
            assert set(side.names) == {"vi", "zh", "en"}
            assert side.unverified <= {"vi", "zh", "en"}
        assert pair.vn.tz == "Asia/Ho_Chi_Minh" and pair.cn.tz == "Asia/Shanghai"


def test_dongxing_opens_0800_to_2000_beijing_time():
    pair = gate_pair("mong-cai--dongxing")
    assert pair.cn.name("zh") == "东兴" and pair.vn.name("vi") == "Móng Cái"
    assert pair.cn.hours.open == time(8) and pair.cn.hours.close == time(20)
    assert pair.cn.tz == "Asia/Shanghai"


def test_names_the_domain_brief_marks_to_verify_are_marked_unverified():
    for gate_id in (
        "hoanh-mo--dongzhong",
        "bac-phong-sinh--lihuo",
        "ta-lung--shuikou",
        "muong-khuong--qiaotou",
        "thanh-thuy--tianbao",
        "tra-linh--longbang",
    ):
        assert not gate_pair(gate_id).cn.name_verified("zh"), gate_id
    assert gate_pair("lao-cai--hekou").cn.name_verified("zh")


def test_agency_codes_are_well_formed_and_named_in_vi_and_zh():
    catalogue = agencies()
    for code in ("VN-QN-CA", "VN-QN-BP", "VN-QN-SYT", "CN-GX-DXGA"):
        assert code in catalogue
    for entry in catalogue.values():
        assert AGENCY_CODE.match(entry.code) and entry.code.startswith(entry.country)
        assert entry.names["vi"] and entry.names["zh"]
    assert agency("CN-GX-DXGA").name("zh") == "东兴市公安局"
    assert agency("VN-XX-UNKNOWN") is None


def test_reason_codes_of_the_contract_are_in_the_data_file():
    assert set(reason_codes()) == {
        "weather",
        "documents",
        "health",
        "security",
        "transport",
        "other",
    }


def test_a_gate_added_to_the_data_file_is_usable_without_code_change(monkeypatch):
    from liaison.domain import _data, agencies, places
    from liaison.domain.notices import parse_notice

    real = _data.load("gates")
    extra = {
        "id": "bac-luan-bridge--dongxing",
        "status": "test",
        "vn": dict(real["gate_pairs"][0]["vn"]),
        "cn": dict(real["gate_pairs"][0]["cn"]),
    }
    patched = {**real, "gate_pairs": [*real["gate_pairs"], extra]}
    monkeypatch.setattr(
        places, "load", lambda name: patched if name == "gates" else _data.load(name)
    )
    places.gate_pairs.cache_clear()
    try:
        notice = parse_notice(
            {
                "liaison_notice": 1,
                "type": "self_return",
                "header": {
                    "our_ref": "1",
                    "sender_unit": "VN-QN-BP",
                    "recipient_unit": "VN-QN-CA",
                    "case_ref": "C-9",
                    "handling": "H0",
                    "priority": "normal",
                },
                "fields": {
                    "persons": [{"name": "Vi Văn Sáng", "sex": "male"}],
                    "found_at": {"kind": "gate", "gate": "bac-luan-bridge--dongxing"},
                    "found_when": {"utc": "2026-12-01T01:00:00Z", "tz": "Asia/Ho_Chi_Minh"},
                    "reporting_post": "VN-QN-BP-MC",
                },
            }
        )
        assert notice.fields["found_at"]["gate"] == "bac-luan-bridge--dongxing"
    finally:
        monkeypatch.undo()
        places.gate_pairs.cache_clear()
    assert "bac-luan-bridge--dongxing" not in places.gate_pairs()
    assert agencies.agency("VN-QN-CA") is not None
