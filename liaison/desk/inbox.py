"""The desk's inbox: an in-memory index of received messages, searched and paged by key.

The index holds what the inbox page shows and filters on (sender, notice type, case, priority,
a folded search text). It is built from messages opened in memory after unlock and forgotten
at lock; nothing of it is written to disk (the cache stays encrypted, as on the command line).
Pages go by keyset (`before` = a log index), so page N costs the same as page 1.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from liaison.client.errors import ClientError
from liaison.client.messages import OpenedMessage
from liaison.client.notices import is_notice, open_notice
from liaison.domain.fields import NoticeError
from liaison.domain.notices import notice_search_text, search_key

PAGE_SIZE = 50
_TITLE_LENGTH = 90


@dataclass(frozen=True)
class InboxEntry:
    """One received message as the inbox lists it (no decrypted body beyond its title)."""

    message_id: str
    log_index: int
    sent_at: int
    sender_names: dict[str, str]
    sender_device: str
    kind: str  # "notice", "text", "file" or "refused"
    title: str
    notice_type: str | None = None
    case_ref: str | None = None
    urgent: bool = False
    handling: str | None = None
    problem: str | None = None
    search_text: str = ""

    def sender(self, language: str) -> str:
        names = self.sender_names
        return names.get(language[:2]) or names.get("vi") or names.get("zh") or self.sender_device


def entry_for(record: dict[str, Any], opened: OpenedMessage | ClientError) -> InboxEntry:
    """The inbox entry of a cached `record` from its opened message (or why it did not open)."""
    common: dict[str, Any] = {
        "message_id": str(record["message_id"]),
        "log_index": int(record.get("log_index") or 0),
        "sent_at": int(record.get("sent_at") or 0),
        "sender_names": dict(record.get("sender_names") or {}),
        "sender_device": str(record.get("sender_device") or ""),
    }
    if isinstance(opened, ClientError):
        return InboxEntry(**common, kind="refused", title="", problem=opened.code)
    common["sender_names"] = dict(opened.sender_names)
    payload = opened.payload
    if is_notice(payload):
        try:
            notice = open_notice(opened)
        except (ClientError, NoticeError) as exc:
            return InboxEntry(**common, kind="refused", title="", problem=exc.code)
        text = notice_search_text(notice)
        return InboxEntry(
            **common,
            kind="notice",
            title=str(notice.header["our_ref"]),
            notice_type=notice.type,
            case_ref=notice.case_ref,
            urgent=notice.header.get("priority") == "urgent",
            handling=notice.handling,
            search_text=search_key(text),
        )
    if payload.is_text:
        text = payload.as_text()
        first = text.strip().split("\n", 1)[0]
        title = first if len(first) <= _TITLE_LENGTH else first[: _TITLE_LENGTH - 1] + "…"
        return InboxEntry(**common, kind="text", title=title, search_text=search_key(text))
    name = payload.filename or ""
    return InboxEntry(**common, kind="file", title=name, search_text=search_key(name))


@dataclass(frozen=True)
class InboxFilter:
    """What the officer asked the inbox for; every part optional."""

    query: str = ""
    unread: bool = False
    case_ref: str = ""
    notice_type: str = ""
    urgent: bool = False
    # "Awaiting my reply": the notices that still await it (liaison.domain.replies); None = all.
    awaiting: frozenset[str] | None = None

    def words(self) -> list[str]:
        return search_key(self.query).split()


@dataclass(frozen=True)
class InboxPage:
    entries: list[InboxEntry]
    next_before: int | None  # the key of the next page, None on the last


@dataclass
class InboxIndex:
    """Entries kept sorted by log index; newest first when paged."""

    _keys: list[int] = field(default_factory=list)
    _entries: list[InboxEntry] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    # Advances whenever the entries change: what is derived from them is cached under it.
    version: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def add(self, entry: InboxEntry) -> None:
        if entry.message_id in self._ids:
            return
        where = bisect.bisect_right(self._keys, entry.log_index)
        self._keys.insert(where, entry.log_index)
        self._entries.insert(where, entry)
        self._ids.add(entry.message_id)
        self.version += 1

    def replace(self, entry: InboxEntry) -> None:
        """Put `entry` in place of the one with its id (one that could not be opened before)."""
        if entry.message_id in self._ids:
            where = next(i for i, e in enumerate(self._entries) if e.message_id == entry.message_id)
            self._entries[where] = entry
            self.version += 1
        else:
            self.add(entry)

    def extend(self, entries: Iterable[InboxEntry]) -> None:
        for entry in entries:
            self.add(entry)

    def clear(self) -> None:
        self._keys.clear()
        self._entries.clear()
        self._ids.clear()
        self.version += 1

    def unread(self, entry: InboxEntry) -> bool:
        return entry.message_id not in self.seen

    def cases(self) -> list[str]:
        return sorted({e.case_ref for e in self._entries if e.case_ref})

    def _keep(self, entry: InboxEntry, wanted: InboxFilter, words: list[str]) -> bool:
        if wanted.unread and entry.message_id in self.seen:
            return False
        if wanted.case_ref and entry.case_ref != wanted.case_ref:
            return False
        if wanted.notice_type and entry.notice_type != wanted.notice_type:
            return False
        if wanted.urgent and not entry.urgent:
            return False
        if wanted.awaiting is not None and entry.message_id not in wanted.awaiting:
            return False
        return all(word in entry.search_text for word in words)

    def page(
        self, wanted: InboxFilter, *, before: int | None = None, size: int = PAGE_SIZE
    ) -> InboxPage:
        """Up to `size` entries matching `wanted` with a log index below `before`, newest first."""
        words = wanted.words()
        start = len(self._keys) if before is None else bisect.bisect_left(self._keys, before)
        found: list[InboxEntry] = []
        position = start - 1
        while position >= 0:
            entry = self._entries[position]
            if self._keep(entry, wanted, words):
                if len(found) == size:
                    return InboxPage(found, found[-1].log_index)
                found.append(entry)
            position -= 1
        return InboxPage(found, None)
