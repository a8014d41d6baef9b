"""Domain messages become text only in liaison.i18n, in the language the caller names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liaison.domain.case_events import SupersededReason
from liaison.domain.cases import VerificationStatus
from liaison.domain.handover import HandoverState
from liaison.domain.messages import Message
from liaison.domain.warnings import SchedulingWarning, WarningCode
from liaison.i18n import current_language, gettext_for, set_language, translate

GATE = {"vi": "Móng Cái", "zh": "东兴", "en": "Mong Cai"}


@pytest.fixture
def chinese_process() -> Iterator[None]:
    """The process-wide language set to Chinese: explicit languages must not follow it."""
    previous = current_language()
    set_language("zh")
    yield
    set_language(previous)


def test_message_params_cannot_be_changed_after_it_is_made() -> None:
    params = {"case": "QN-1"}
    message = Message("Case {case}", params)
    params["case"] = "QN-2"
    assert message.params["case"] == "QN-1"
    with pytest.raises(TypeError):
        message.params["case"] = "QN-3"  # type: ignore[index]


@pytest.mark.usefixtures("chinese_process")
@pytest.mark.parametrize("language", ["vi", "zh_Hans_CN", "en"])
def test_state_is_translated_into_the_language_named_not_the_process_language(
    language: str,
) -> None:
    text = translate(HandoverState.CONFIRMED.message, language)
    assert text == gettext_for(language, "confirmed")
    assert text != "confirmed" or language == "en"


def test_nested_message_and_names_by_language_are_rendered_in_the_same_language() -> None:
    warning = SchedulingWarning(
        WarningCode.VERIFICATION_NOT_CONFIRMED,
        {"case": "QN-2026-0001", "status": VerificationStatus.PENDING},
    )
    vietnamese = translate(warning.message, "vi")
    assert "QN-2026-0001" in vietnamese
    assert gettext_for("vi", "pending") in vietnamese
    outside = SchedulingWarning(
        WarningCode.OUTSIDE_OPENING_HOURS,
        {"local_time": "t", "gate": GATE, "opens": "07:00", "closes": "19:00", "zone": "z"},
    )
    assert "东兴" in translate(outside.message, "zh_Hans_CN")
    assert "Móng Cái" in translate(outside.message, "vi")


@pytest.mark.usefixtures("chinese_process")
def test_str_of_a_message_is_english_whatever_the_process_language() -> None:
    warning = SchedulingWarning(
        WarningCode.VERIFICATION_NOT_CONFIRMED,
        {"case": "QN-1", "status": VerificationStatus.NONE},
    )
    assert str(warning.message) == "The verification of case QN-1 is not confirmed (not requested)."
    assert str(SupersededReason.OWN_OFFER.message) == translate(
        SupersededReason.OWN_OFFER.message, "en"
    )
