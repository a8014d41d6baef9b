"""Every message id is translated in vi, zh_Hans_CN and en, none fuzzy, same placeholders."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from liaison.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent.parent
LOCALES = ROOT / "locales"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extracted_ids() -> set[str]:
    """Message ids in liaison/ now, by Babel's own extractor (not the possibly stale .pot)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "liaison"), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def catalogue(language: str):
    with (LOCALES / language / "LC_MESSAGES" / "liaison.po").open("rb") as fh:
        return read_po(fh, locale=language)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


IDS = extracted_ids()


def test_extraction_finds_the_notice_catalogue():
    assert "Handover proposal" in IDS and "{field}: required field is missing" in IDS


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_id_is_translated_and_none_fuzzy(language):
    cat = catalogue(language)
    untranslated = sorted(m for m in IDS if m not in cat or not cat[m].string)
    fuzzy = sorted(m.id for m in cat if m.id and m.fuzzy)
    assert not untranslated, f"{len(untranslated)} untranslated in {language}: {untranslated[:10]}"
    assert not fuzzy, f"fuzzy in {language}: {fuzzy[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_are_the_same_as_in_the_message_id(language):
    wrong = [
        (m.id, m.string)
        for m in catalogue(language)
        if m.id and m.string and placeholders(m.id) != placeholders(m.string)
    ]
    assert not wrong


def test_catalogues_agree_on_their_message_ids():
    ids = [{m.id for m in catalogue(language) if m.id} for language in LANGUAGES]
    assert ids[0] == ids[1] == ids[2]
