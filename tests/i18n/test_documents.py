"""The signable documents: the handover record both sides sign and the letter form, as HTML and
as PDF (text read back), from plain mappings of already-formatted values."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from liaison.i18n.documents import (
    DocumentValuesError,
    handover_record_pdf,
    letter_pdf,
    page_reference,
    render_handover_record,
    render_letter,
    vi_document_date,
    zh_document_date,
)
from tests.i18n.test_pdf import pdf_pages, require_pdf, squash

HANDOVER_RECORD = {
    "reference": "95/BB-BP",
    "counterpart_reference": "DX-2026-312",
    "message_id": "m_golden0000000001",
    "vi": {
        "issuing_unit": "Bộ Chỉ huy Bộ đội Biên phòng tỉnh Quảng Ninh",
        "subtitle": "Về việc bàn giao, tiếp nhận nạn nhân bị mua bán trở về",
        "handling": "HẠN CHẾ SỬ DỤNG H1: không được dùng làm chứng cứ khi chưa được bên "
        "cung cấp cho phép",
        "counterpart_unit": "Công an thành phố Đông Hưng",
        "time": {
            "date": vi_document_date(date(2026, 12, 5)),
            "hour": "08",
            "minute": "20",
            "zone": "giờ Việt Nam, UTC+7",
        },
        "place": "vạch phân quản cầu Bắc Luân I, cửa khẩu Móng Cái – Đông Hưng",
        "sides": [
            {
                "heading": "Đại diện phía Trung Quốc (bên giao)",
                "members": [
                    {
                        "name": "王伟 (Vương Vĩ)",
                        "position": "cán bộ",
                        "unit": "Công an thành phố Đông Hưng",
                    }
                ],
            },
            {
                "heading": "Đại diện phía Việt Nam (bên nhận)",
                "members": [
                    {
                        "name": "Trần Văn Đức",
                        "position": "Đội trưởng",
                        "unit": "Đồn Biên phòng Móng Cái",
                    },
                    {"name": "Hoàng Minh", "position": "phiên dịch"},
                ],
            },
        ],
        "persons": [
            {
                "name": "Nguyễn Thị Hoa",
                "rows": [
                    ["Giới tính", "nữ"],
                    ["Năm sinh", "2009 (ước tính)"],
                    ["Dân tộc", "Kinh"],
                    ["Quốc tịch", "Việt Nam"],
                ],
            }
        ],
        "sections": [
            {"heading": "Tư trang", "items": ["Một ba lô màu xanh", "Một điện thoại di động"]},
            {"heading": "Tình trạng sức khỏe", "items": ["Tỉnh táo, không có thương tích"]},
        ],
        "signatures": [
            {"heading": "ĐẠI DIỆN PHÍA TRUNG QUỐC", "name": "王伟", "position": "Cán bộ"},
            {"heading": "ĐẠI DIỆN PHÍA VIỆT NAM", "name": "Trần Văn Đức", "position": "Đội trưởng"},
        ],
    },
    "zh": {
        "issuing_unit": "越南广宁省边防部队指挥部",
        "subtitle": "关于移交、接收被拐卖受害人回国事宜",
        "handling": "使用限制 H1：未经提供方许可，不得作为证据使用",
        "counterpart_unit": "东兴市公安局",
        "time": {
            "date": zh_document_date(date(2026, 12, 5)),
            "hour": "9",
            "minute": "20",
            "zone": "北京时间，UTC+8",
        },
        "place": "北仑河一桥分管线，芒街（越南广宁省）—东兴（广西）口岸",
        "sides": [
            {
                "heading": "中方代表（移交方）",
                "members": [{"name": "王伟", "position": "工作人员", "unit": "东兴市公安局"}],
            },
            {
                "heading": "越方代表（接收方）",
                "members": [
                    {"name": "Trần Văn Đức（陈文德）", "position": "队长", "unit": "芒街边防站"},
                    {"name": "Hoàng Minh（黄明）", "position": "翻译"},
                ],
            },
        ],
        "persons": [
            {
                "name": "Nguyễn Thị Hoa（阮氏花，音）",
                "rows": [
                    ["性别", "女"],
                    ["出生年份", "2009年（估计）"],
                    ["民族", "京族"],
                    ["国籍", "越南"],
                ],
            }
        ],
        "sections": [
            {"heading": "随身物品", "items": ["蓝色背包一个（越文原文）", "手机一部"]},
            {"heading": "健康状况", "items": ["神志清醒，无外伤（译文，翻译：黄明）"]},
        ],
        "signatures": [
            {"heading": "中方代表", "name": "王伟", "position": "工作人员"},
            {"heading": "越方代表", "name": "Trần Văn Đức", "position": "队长"},
        ],
    },
}

LETTER = {
    "reference": "45/XM-PA08",
    "counterpart_reference": "东公（刑）协字〔2026〕17号",
    "message_id": "m_golden0000000002",
    "vi": {
        "issuing_unit": "Công an tỉnh Quảng Ninh",
        "place": "Quảng Ninh",
        "date": vi_document_date(date(2026, 12, 3)),
        "subject": "Đề nghị xác minh nhân thân và quốc tịch",
        "addressee": "Công an thành phố Đông Hưng",
        "handling": None,
        "body": [
            {
                "label": "Người liên quan",
                "items": ["Lò Thị Mai, nữ, sinh ngày 17 tháng 5 năm 2004"],
            },
            {
                "label": "Hạn trả lời",
                "items": ["16 giờ 00 ngày 20 tháng 12 năm 2026 (giờ Việt Nam)"],
            },
        ],
        "signature": {"title": "TRƯỞNG PHÒNG", "name": "Phạm Quốc Hưng"},
    },
    "zh": {
        "issuing_unit": "越南广宁省公安厅",
        "place": "广宁",
        "date": zh_document_date(date(2026, 12, 3)),
        "subject": "关于协助核实身份和国籍的函",
        "addressee": "东兴市公安局",
        "handling": None,
        "body": [
            {"label": "相关人员", "items": ["Lò Thị Mai（罗氏梅，音），女，2004年5月17日出生"]},
            {"label": "答复期限", "items": ["2026年12月20日17时（北京时间，UTC+8）"]},
        ],
        "signature": {"title": "处长", "name": "Phạm Quốc Hưng（范国兴）"},
    },
}


@pytest.mark.parametrize(
    ("day", "vi", "zh"),
    [
        (date(2027, 2, 7), "ngày 07 tháng 02 năm 2027", "2027年2月7日"),
        (date(2027, 1, 31), "ngày 31 tháng 01 năm 2027", "2027年1月31日"),
        (date(2026, 3, 5), "ngày 05 tháng 3 năm 2026", "2026年3月5日"),
        (date(2026, 12, 18), "ngày 18 tháng 12 năm 2026", "2026年12月18日"),
    ],
)
def test_document_dates_follow_decree_30_and_chinese_style(day, vi, zh):
    assert vi_document_date(day) == vi
    assert zh_document_date(day) == zh


def test_handover_record_has_the_opening_formula_in_both_languages():
    html = render_handover_record(HANDOVER_RECORD)
    assert (
        "Hôm nay, hồi 08 giờ 20 phút (giờ Việt Nam, UTC+7), ngày 05 tháng 12 năm 2026, "
        "tại vạch phân quản cầu Bắc Luân I, cửa khẩu Móng Cái – Đông Hưng, chúng tôi gồm:"
    ) in html
    assert (
        "于2026年12月5日9时20分（北京时间，UTC+8），在北仑河一桥分管线，"
        "芒街（越南广宁省）—东兴（广西）口岸，双方人员如下："
    ) in html


def test_handover_record_has_the_closing_and_a_signature_block_per_side():
    html = render_handover_record(HANDOVER_RECORD)
    assert "Biên bản được lập thành 02 bản, mỗi bên giữ 01 bản, có giá trị như nhau." in html
    assert "本记录一式两份，双方各执一份，具有同等效力。" in html
    assert html.count("(Ký, ghi rõ họ tên)") == 2
    assert html.count("（签名）") == 2
    assert "ĐẠI DIỆN PHÍA VIỆT NAM" in html and "越方代表" in html


def test_handover_record_cites_the_counterpart_reference_and_keeps_the_id_a_footnote():
    html = render_handover_record(HANDOVER_RECORD)
    assert "Căn cứ văn bản số DX-2026-312 của Công an thành phố Đông Hưng." in html
    assert "根据东兴市公安局文件（编号：DX-2026-312）。" in html
    assert '<p class="footnote">' in html
    assert html.index("m_golden0000000001") > html.index("本记录一式两份")


def test_values_are_escaped():
    values = copy.deepcopy(HANDOVER_RECORD)
    values["vi"]["persons"][0]["name"] = '<script>alert("x")</script>'
    html = render_handover_record(values)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_columns_that_do_not_match_are_refused():
    values = copy.deepcopy(HANDOVER_RECORD)
    values["zh"]["persons"] = []
    with pytest.raises(DocumentValuesError, match="persons"):
        render_handover_record(values)


def test_a_missing_value_is_refused_not_printed_empty():
    values = copy.deepcopy(LETTER)
    del values["zh"]["addressee"]
    with pytest.raises(DocumentValuesError, match="addressee"):
        render_letter(values)


def test_letter_has_the_official_correspondence_form():
    html = render_letter(LETTER)
    assert "Số: 45/XM-PA08" in html
    assert "V/v: Đề nghị xác minh nhân thân và quốc tịch" in html
    assert "Quảng Ninh, ngày 03 tháng 12 năm 2026" in html
    assert "<b>Kính gửi:</b> Công an thành phố Đông Hưng." in html
    assert "东兴市公安局：" in html
    assert "关于协助核实身份和国籍的函" in html
    assert "贵单位来函（编号：东公（刑）协字〔2026〕17号）收悉。" in html
    assert "Trả lời văn bản số 东公（刑）协字〔2026〕17号 của Công an thành phố Đông Hưng" in html
    assert "2026年12月3日" in html


@pytest.mark.parametrize("render", [render_handover_record, render_letter])
def test_no_zone_id_or_half_width_chinese_punctuation_in_printed_text(render):
    values = HANDOVER_RECORD if render is render_handover_record else LETTER
    html = render(values)
    assert "Asia/" not in html
    chinese = [line for line in html.splitlines() if 'lang="zh"' in line]
    for line in chinese:
        text = line.split(">", 1)[-1]
        assert not any(mark in text for mark in ("(北京", "时间,", "：(")), line


def test_handover_record_pdf_text(tmp_path):
    require_pdf()
    pages = pdf_pages(handover_record_pdf(HANDOVER_RECORD), tmp_path)
    text = squash("".join(pages))
    for expected in (
        "BIÊN BẢN BÀN GIAO",
        "交接记录",
        "Hôm nay, hồi 08 giờ 20 phút",
        "于2026年12月5日9时20分（北京时间，UTC+8）",
        "Biên bản được lập thành 02 bản, mỗi bên giữ 01 bản, có giá trị như nhau.",
        "本记录一式两份，双方各执一份，具有同等效力。",
        "Nguyễn Thị Hoa",
        "京族",
    ):
        assert squash(expected) in text, expected
    for number, page in enumerate(pages, start=1):
        assert squash(page_reference("95/BB-BP")) in squash(page)
        assert f"{number}/{len(pages)}" in squash(page)


def test_letter_pdf_text(tmp_path):
    require_pdf()
    text = squash("".join(pdf_pages(letter_pdf(LETTER), tmp_path)))
    for expected in (
        "Kính gửi:",
        "V/v:",
        "东兴市公安局：",
        "现将有关情况函告如下：",
        "2026年12月3日",
    ):
        assert squash(expected) in text, expected
