"""Rendering: handling code in both languages, names as on the ID, free text as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liaison.domain.fields import NoticeError
from liaison.domain.notices import CATALOGUE, parse_notice
from liaison.i18n.render import render_html, render_text

NOTICES = Path(__file__).resolve().parent.parent / "golden" / "notices"


def load(notice_type: str):
    return parse_notice((NOTICES / f"{notice_type}.json").read_bytes())


@pytest.mark.parametrize("lang", ["vi", "zh", "en"])
def test_handling_code_is_shown_first_in_vietnamese_and_chinese(lang):
    text = render_text(load("handover_proposal"), lang)
    banner = text.split("===")[0]
    assert "HẠN CHẾ SỬ DỤNG H2" in banner and "使用限制 H2" in banner


def test_both_gives_vietnamese_then_chinese_in_the_same_field_order():
    text = render_text(load("handover_proposal"), "both")
    vi, zh = text.split("=== Tiếng Việt ===")[1].split("=== 中文 ===")
    assert (
        vi.index("Thời gian bàn giao") < vi.index("Địa điểm bàn giao") < vi.index("Cán bộ hộ tống")
    )
    assert zh.index("移交时间") < zh.index("移交地点") < zh.index("护送人员")
    assert len(vi.strip().splitlines()) == len(zh.strip().splitlines())


def test_name_of_record_is_unchanged_and_chinese_rendering_marked_transliteration():
    zh = render_text(load("handover_proposal"), "zh")
    assert "Nguyễn Thị Hoa" in zh
    # The label carries the (音) marker once; the value is not marked a second time, even when
    # the officer typed the marker into it.
    assert "中文译名（音）：阮氏花\n" in zh
    record = render_text(load("handover_record"), "zh")
    assert "中文译名（音）：阮氏花\n" in record
    assert "阮氏花 (音)" not in record and "阮氏花（音）" not in record


def test_free_text_is_shown_as_written_with_its_language():
    vi = render_text(load("handover_proposal"), "vi")
    assert "«桂P·12345 白色面包车» [nguyên văn, bằng tiếng Trung]" in vi
    html = render_html(load("handover_proposal"), "vi")
    assert '<span class="free" lang="zh">桂P·12345 白色面包车</span>' in html


def test_handover_at_2330_reads_0030_next_day_in_dongxing():
    text = render_text(load("handover_proposal"), "both")
    assert "23 giờ 30 ngày 03 tháng 12 năm 2026 (giờ Việt Nam" in text
    assert "2026年12月4日 00:30（北京时间，UTC+8）" in text
    assert "东兴：08:00–20:00（北京时间）" in text


def test_html_puts_the_two_languages_side_by_side_and_escapes_text():
    data = json.loads((NOTICES / "receipt_ack.json").read_text(encoding="utf-8"))
    data["fields"]["remarks"] = {"text": "<script>alert(1)</script>", "lang": "en"}
    html = render_html(parse_notice(data), "both")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    row = next(line for line in html.splitlines() if "Nhận lúc" in line)
    assert "接收时间" in row


@pytest.mark.parametrize("notice_type", sorted(CATALOGUE))
@pytest.mark.parametrize("lang", ["vi", "zh_Hans_CN", "en", "both"])
def test_every_type_renders_in_every_language_without_english_leaking(notice_type, lang):
    text = render_text(load(notice_type), lang)
    assert text.strip()
    if lang == "zh_Hans_CN":
        for english in ("Handover", "Sender unit", "Case reference", "Priority"):
            assert english not in text


def test_unknown_language_is_refused():
    with pytest.raises(NoticeError) as info:
        render_text(load("receipt_ack"), "fr")
    assert info.value.code == "bad_language"
