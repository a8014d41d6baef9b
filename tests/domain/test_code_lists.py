"""Code lists: complete, unique, named in both languages, NFC, looked up as officers type."""

from __future__ import annotations

import json
import unicodedata
from importlib import resources

import pytest

from liaison.domain.code_lists import (
    DOCUMENT_TYPE,
    ETHNICITY,
    INTERPRETER_LANGUAGE,
    LIST_NAMES,
    NAME_LANGUAGES,
    NATIONALITY,
    TRANSPORT_ROUTE,
    code_list,
    code_lists,
    display,
)
from liaison.domain.notices import ID_DOCUMENT_TYPES


def raw_lists() -> dict:
    text = resources.files("liaison.data").joinpath("code_lists.json").read_text("utf-8")
    return json.loads(text)["lists"]


def test_every_list_is_in_the_data_file():
    assert set(code_lists()) == set(LIST_NAMES)


def test_the_54_ethnic_groups_of_viet_nam_with_their_statistics_office_codes():
    groups = code_list(ETHNICITY)
    assert list(groups.entries) == [f"{n:02d}" for n in range(1, 55)]
    assert len({e.names["vi"] for e in groups.entries.values()}) == 54
    assert len({e.names["zh"] for e in groups.entries.values()}) == 54


@pytest.mark.parametrize("name", LIST_NAMES)
def test_codes_are_unique_in_the_file(name):
    codes = [raw["code"] for raw in raw_lists()[name]["entries"]]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("name", LIST_NAMES)
def test_every_entry_is_named_in_each_language_in_nfc(name):
    for raw in raw_lists()[name]["entries"]:
        assert set(raw["names"]) == set(NAME_LANGUAGES), raw["code"]
        for text in [*raw["names"].values(), *raw.get("aliases", ())]:
            assert text.strip() == text and text, raw["code"]
            assert unicodedata.normalize("NFC", text) == text, raw["code"]
        assert isinstance(raw["verified"], bool), raw["code"]


@pytest.mark.parametrize("name", LIST_NAMES)
def test_no_chinese_name_is_a_copy_of_the_vietnamese_one(name):
    # The point of the lists: no one-language word in the other column.
    for entry in code_list(name).entries.values():
        assert entry.names["zh"] != entry.names["vi"], entry.code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry.names["zh"]), entry.code


def test_no_alias_or_name_points_at_two_entries():
    for name in LIST_NAMES:
        seen: dict[str, str] = {}
        for entry in code_list(name).entries.values():
            for key in {entry.code, *entry.names.values(), *entry.aliases}:
                folded = " ".join(key.casefold().replace("-", " ").split())
                assert seen.setdefault(folded, entry.code) == entry.code, (name, key)


@pytest.mark.parametrize(
    ("list_name", "code", "vi", "zh"),
    [
        (ETHNICITY, "01", "Kinh", "京族"),
        (ETHNICITY, "03", "Thái", "泰族"),
        (ETHNICITY, "08", "HMông", "赫蒙族（苗族）"),
        (NATIONALITY, "VN", "Việt Nam", "越南"),
        (NATIONALITY, "CN", "Trung Quốc", "中国"),
        (INTERPRETER_LANGUAGE, "vi", "tiếng Việt", "越南语"),
        (TRANSPORT_ROUTE, "road", "đường bộ", "陆路（公路）"),
        (DOCUMENT_TYPE, "id_card", "thẻ căn cước", "身份证"),
        (DOCUMENT_TYPE, "border_pass", "giấy thông hành", "通行证"),
    ],
)
def test_display_value_per_language(list_name, code, vi, zh):
    assert display(list_name, code, "vi") == vi
    assert display(list_name, code, "zh") == zh
    assert display(list_name, code, "zh_Hans_CN") == zh


def test_unknown_code_has_no_display_value():
    assert display(NATIONALITY, "ZZ", "vi") is None
    assert code_list(ETHNICITY).entry("55") is None


@pytest.mark.parametrize("typed", ["Khơ-me", "khơ me", "Khmer", "KHƠ-ME", "05", "高棉族"])
def test_find_reads_what_officers_type(typed):
    assert code_list(ETHNICITY).find(typed).code == "05"


def test_find_keeps_diacritics_apart():
    assert code_list(ETHNICITY).find("Co").code == "30"
    assert code_list(ETHNICITY).find("Cờ Lao").code == "47"
    assert code_list(ETHNICITY).find("Thải") is None  # a near miss is not guessed


def test_document_types_cover_the_notices_document_field():
    # The notices' document field takes these codes (wiring after issue 12's merge).
    assert set(ID_DOCUMENT_TYPES) <= set(code_list(DOCUMENT_TYPE).entries)


def test_bac_luan_bridge_lines_are_place_data_in_both_languages():
    # Data for places.py to offer beside the gate pairs (wiring after issue 12's merge).
    data = resources.files("liaison.data")
    points = json.loads(data.joinpath("named_points.json").read_text("utf-8"))["named_points"]
    gates = json.loads(data.joinpath("gates.json").read_text("utf-8"))["gate_pairs"]
    gate_ids = {pair["id"] for pair in gates}
    bac_luan = [p for p in points if "Bắc Luân" in p["names"]["vi"]]
    assert {p["names"]["zh"] for p in bac_luan} == {"北仑河一桥分管线", "北仑河二桥分管线"}
    for point in points:
        assert set(point["names"]) == set(NAME_LANGUAGES)
        assert point["gate_pair"] in gate_ids
    assert len({p["id"] for p in points}) == len(points)
