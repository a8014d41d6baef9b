"""Nothing a Vietnamese or Chinese officer sees is English (issue 12 §4): every command's
--help, every error wording worded at the edge, and every rendered notice, in vi and in zh.

"English" is data-driven: a word of the English msgids of our catalogues (and argparse's) that
no Vietnamese or Chinese translation uses. Allowed: command and option names, metavars, choice
values (what the officer types), ids, codes, and the proper names of ALLOWED_NAMES.
"""

from __future__ import annotations

import argparse
import errno
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from liaison.domain.notices import parse_notice
from liaison.i18n import LOCALES_DIR, set_language
from liaison.i18n.documents import notice_document
from liaison.i18n.errors import (
    CRYPTO_MESSAGES,
    crypto_error_text,
    install_argparse_translation,
    os_error_text,
    pdf_unavailable_text,
)
from liaison.i18n.pdf import INSTALL_HINT
from liaison.i18n.render import render_html, render_text

LANGUAGES = ("vi", "zh_Hans_CN")
WORD = re.compile(r"[A-Za-z][A-Za-z']+")
# Technical words in a token we never translate: paths, media types, URLs, option names, ids.
TECHNICAL = re.compile(r"\S*[/_@=]\S*|--?[\w-]+|\$\w+|`[^`]*`|\S+\.\w{2,4}\b")
# Proper names and product names an officer reads as such in any language.
ALLOWED_NAMES = {"liaison", "weasyprint", "pango", "postgresql", "sqlite", "unix", "zalo"}
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "notices"
META = {"message_id": "m_golden0000000001", "sent_at": 1796333400}


@cache
def english_words() -> frozenset[str]:
    def words(locale: str, translated: bool) -> set[str]:
        path = LOCALES_DIR / locale / "LC_MESSAGES" / "liaison.po"
        with path.open("rb") as fh:
            catalog = read_po(fh)
        out: set[str] = set()
        for message in catalog:
            if not message.id:
                continue
            text = message.string if translated else message.id
            for part in text if isinstance(text, tuple) else (text,):
                out |= {w.lower() for w in WORD.findall(part or "")}
        return out

    native = words("vi", True) | words("zh_Hans_CN", True)
    return frozenset(words("en", False) - native - ALLOWED_NAMES)


def english_in(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """The English words of `text`, outside technical tokens and `allowed`."""
    found = []
    for line in text.splitlines():
        for word in WORD.findall(TECHNICAL.sub(" ", line)):
            if word.isupper() or word.lower() in allowed:
                continue  # a metavar (FILE, CASE_REF), a code (H2) or an allowed name
            if word.lower() in english_words():
                found.append(f"{word!r} in {line.strip()[:100]!r}")
    return found


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language("en")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _typed_words(parser: argparse.ArgumentParser) -> set[str]:
    """What the officer types: command names, option names and choice values."""
    typed: set[str] = set()
    for each in _parsers(parser):
        for action in each._actions:
            for option in action.option_strings:
                typed |= {w.lower() for w in WORD.findall(option)}
            if action.choices:
                for choice in action.choices:
                    typed |= {w.lower() for w in WORD.findall(str(choice))}
    return typed


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_commands_help_is_free_of_english(language):
    install_argparse_translation()
    set_language(language)
    from liaison.cli import build_parser

    parser = build_parser()
    typed = _typed_words(parser)
    found = []
    for each in _parsers(parser):
        found += [f"{each.prog}: {hit}" for hit in english_in(each.format_help(), typed)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_wording_is_free_of_english(language):
    set_language(language)
    texts = [crypto_error_text(code) for code in CRYPTO_MESSAGES]
    texts += [
        os_error_text(OSError(number, "English text from the OS", "/tmp/notice.json"))
        for number in (errno.ENOENT, errno.EACCES, errno.ENOSPC, errno.ECONNREFUSED, errno.EIO)
    ]
    texts.append(pdf_unavailable_text(INSTALL_HINT))
    found = [hit for text in texts for hit in english_in(text.replace(INSTALL_HINT, ""))]
    assert not found, "\n".join(found)


def _page_text(page: str) -> str:
    """The text a reader sees on an HTML page: the body without its tags."""
    return re.sub(r"<[^>]+>", " ", page[page.index("<body>") :])


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_every_rendered_notice_is_free_of_english(name, language):
    notice = parse_notice((GOLDEN / f"{name}.json").read_bytes())
    lang = language[:2]
    texts = [
        render_text(notice, lang, message_meta=META),
        _page_text(render_html(notice, lang, message_meta=META)),
        _page_text(notice_document(notice, META)),
    ]
    # Free text is the officers' own words, the text of record: not ours to translate.
    found = [hit for text in texts for hit in english_in(text, _free_text_words(notice.to_dict()))]
    assert not found, "\n".join(found)


def _free_text_words(value: object) -> set[str]:
    if isinstance(value, dict):
        words = {w.lower() for w in WORD.findall(str(value.get("text", "")))}
        for item in value.values():
            words |= _free_text_words(item)
        return words
    if isinstance(value, list):
        return set().union(*map(_free_text_words, value)) if value else set()
    return set()


def test_the_check_finds_english():
    assert english_in("show this help message and exit")
    assert english_in("Hủy bàn giao; cancellation") == [
        "'cancellation' in 'Hủy bàn giao; cancellation'"
    ]
    assert not english_in("--pdf FILE, image/jpeg, m_golden0000000001, H2")
