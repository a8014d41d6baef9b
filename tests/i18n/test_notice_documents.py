"""Notices as the documents officers sign: which form, the title, the references, who hands
over, values in each column's language, officer-supplied translations, and no flags or zone ids
on the page."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from liaison.domain.fields import OPTIONAL_MARK
from liaison.domain.notices import parse_notice
from liaison.i18n import gettext_for
from liaison.i18n.documents import (
    handing_over_side,
    handover_record_values,
    letter_values,
    notice_document,
)
from liaison.i18n.render import render_html, render_text

NOTICES = Path(__file__).resolve().parent.parent / "golden" / "notices"
META = {"message_id": "m_golden0000000001", "sent_at": 1796333400}


def raw(name: str) -> dict:
    return json.loads((NOTICES / f"{name}.json").read_text(encoding="utf-8"))


def load(name: str, **fields):
    """A golden notice with `fields` replaced (a value of None removes the field)."""
    data = raw(name)
    data["fields"].update(fields)
    data["fields"] = {key: value for key, value in data["fields"].items() if value is not None}
    return parse_notice(data)


def test_handover_record_is_the_record_form_and_other_types_the_letter_form():
    record = notice_document(load("handover_record"), META)
    assert "BIÊN BẢN BÀN GIAO" in record and "交接记录" in record
    assert "Biên bản được lập thành 02 bản" in record and "本记录一式两份" in record
    letter = notice_document(load("verification_result"), META)
    assert "Kính gửi:" in letter and "BIÊN BẢN BÀN GIAO" not in letter


@pytest.mark.parametrize(
    ("name", "fields", "vi", "zh"),
    [
        (
            "reschedule_cancellation",
            {"action": "cancel", "new_slot": None},
            "Hủy bàn giao",
            "取消移交",
        ),
        (
            "reschedule_cancellation",
            {"action": "reschedule"},
            "Thay đổi thời gian bàn giao",
            "改期",
        ),
        (
            "handover_response",
            {"decision": "accept", "slot": None, "place": None},
            "Đồng ý bàn giao",
            "同意移交",
        ),
        ("handover_response", {"decision": "counter"}, "Đề xuất phương án khác", "另提方案"),
    ],
)
def test_a_or_b_types_are_titled_by_their_decision(name, fields, vi, zh):
    notice = load(name, **fields)
    values = letter_values(notice, META)
    assert values["vi"]["subject"] == vi and values["zh"]["subject"] == zh
    text = render_text(notice, "both")
    assert f"Loại văn bản: {vi}" in text and f"通报类型：{zh}" in text
    assert "Reschedule or cancellation" not in text
    assert f"<title>{vi} / {zh}</title>" in render_html(notice, "both")


def test_a_reply_cites_the_counterparts_number_and_the_message_ids_only_as_footnotes():
    document = notice_document(load("handover_response"), META)
    assert "Trả lời văn bản số DX-2026-312 của Công an thành phố Đông Hưng" in document
    assert "贵单位来函（编号：DX-2026-312）收悉" in document
    body, footnotes = document.split('<p class="footnote">', 1)
    assert "m_fedcba9876543210" not in body and "m_golden0000000001" not in body
    assert "m_fedcba9876543210" in footnotes and "m_golden0000000001" in footnotes


def test_the_side_that_hands_over_follows_the_persons_nationality():
    record = load("handover_record")
    assert handing_over_side(record) == "cn"  # a Vietnamese citizen is handed to Viet Nam
    values = handover_record_values(record, META)
    assert values["vi"]["sides"][0]["heading"] == "Đại diện phía Trung Quốc (bên giao)"
    assert values["zh"]["sides"][1]["heading"] == "越方代表（接收方）"
    persons = raw("handover_record")["fields"]["persons"]
    persons[0]["nationality"] = "CN"
    assert handing_over_side(load("handover_record", persons=persons)) == "vn"
    del persons[0]["nationality"]
    unknown = handover_record_values(load("handover_record", persons=persons), META)
    assert unknown["vi"]["sides"][0]["heading"] == "Đại diện phía Việt Nam"


def test_positions_and_translations_appear_in_each_column_language():
    values = handover_record_values(load("handover_record"), META)
    vi_members = {m["name"]: m for side in values["vi"]["sides"] for m in side["members"]}
    zh_members = {m["name"]: m for side in values["zh"]["sides"] for m in side["members"]}
    assert vi_members["王伟"]["position"] == "Phó Đồn trưởng"
    assert zh_members["王伟"]["position"] == "副所长"
    assert zh_members["Trần Văn Đức"]["position"] == "站长"


def test_free_text_translation_is_marked_and_the_original_stays_the_text_of_record():
    text = render_text(load("handover_record"), "both")
    vi, zh = text.split("=== 中文 ===")
    assert "«Tỉnh táo, không có thương tích» [nguyên văn, bằng tiếng Việt; là văn bản gốc" in vi
    assert "“神志清醒，无外伤”（译文，译者：Hoàng Minh；以越南文原文为准）" in zh
    assert "“手机一部”（原文，中文；以原文为准）" in zh
    assert "«Một điện thoại di động» [bản dịch của Hoàng Minh" in vi


def test_code_list_values_are_shown_in_each_columns_language():
    text = render_text(load("handover_record"), "zh")
    assert "民族：京族" in text and "国籍：越南" in text
    assert "语言：越南语 – 汉语（普通话）" in text
    stats = render_text(load("statistics"), "zh")
    assert "按路线：陆路（公路）：9" in stats
    vi = render_text(load("verification_request"), "vi")
    assert "Dân tộc: Thái" in vi and "Loại giấy tờ: giấy giới thiệu" in vi


def test_named_points_are_places_named_in_both_languages():
    text = render_text(load("handover_record"), "both")
    assert "Vạch phân quản cầu Bắc Luân I" in text and "北仑河一桥分管线" in text


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTICES.glob("*.json")))
def test_printed_pages_carry_no_unverified_flag_and_no_zone_id(name):
    notice = load(name)
    for page in (notice_document(notice, META), render_html(notice, "both", message_meta=META)):
        assert "名称待核实" not in page and "tên chưa xác minh" not in page
        assert "Asia/" not in page
    # The officer's own terminal view keeps the flag (VN-QN-BP's Chinese name is unverified).
    if raw(name)["header"]["sender_unit"] == "VN-QN-BP":
        assert "[名称待核实]" in render_text(notice, "zh")


def test_chinese_text_takes_full_width_punctuation():
    text = render_text(load("statistics"), "zh")
    assert "按性别：女：14" in text
    record = render_text(load("handover_record"), "zh")
    assert "（北京时间，UTC+8）" in record and "(北京时间" not in record
    assert "相关人员（1/1）：" in record and "(1/1)" not in record


def test_the_optional_marker_of_templates_is_translated():
    assert gettext_for("vi", OPTIONAL_MARK) == "không bắt buộc"
    assert gettext_for("zh_Hans_CN", OPTIONAL_MARK) == "选填"


def test_values_that_are_not_codes_are_refused_and_old_names_still_accepted():
    data = raw("handover_record")
    person = copy.deepcopy(data["fields"]["persons"][0])
    person["ethnicity"] = "Kinh"  # a name written before the field took codes
    person["nationality"] = "Việt Nam"
    assert parse_notice({**data, "fields": {**data["fields"], "persons": [person]}})
    person["ethnicity"] = "Martian"
    with pytest.raises(Exception) as info:
        parse_notice({**data, "fields": {**data["fields"], "persons": [person]}})
    assert getattr(info.value, "code", None) == "unknown_code"
