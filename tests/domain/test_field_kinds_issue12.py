"""Field kinds added for signable documents: free text with an officer's translation, code-list
values, named points."""

from __future__ import annotations

import pytest

from liaison.domain.code_lists import ETHNICITY, INTERPRETER_LANGUAGE, TRANSPORT_ROUTE
from liaison.domain.fields import Coded, CodedList, Counts, FieldError, Place, Text, coded_parts


def test_free_text_may_carry_a_translation_by_a_named_officer():
    value = {
        "text": "Muốn về nhà",
        "lang": "vi",
        "translation": {"text": "想回家", "lang": "zh", "by": "Hoàng Minh"},
    }
    assert Text().check(value, "f") == value
    assert Text().check({"text": "Muốn về nhà", "lang": "vi"}, "f") == {
        "text": "Muốn về nhà",
        "lang": "vi",
    }


@pytest.mark.parametrize(
    ("translation", "code", "path"),
    [
        ({"text": "想回家", "lang": "zh"}, "missing", "f.translation.by"),
        ({"text": "Về nhà", "lang": "vi", "by": "A"}, "bad_language", "f.translation.lang"),
        ({"text": "", "lang": "zh", "by": "A"}, "empty", "f.translation.text"),
        ({"text": "想回家", "lang": "zh", "by": "A", "x": 1}, "unknown_field", "f.translation.x"),
        ("想回家", "wrong_type", "f.translation"),
    ],
)
def test_a_bad_translation_is_refused(translation, code, path):
    with pytest.raises(FieldError) as info:
        Text().check({"text": "Muốn về nhà", "lang": "vi", "translation": translation}, "f")
    assert info.value.code == code and info.value.field == path


def test_code_list_values_take_codes_and_the_names_officers_wrote_before():
    assert Coded(ETHNICITY).check("01", "f") == "01"
    assert Coded(ETHNICITY).check("Kinh", "f") == "Kinh"
    with pytest.raises(FieldError) as info:
        Coded(ETHNICITY).check("Kinhh", "f")
    assert info.value.code == "unknown_code"
    assert CodedList(INTERPRETER_LANGUAGE).check("vi-zh", "f") == "vi-zh"
    assert coded_parts(INTERPRETER_LANGUAGE, "vi-zh") == ["vi", "zh"]
    assert coded_parts(INTERPRETER_LANGUAGE, "tiếng Khơ-me") == ["km"]
    with pytest.raises(FieldError):
        CodedList(INTERPRETER_LANGUAGE).check("vi-xx", "f")
    assert coded_parts(TRANSPORT_ROUTE, "đường bộ") == ["road"]


def test_statistics_routes_are_transport_route_codes():
    assert Counts().check({"route": {"road": 3}}, "c") == {"route": {"road": 3}}
    with pytest.raises(FieldError) as info:
        Counts().check({"route": {"by balloon": 3}}, "c")
    assert info.value.code == "unknown_code"


def test_a_named_point_of_the_place_data_is_a_place():
    assert Place().check({"kind": "point", "point": "bac-luan-1--bridge-line"}, "p") == {
        "kind": "point",
        "point": "bac-luan-1--bridge-line",
    }
    with pytest.raises(FieldError) as info:
        Place().check({"kind": "point", "point": "nowhere"}, "p")
    assert info.value.code == "unknown_point"
    with pytest.raises(FieldError) as info:
        Place().check({"kind": "point"}, "p")
    assert info.value.code == "missing"


def test_rule_conditions_name_the_field_and_value_in_the_readers_language():
    import json
    from pathlib import Path

    from liaison.domain.notices import parse_notice
    from liaison.i18n import translate

    golden = Path(__file__).resolve().parent.parent / "golden" / "notices"
    data = json.loads((golden / "reschedule_cancellation.json").read_text(encoding="utf-8"))
    data["fields"]["action"] = "cancel"
    with pytest.raises(FieldError) as info:
        parse_notice(data)
    assert translate(info.value.message, "vi").endswith("khi Hình thức là “hủy”")
    assert translate(info.value.message, "zh").endswith("变更类型为“取消”时不得填写")
    assert "action = cancel" not in str(info.value)
