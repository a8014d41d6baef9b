"""Terms a Vietnamese or Chinese officer would not sign stay out of the catalogues and the data.

The glossary of issue 12 (and DOMAIN.md): supervisor review is "kiểm tra / giám sát" (never
"kiểm duyệt", which reads as censorship); a victim's referral is "chuyển giao" (never the medical
"chuyển tuyến"); escorts, signatories and staff are "护送人员 / 工作人员 / 工作证号": the people
named in these fields are border guards and social-affairs staff as often as police, and no
message id of the catalogue is about police only, so "民警" and "警号" are refused everywhere
rather than allowed in a context no entry has; a hash is "哈希值" (never "摘要"); references are
the sender's and the recipient's (发件方 / 收件方), not 我方 / 贵方, which a Chinese reader takes as
"China" / "Vietnam"; a key fingerprint is "密钥指纹" (plain 指纹 only for biometric fingerprints);
place names are spelled as the people who live there spell them.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent.parent
LOCALES = ROOT / "locales"

# Biometric fingerprints are 指纹 and vân tay: these ids name the biometric data, not a key.
BIOMETRIC_IDS = frozenset({"fingerprints", "Biometric data available: fingerprints, dna, face"})

# (language, pattern, why, ids allowed): a msgstr of that language matching is refused.
FORBIDDEN = [
    (
        "vi",
        re.compile(r"kiểm duyệt", re.I),
        "censorship; supervisor review is kiểm tra / giám sát",
        frozenset(),
    ),
    (
        "vi",
        re.compile(r"chuyển tuyến", re.I),
        "medical referral; a victim's referral is chuyển giao",
        frozenset(),
    ),
    (
        "vi",
        re.compile(r"dấu vân tay", re.I),
        "biometric; a key fingerprint is mã nhận dạng khóa",
        BIOMETRIC_IDS,
    ),
    (
        "vi",
        re.compile(r"Ái Điếm|Đồng Trung"),
        "place names are Ái Điểm and Động Trung",
        frozenset(),
    ),
    (
        "zh",
        re.compile(r"民警"),
        "escorts and staff are not all police: 护送人员 / 工作人员",
        frozenset(),
    ),
    ("zh", re.compile(r"警号"), "a staff ID is 工作证号", frozenset()),
    ("zh", re.compile(r"摘要"), "a hash is 哈希值", frozenset()),
    ("zh", re.compile(r"我方|贵方"), "references are 发件方 / 收件方", frozenset()),
    ("zh", re.compile(r"(?<!密钥)指纹"), "a key fingerprint is 密钥指纹", BIOMETRIC_IDS),
    ("zh", re.compile(r"反提议"), "a counter-proposal is 另提方案", frozenset()),
    ("zh", re.compile(r"处理代码"), "a handling code is 使用限制", frozenset()),
    ("zh", re.compile(r"塔隆"), "Tà Lùng is 驮隆", frozenset()),
]

CATALOGUE_DIRS = {"vi": "vi", "zh": "zh_Hans_CN"}

# Entries of the issue's list, checked both ways: the term is there, not only the old one gone.
REQUIRED = {
    "vi": {
        "Handling code": "Mức hạn chế sử dụng",
        "Handling note": "Ghi chú về hạn chế sử dụng",
        "HANDLING {code}: {meaning}": "HẠN CHẾ SỬ DỤNG {code}: {meaning}",
        "Our reference": "Số văn bản bên gửi",
        "Your reference": "Số văn bản bên nhận",
        "Handover acceptance or counter-proposal": "Chấp nhận bàn giao hoặc đề xuất phương án khác",
        "reschedule": "thay đổi thời gian",
        "Action": "Hình thức",
        "Decision": "Ý kiến trả lời",
        "Side": "Phía",
        "Persons": "Người liên quan",
        "Reporting post": "Đơn vị báo tin",
        "Circumstances": "Diễn biến sự việc",
        "Referral and support status": "Tình hình chuyển giao và hỗ trợ nạn nhân",
        "Chinese rendering (音)": "Tên phiên âm chữ Hán (音)",
        "Supervisor review of the agency's traffic (every review is logged)": (
            "Cán bộ giám sát kiểm tra thông báo của cơ quan (mỗi lần kiểm tra đều được ghi nhật ký)"
        ),
    },
    "zh": {
        "Escorting officers": "护送人员",
        "Officer ID": "工作证号",
        "Officer's name": "人员姓名",
        "Digest of the notice received": "所收通报的哈希值",
        "Handover record hash": "交接记录哈希值",
        "Handling code": "使用限制",
        "Handling note": "使用限制说明",
        "HANDLING {code}: {meaning}": "使用限制 {code}：{meaning}",
        "Our reference": "发件方编号",
        "Your reference": "收件方编号",
        "counter-proposal": "另提方案",
        "Handover acceptance or counter-proposal": "同意移交或另提方案",
        "Action": "变更类型",
        "Decision": "答复意见",
        "Side": "所属方",
        "Acknowledgement of receipt": "回执",
        "Persons": "相关人员",
        "Reporting post": "报告单位",
        "proposed": "待核对",
        "agreed": "已核对一致",
        "disputed": "存在差异",
        "Chinese rendering (音)": "中文译名（音）",
        "Border gate pair {vn} ({vn_province}) – {cn} ({cn_province})": (
            "{vn}（越南{vn_province}）—{cn}（{cn_province}）口岸"
        ),
    },
}


def translations(language: str) -> dict[str, str]:
    path = LOCALES / CATALOGUE_DIRS[language] / "LC_MESSAGES" / "liaison.po"
    with path.open("rb") as fh:
        catalogue = read_po(fh, locale=CATALOGUE_DIRS[language])
    return {m.id: m.string for m in catalogue if m.id and isinstance(m.id, str)}


def data_strings() -> list[tuple[str, str]]:
    """(file name, string) for every string value of the packaged data files but their comments.

    A file's "comment" explains the data and may quote a refused term to say why it is refused.
    """
    found: list[tuple[str, str]] = []

    def walk(name: str, value: object) -> None:
        if isinstance(value, str):
            found.append((name, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if key != "comment":
                    walk(name, item)
        elif isinstance(value, list):
            for item in value:
                walk(name, item)

    for entry in resources.files("liaison.data").iterdir():
        if entry.name.endswith(".json"):
            walk(entry.name, json.loads(entry.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("language", ["vi", "zh"])
def test_no_catalogue_entry_uses_a_refused_term(language):
    offending = [
        f"{msgid!r}: {text!r} ({why})"
        for lang, pattern, why, allowed in FORBIDDEN
        if lang == language
        for msgid, text in translations(language).items()
        if pattern.search(text) and msgid not in allowed
    ]
    assert not offending, "\n".join(offending)


def test_no_data_file_uses_a_refused_term():
    offending = [
        f"{name}: {text!r} ({why})"
        for _lang, pattern, why, _allowed in FORBIDDEN
        for name, text in data_strings()
        if pattern.search(text)
    ]
    assert not offending, "\n".join(offending)


@pytest.mark.parametrize("language", ["vi", "zh"])
def test_issue_terms_are_the_translations(language):
    catalogue = translations(language)
    wrong = {
        msgid: (catalogue.get(msgid), expected)
        for msgid, expected in REQUIRED[language].items()
        if catalogue.get(msgid) != expected
    }
    assert not wrong


def test_biometric_fingerprints_keep_the_biometric_word():
    # The exception above is for these entries only: they must stay biometric, not become keys.
    assert translations("zh")["fingerprints"] == "指纹"
    assert translations("vi")["fingerprints"] == "vân tay"


def test_place_names_as_spelled_on_each_side():
    gates = json.loads(resources.files("liaison.data").joinpath("gates.json").read_text("utf-8"))
    names = {
        side["names"]["en"]: side["names"]
        for pair in gates["gate_pairs"]
        for side in (pair["vn"], pair["cn"])
    }
    assert names["Aidian"]["vi"] == "Ái Điểm"
    assert names["Dongzhong"]["vi"] == "Động Trung"
    assert names["Ta Lung"]["zh"] == "驮隆"


def test_standard_agency_renderings_are_not_flagged_unverified():
    raw = json.loads(resources.files("liaison.data").joinpath("agencies.json").read_text("utf-8"))
    by_code = {a["code"]: a for a in raw["agencies"]}
    assert by_code["VN-QN-CA"]["names"]["zh"] == "广宁省公安厅"
    assert "zh" not in by_code["VN-QN-CA"]["unverified"]
    assert by_code["CN-GX-DXGA"]["names"]["zh"] == "东兴市公安局"
    assert "vi" not in by_code["CN-GX-DXGA"]["unverified"]
