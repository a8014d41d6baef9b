"""The relay's log entries (PROTOCOL.md section 10): one typed builder and one parser per kind.

The relay builds an entry, `encode()`s it to its leaf data (canonical JSON, section 3) and
appends it; a client or an inspector turns the leaf data (or the entry object a relay answered)
back into the same type with `parse_log_entry` / `log_entry_from_json`, which refuse anything
that is not exactly one of the kinds below. Byte fields are base64 on the wire, bytes here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from crypto.encoding import MAX_SAFE_INTEGER, b64d, b64e, canonical_json, parse_canonical_json
from crypto.errors import MalformedError

HASH_BYTES = 32
SIGNATURE_BYTES = 64
MAX_TEXT = 1024
MAX_RETENTION_DAYS = 36500
REVIEW_REFUSALS = ("not_supervisor", "not_party")
_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
_ORIGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/-]{0,254}")  # crypto/federation.py, §16.1
PEER_ACTIONS = ("added", "removed")
PEER_ACK_EVENTS = ("logged", "acknowledged")


def content_hash(data: bytes) -> bytes:
    """SHA-256 of stored bytes as a log entry names them (`statement_hash`, `revocation_hash`,
    `wrap_hash`): SHA-256 like the log's own RFC 9162 hashing, so an auditor needs one hash."""
    return hashlib.sha256(data).digest()


# --- field codecs: how one field travels in JSON and what a reader accepts -----------------


@dataclass(frozen=True)
class _Codec:
    # None: the value travels as it is (str, int).
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any, str], Any]
    # Whether the field holds agency codes or device ids (what `named_identifiers` reports).
    names: bool = False


def _decode_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise MalformedError(f"log entry field {name!r} must be a non-empty string")
    return value


def _decode_message_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _MESSAGE_ID.fullmatch(value):
        raise MalformedError(f"log entry field {name!r} must be 32 lower-case hex digits")
    return value


def _decode_names(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise MalformedError(f"log entry field {name!r} must be a non-empty list")
    items = tuple(_decode_text(item, name) for item in value)
    if list(items) != sorted(set(items)):
        raise MalformedError(f"log entry field {name!r} must be sorted and without repeats")
    return items


def _text() -> Any:
    return field(metadata={"codec": _Codec(None, _decode_text)})


def _identifier() -> Any:
    """An agency code or a device id."""
    return field(metadata={"codec": _Codec(None, _decode_text, names=True)})


def _identifiers() -> Any:
    """A sorted list of agency codes or device ids."""
    return field(metadata={"codec": _Codec(list, _decode_names, names=True)})


def _message_id() -> Any:
    return field(metadata={"codec": _Codec(None, _decode_message_id)})


def _bytes(length: int = HASH_BYTES) -> Any:
    def decode(value: Any, name: str) -> bytes:
        if not isinstance(value, str):
            raise MalformedError(f"log entry field {name!r} must be a base64 string")
        raw = b64d(value)
        if len(raw) != length:
            raise MalformedError(f"log entry field {name!r} must be {length} bytes")
        return raw

    return field(metadata={"codec": _Codec(b64e, decode)})


def _integer(minimum: int = 0, maximum: int = MAX_SAFE_INTEGER) -> Any:
    def decode(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedError(f"log entry field {name!r} must be an integer")
        if not minimum <= value <= maximum:
            raise MalformedError(f"log entry field {name!r} must be in {minimum}..{maximum}")
        return value

    return field(metadata={"codec": _Codec(None, decode)})


def _optional_identifier() -> Any:
    """A device id, or null."""

    def decode(value: Any, name: str) -> str | None:
        return None if value is None else _decode_text(value, name)

    return field(metadata={"codec": _Codec(None, decode, names=True)})


def _origin() -> Any:
    """A relay origin (PROTOCOL.md §16.1): no agency code or device id."""

    def decode(value: Any, name: str) -> str:
        if not isinstance(value, str) or _ORIGIN.fullmatch(value) is None:
            raise MalformedError(f"log entry field {name!r} must be a relay origin")
        return value

    return field(metadata={"codec": _Codec(None, decode)})


def _choice(*values: str) -> Any:
    def decode(value: Any, name: str) -> str:
        if value not in values:
            raise MalformedError(f"log entry field {name!r} must be one of {values}")
        return str(value)

    return field(metadata={"codec": _Codec(None, decode)})


# --- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """Base of every kind: `at` is the relay's clock (integer Unix seconds) when it appended."""

    KIND: ClassVar[str] = ""
    _CODECS: ClassVar[tuple[tuple[str, _Codec], ...]] = ()
    _ENCODERS: ClassVar[tuple[tuple[str, Callable[[Any], Any] | None], ...]] = ()

    at: int = _integer()

    def to_json(self) -> dict[str, Any]:
        """The entry object as `GET /v1/log/entries` answers it (bytes as base64)."""
        obj: dict[str, Any] = {"kind": self.KIND}
        for name, encode in self._ENCODERS:
            value = getattr(self, name)
            obj[name] = value if encode is None else encode(value)
        return obj

    def encode(self) -> bytes:
        """The leaf data: canonical JSON of `to_json()` (PROTOCOL.md sections 3 and 10)."""
        return canonical_json(self.to_json())

    def named_identifiers(self) -> Iterator[str]:
        """Every agency code and device id the entry names, in field order."""
        for name, codec in self._CODECS:
            if codec.names:
                value = getattr(self, name)
                if value is not None:
                    yield from (value,) if isinstance(value, str) else value


_KINDS: dict[str, type[LogEntry]] = {}
_E = TypeVar("_E", bound=LogEntry)


def _kind(kind: str) -> Callable[[type[_E]], type[_E]]:
    """Register a dataclass as the type of `kind` and fix the order its fields are coded in."""

    def register(cls: type[_E]) -> type[_E]:
        cls.KIND = kind
        cls._CODECS = tuple((f.name, f.metadata["codec"]) for f in fields(cls))
        cls._ENCODERS = tuple((name, codec.encode) for name, codec in cls._CODECS)
        _KINDS[kind] = cls
        return cls

    return register


@_kind("agency")
@dataclass(frozen=True, kw_only=True)
class AgencyEntry(LogEntry):
    """An agency registered, with its root key and its first review-key statement."""

    code: str = _identifier()
    country: str = _text()
    root_key: bytes = _bytes()
    review_key_id: str = _text()
    statement_hash: bytes = _bytes()


@_kind("review_key")
@dataclass(frozen=True, kw_only=True)
class ReviewKeyEntry(LogEntry):
    """A later review-key statement of an agency (a rotation)."""

    agency: str = _identifier()
    key_id: str = _text()
    statement_hash: bytes = _bytes()


@_kind("certificate")
@dataclass(frozen=True, kw_only=True)
class CertificateEntry(LogEntry):
    """A device certificate registered."""

    agency: str = _identifier()
    device_id: str = _identifier()
    cert_hash: bytes = _bytes()


@_kind("revocation")
@dataclass(frozen=True, kw_only=True)
class RevocationEntry(LogEntry):
    """A device revoked by its agency root."""

    agency: str = _identifier()
    device_id: str = _identifier()
    revocation_hash: bytes = _bytes()


@_kind("envelope")
@dataclass(frozen=True, kw_only=True)
class EnvelopeEntry(LogEntry):
    """A message accepted: its envelope hash, sender and recipient devices, size in bytes."""

    message_id: str = _message_id()
    envelope_hash: bytes = _bytes()
    sender: str = _identifier()
    recipients: tuple[str, ...] = _identifiers()
    size: int = _integer()


@_kind("ack")
@dataclass(frozen=True, kw_only=True)
class AckEntry(LogEntry):
    """A recipient device acknowledged a message."""

    message_id: str = _message_id()
    device_id: str = _identifier()


@_kind("review_key_wrap")
@dataclass(frozen=True, kw_only=True)
class ReviewKeyWrapEntry(LogEntry):
    """A review key sealed to a supervisor device was stored."""

    agency: str = _identifier()
    device_id: str = _identifier()
    key_id: str = _text()
    wrap_hash: bytes = _bytes()


@_kind("review")
@dataclass(frozen=True, kw_only=True)
class ReviewEntry(LogEntry):
    """A supervisor's signed review request, logged before the envelope is released."""

    message_id: str = _message_id()
    device_id: str = _identifier()
    agency: str = _identifier()
    reason_hash: bytes = _bytes()
    requested_at: int = _integer()
    signature: bytes = _bytes(SIGNATURE_BYTES)


@_kind("review_refused")
@dataclass(frozen=True, kw_only=True)
class ReviewRefusedEntry(LogEntry):
    """A review refused: the asking device is no supervisor, or its agency is no party."""

    message_id: str = _message_id()
    device_id: str = _identifier()
    refusal: str = _choice(*REVIEW_REFUSALS)


@_kind("review_refusals_counted")
@dataclass(frozen=True, kw_only=True)
class ReviewRefusalsCountedEntry(LogEntry):
    """Refused reviews by one device past its logged refusals of a window: counted, not logged
    one by one (issue 14, defect 7), so a device cannot flood the log and nothing goes
    unrecorded. `count` refusals from `since` until `at`."""

    device_id: str = _identifier()
    count: int = _integer(1)
    since: int = _integer()


@_kind("retention")
@dataclass(frozen=True, kw_only=True)
class RetentionEntry(LogEntry):
    """An agency's retention period set by the operator."""

    agency: str = _identifier()
    days: int = _integer(1, MAX_RETENTION_DAYS)


@_kind("hold")
@dataclass(frozen=True, kw_only=True)
class HoldEntry(LogEntry):
    """A legal hold placed on a case tag by a supervisor device."""

    agency: str = _identifier()
    case_tag: bytes = _bytes()
    device_id: str = _identifier()
    reason_hash: bytes = _bytes()


@_kind("hold_release")
@dataclass(frozen=True, kw_only=True)
class HoldReleaseEntry(LogEntry):
    """A legal hold lifted; `hold_index` is the log index of the hold entry."""

    agency: str = _identifier()
    case_tag: bytes = _bytes()
    device_id: str = _identifier()
    hold_index: int = _integer()


@_kind("purge")
@dataclass(frozen=True, kw_only=True)
class PurgeEntry(LogEntry):
    """A message's ciphertext deleted after retention; its envelope entry stays."""

    message_id: str = _message_id()
    envelope_hash: bytes = _bytes()
    envelope_index: int = _integer()
    agencies: tuple[str, ...] = _identifiers()


# --- federation (PROTOCOL.md §16.9) ---------------------------------------------------------


@_kind("home")
@dataclass(frozen=True, kw_only=True)
class HomeEntry(LogEntry):
    """An agency's root-signed home statement naming this relay (§16.4)."""

    agency: str = _identifier()
    relay_origin: str = _origin()
    relay_key: bytes = _bytes()
    issued_at: int = _integer()
    statement_hash: bytes = _bytes()


@_kind("peer")
@dataclass(frozen=True, kw_only=True)
class PeerEntry(LogEntry):
    """The operator peered this relay with another one, or removed the peering (§16.2)."""

    origin: str = _origin()
    log_key: bytes = _bytes()
    action: str = _choice(*PEER_ACTIONS)


@_kind("forwarded_out")
@dataclass(frozen=True, kw_only=True)
class ForwardedOutEntry(LogEntry):
    """An envelope queued for a peer relay, home of `recipients` (§16.6)."""

    message_id: str = _message_id()
    envelope_hash: bytes = _bytes()
    to_relay: str = _origin()
    recipients: tuple[str, ...] = _identifiers()


@_kind("forwarded_in")
@dataclass(frozen=True, kw_only=True)
class ForwardedInEntry(LogEntry):
    """An envelope a peer relay forwarded, for `recipients` homed here (§16.6)."""

    message_id: str = _message_id()
    envelope_hash: bytes = _bytes()
    from_relay: str = _origin()
    sender: str = _identifier()
    recipients: tuple[str, ...] = _identifiers()
    size: int = _integer()


@_kind("peer_ack")
@dataclass(frozen=True, kw_only=True)
class PeerAckEntry(LogEntry):
    """A peer's signed acknowledgement of a forwarded envelope (§16.6): every field of the
    ack but `version`, `relay` (= `from_relay`) and `to_relay` (= this relay)."""

    message_id: str = _message_id()
    envelope_hash: bytes = _bytes()
    from_relay: str = _origin()
    event: str = _choice(*PEER_ACK_EVENTS)
    device_id: str | None = _optional_identifier()
    peer_index: int = _integer()
    signature: bytes = _bytes(SIGNATURE_BYTES)


@_kind("peer_review")
@dataclass(frozen=True, kw_only=True)
class PeerReviewEntry(LogEntry):
    """A supervisor's review on the peer relay of a cross-border message (§16.6)."""

    message_id: str = _message_id()
    from_relay: str = _origin()
    review_index: int = _integer()
    device_id: str = _identifier()
    agency: str = _identifier()
    reason_hash: bytes = _bytes()
    requested_at: int = _integer()
    signature: bytes = _bytes(SIGNATURE_BYTES)


LOG_ENTRY_KINDS: tuple[str, ...] = tuple(_KINDS)


def log_entry_type(kind: str) -> type[LogEntry]:
    """The type of entries of `kind`; MalformedError for a kind this code does not know."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError) as exc:
        raise MalformedError("unknown log entry kind") from exc


def log_entry_from_json(obj: Mapping[str, Any]) -> LogEntry:
    """The typed entry of an entry object (as a relay answers it); MalformedError on an unknown
    kind, a missing or extra field, or a field of the wrong type, length or range."""
    if not isinstance(obj, Mapping):
        raise MalformedError("a log entry is a JSON object")
    cls = log_entry_type(obj.get("kind"))  # type: ignore[arg-type]
    if set(obj) != {"kind", *(name for name, _codec in cls._CODECS)}:
        raise MalformedError(f"{cls.KIND} log entry: unexpected or missing fields")
    values = {name: codec.decode(obj[name], name) for name, codec in cls._CODECS}
    return cls(**values)


def parse_log_entry(data: bytes) -> LogEntry:
    """The typed entry of leaf data; refuses bytes that are not exactly its canonical JSON."""
    return log_entry_from_json(parse_canonical_json(data))
