"""Code lists (ethnicity, nationality, interpreter language, transport route, document type)
with their display names in each language, from liaison/data/code_lists.json."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from liaison.domain._data import load

ETHNICITY = "ethnicity"
NATIONALITY = "nationality"
INTERPRETER_LANGUAGE = "interpreter_language"
TRANSPORT_ROUTE = "transport_route"
DOCUMENT_TYPE = "document_type"
LIST_NAMES = (ETHNICITY, NATIONALITY, INTERPRETER_LANGUAGE, TRANSPORT_ROUTE, DOCUMENT_TYPE)
# Every entry has a name in each of these; English is the working fallback, as for agencies.
NAME_LANGUAGES = ("vi", "zh", "en")


def _match_key(text: str) -> str:
    # Officers type "Khơ Me", "khơ-me" or "KHƠ-ME" for the same group: case, hyphens and spacing
    # are ignored, diacritics are not ("Co" and "Cờ Lao" are different groups).
    folded = unicodedata.normalize("NFC", text).casefold().replace("-", " ")
    return " ".join(folded.split())


@dataclass(frozen=True)
class CodeListEntry:
    """One value of a code list: its stable code and its name in each language."""

    code: str
    names: Mapping[str, str]
    aliases: tuple[str, ...]
    # False when no public source confirmed the name in every language: shown to the officer as
    # such, never marked on a document both sides sign.
    verified: bool

    def name(self, language: str) -> str:
        """The display name in `language` ("vi", "zh", "zh_Hans_CN", "en"…)."""
        return self.names.get(language[:2]) or self.names["en"]


@dataclass(frozen=True)
class CodeList:
    """A closed list of values, by code, in file order."""

    name: str
    entries: Mapping[str, CodeListEntry]
    _by_key: Mapping[str, CodeListEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, CodeListEntry] = {}
        for item in self.entries.values():
            for key in (item.code, *item.names.values(), *item.aliases):
                by_key.setdefault(_match_key(key), item)
        object.__setattr__(self, "_by_key", by_key)

    def entry(self, code: str) -> CodeListEntry | None:
        return self.entries.get(code)

    def display(self, code: str, language: str) -> str | None:
        """The name of `code` in `language`; None for a code this list lacks."""
        found = self.entries.get(code)
        return found.name(language) if found else None

    def find(self, text: str) -> CodeListEntry | None:
        """The entry whose code, name in any language or alias is `text` (case, hyphens and
        spacing ignored); None when nothing matches. For reading values officers typed."""
        return self._by_key.get(_match_key(text))


def _entry(raw: Mapping[str, object]) -> CodeListEntry:
    return CodeListEntry(
        code=str(raw["code"]),
        names=dict(raw["names"]),  # type: ignore[call-overload]
        aliases=tuple(raw.get("aliases", ())),  # type: ignore[call-overload]
        verified=bool(raw.get("verified", False)),
    )


@cache
def code_lists() -> dict[str, CodeList]:
    """Every code list of the data file, by list name."""
    return {
        name: CodeList(name, {e.code: e for e in map(_entry, raw["entries"])})
        for name, raw in load("code_lists")["lists"].items()
    }


def code_list(name: str) -> CodeList:
    """The code list `name` (one of LIST_NAMES); KeyError for a list the data file lacks."""
    return code_lists()[name]


def display(list_name: str, code: str, language: str) -> str | None:
    """Shortcut: the name of `code` of list `list_name` in `language`."""
    return code_list(list_name).display(code, language)
