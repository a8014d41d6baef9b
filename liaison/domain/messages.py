"""Text the domain hands up for display: a message id and its values, translated only by i18n."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def N_(message: str) -> str:
    """Mark `message` for extraction (Babel's `N_` keyword); `liaison.i18n` translates it later.

    The domain's own marker, so that naming a message does not import the translation layer.
    """
    return message


@dataclass(frozen=True, slots=True)
class Message:
    """A message id (English text with `{name}` fields, a catalogue key) and its values.

    A value is shown as is, except a `Message` (translated in turn) and a mapping of names by
    language code (`{"vi": …, "zh": …, "en": …}`: a proper name, picked, never translated).
    `liaison.i18n.translate(message, language)` makes the text; `str()` gives the English text,
    for logs and tracebacks only.
    """

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A read-only copy, so a message handed around cannot be changed behind its holder.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __str__(self) -> str:
        return self.msgid.format(**{key: english_value(v) for key, v in self.params.items()})

    def __hash__(self) -> int:
        return hash((self.msgid, tuple(sorted((k, repr(v)) for k, v in self.params.items()))))


def english_value(value: Any) -> Any:
    """A message value as the English text shows it (see `Message`)."""
    if isinstance(value, Message):
        return str(value)
    if isinstance(value, Mapping):
        return value.get("en") or next(iter(value.values()), "")
    return value
