"""Translation of user-facing strings: gettext catalogues in liaison/locales/, by language."""

from __future__ import annotations

import io
import os
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "liaison"
LANGUAGES = ("vi", "zh_Hans_CN", "en")
# Short names officers type on the command line, mapped to catalogue locales.
LANGUAGE_ALIASES = {"vi": "vi", "zh": "zh_Hans_CN", "zh_Hans_CN": "zh_Hans_CN", "en": "en"}

_current = "en"


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue for `language`: the compiled .mo that the build makes from the .po when it
    is up to date (2 ms to load), else the .po itself, compiled in memory (never by hand)."""
    locale = LANGUAGE_ALIASES.get(language, language)
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo_path.is_file() and (
        not po_path.is_file() or mo_path.stat().st_mtime >= po_path.stat().st_mtime
    ):
        with mo_path.open("rb") as fh:
            return GNUTranslations(fh)
    if not po_path.is_file():
        return NullTranslations()
    # Babel's parser costs a tenth of a second to import: only when there is no fresh .mo.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def set_language(language: str) -> None:
    """Choose the language of `_` for this process (vi, zh, en)."""
    global _current
    _current = LANGUAGE_ALIASES.get(language, "en")


def current_language() -> str:
    return _current


def language_from_env() -> str:
    """LIAISON_LANG, else the POSIX LANGUAGE/LC_ALL/LANG prefix, else English."""
    for name in ("LIAISON_LANG", "LANGUAGE", "LC_ALL", "LANG"):
        value = os.environ.get(name, "")
        if value:
            head = value.split(":")[0].split(".")[0]
            if head.startswith("vi"):
                return "vi"
            if head.startswith("zh"):
                return "zh_Hans_CN"
            if head.startswith("en"):
                return "en"
    return "en"


def _(message: str) -> str:
    """Translate `message` into the current language."""
    return translations(_current).gettext(message)


def gettext_for(language: str, message: str) -> str:
    """Translate `message` into `language` regardless of the current one."""
    return translations(LANGUAGE_ALIASES.get(language, language)).gettext(message)


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated later, where it is shown."""
    return message
