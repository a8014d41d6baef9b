"""Replay guard: refuses an envelope whose message id was seen or whose counter does not advance."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from crypto.errors import MalformedError, ReplayError
from crypto.keys import validate_device_id

VERSION = 1
_MESSAGE_ID_RE = re.compile(r"[0-9a-f]{32}")


class ReplayKey(Protocol):
    """What the guard needs from a header (crypto.envelope.EnvelopeHeader satisfies it)."""

    @property
    def message_id(self) -> str: ...

    @property
    def sender_device(self) -> str: ...

    @property
    def counter(self) -> int: ...


@dataclass
class ReplayGuard:
    """Per receiving device: the last counter seen per sender device and every message id seen."""

    _last_counter: dict[str, int] = field(default_factory=dict, init=False)
    _seen: set[str] = field(default_factory=set, init=False)

    def check(self, header: ReplayKey) -> None:
        if header.message_id in self._seen:
            raise ReplayError("message id already seen")
        last = self._last_counter.get(header.sender_device)
        if last is not None and header.counter <= last:
            raise ReplayError("counter does not advance for this sender device")

    def record(self, header: ReplayKey) -> None:
        self.check(header)
        self._seen.add(header.message_id)
        self._last_counter[header.sender_device] = header.counter

    def last_counter(self, sender_device: str) -> int | None:
        return self._last_counter.get(sender_device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "counters": dict(sorted(self._last_counter.items())),
            "seen": sorted(self._seen),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayGuard:
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            raise MalformedError("unsupported replay guard state")
        counters = data.get("counters")
        seen = data.get("seen")
        if not isinstance(counters, Mapping) or not isinstance(seen, list):
            raise MalformedError("replay guard state needs counters and seen")
        guard = cls()
        for device, counter in counters.items():
            validate_device_id(device)
            if isinstance(counter, bool) or not isinstance(counter, int) or counter < 0:
                raise MalformedError("counter must be a non-negative integer")
            guard._last_counter[device] = counter
        for message_id in seen:
            if not isinstance(message_id, str) or not _MESSAGE_ID_RE.fullmatch(message_id):
                raise MalformedError("message id must be 32 lower-case hex digits")
            guard._seen.add(message_id)
        return guard
