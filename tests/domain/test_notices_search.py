"""Search matches with and without Vietnamese diacritics, in any case, đ as d."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.notices import matches, notice_search_text, parse_notice, search_key


def test_query_without_diacritics_finds_name_with_them():
    assert matches("Nguyen Thi", "Nguyễn Thị Hoa")
    assert matches("nguyen thi hoa", "NGUYỄN THỊ HOA")


def test_d_with_stroke_folds_to_d_both_ways():
    assert matches("Dang Thi Thu", "Đặng Thị Thu")
    assert matches("đặng", "Dang Thi Thu")
    assert search_key("Đỗ Đức") == "do duc"


def test_query_with_diacritics_still_matches_and_decomposed_text_too():
    assert matches("Nguyễn", unicodedata.normalize("NFD", "Nguyễn Thị Hoa"))


def test_words_may_come_in_any_order_but_all_must_occur():
    assert matches("hoa nguyen", "Nguyễn Thị Hoa")
    assert not matches("Nguyen Van", "Nguyễn Thị Hoa")
    assert not matches("Lan", "Nguyễn Thị Hoa")


def test_chinese_text_is_matched_as_is():
    assert matches("阮氏", "阮氏花")


def test_search_text_of_a_notice_includes_names_and_free_text():
    notice = parse_notice(
        {
            "liaison_notice": 1,
            "type": "receipt_ack",
            "header": {
                "our_ref": "1",
                "sender_unit": "VN-QN-CA",
                "recipient_unit": "CN-GX-DXGA",
                "case_ref": "C-1",
                "handling": "H0",
                "priority": "normal",
            },
            "fields": {
                "received": "person",
                "received_at": {"utc": "2026-12-01T01:00:00Z", "tz": "Asia/Shanghai"},
                "persons": [{"name": "Đinh Thị Lụa", "sex": "female"}],
            },
        }
    )
    assert matches("dinh thi lua", notice_search_text(notice))


@settings(max_examples=60)
@given(st.text(alphabet="aăâeêioôơuưyđAĂÂĐ áàảãạ", min_size=1, max_size=20))
def test_folding_is_idempotent_and_ascii_for_vietnamese_letters(text):
    key = search_key(text)
    assert search_key(key) == key
    assert key.isascii()
