"""Translation of user-facing strings: gettext catalogues in locales/ (installed as
liaison/locales/), by language."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import TYPE_CHECKING, Any

# One extraction marker for every layer: the domain's, re-exported for cli and client.
from liaison.domain.messages import N_ as N_
from liaison.domain.messages import Message

if TYPE_CHECKING:
    from liaison.domain.warnings import SchedulingWarning


def _locales_dir() -> Path:
    # Installed: the catalogues are package data in liaison/locales/ (setup.py maps them there).
    # Source tree and editable installs: the top-level locales/ of the project.
    package = Path(__file__).resolve().parent.parent
    installed = package / "locales"
    return installed if installed.is_dir() else package.parent / "locales"


LOCALES_DIR = _locales_dir()
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


def translate(message: Message, language: str) -> str:
    """`message` from the domain as text in `language` (vi, zh, zh_Hans_CN, en).

    Values that are messages are translated too; a mapping of names by language code is a
    proper name, shown in `language`, else in English, else in the first language it has.
    """
    return gettext_for(language, message.msgid).format(
        **{key: _value_in(value, language) for key, value in message.params.items()}
    )


def _value_in(value: Any, language: str) -> Any:
    if isinstance(value, Message):
        return translate(value, language)
    if isinstance(value, Mapping):
        return value.get(language[:2]) or value.get("en") or next(iter(value.values()), "")
    return value


def warning_json(warning: SchedulingWarning, language: str) -> dict[str, str]:
    """A scheduling warning as JSON output gives it: its stable code and its text."""
    return {"code": warning.code.value, "message": translate(warning.message, language)}
