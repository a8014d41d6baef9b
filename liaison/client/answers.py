"""The relay's answers as types, one per response of its OpenAPI document (server/openapi.py).

Answers are untrusted input: `decode_answer` turns the parsed JSON into one of these structs or
raises `InvalidAnswer` naming the route, so no caller meets a missing key or a wrong type.
Base64 fields stay strings here; they are decoded, strictly, where their bytes are used
(`liaison.client.wire.decode_b64`). Log entries stay mappings: their kinds are read by the log
checks (`transparency`), which know each kind.

Each struct also reads like the mapping it replaces (`answer["log_index"]`,
`answer.get("checkpoint")`), so code written against the JSON keeps working while it moves to
attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from liaison.client.errors import InvalidAnswer

Bytes = str  # standard base64, decoded where used
Note = str  # a C2SP signed note holding a checkpoint
LogEntry = dict[str, Any]

AnswerT = TypeVar("AnswerT")


class Answer(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every answer: typed fields, plus read-only mapping access by field name."""

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self, name, None) if name in self.__struct_fields__ else None
        return default if value is None else value

    def __getitem__(self, name: str) -> Any:
        if name not in self.__struct_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in self.__struct_fields__ and getattr(self, str(name)) is not None

    def keys(self) -> Iterator[str]:
        return (name for name in self.__struct_fields__ if getattr(self, name) is not None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (for `--json` output and files)."""
        value: dict[str, Any] = msgspec.to_builtins(self)
        return value


# --- Directory --------------------------------------------------------------------------------
class Health(Answer, frozen=True, kw_only=True):
    status: str
    version: str | None = None


class PeerRelay(Answer, frozen=True, kw_only=True):
    """A relay peered with this one, which witnesses its log (PROTOCOL.md §16.7)."""

    origin: str
    log_public_key: Bytes
    fingerprint: str | None = None


class ServerInfo(Answer, frozen=True, kw_only=True):
    origin: str
    log_key_name: str
    log_public_key: Bytes
    log_key_id: Bytes | None = None
    version: str | None = None
    peers: list[PeerRelay] = []


class Agency(Answer, frozen=True, kw_only=True):
    code: str
    country: str
    name_vi: str
    name_zh: str
    root_key: Bytes
    review_statements: list[Bytes] = []
    log_index: int | None = None


class AgencyCreated(Answer, frozen=True, kw_only=True):
    agency: Agency
    log_index: int


class AgencyList(Answer, frozen=True, kw_only=True):
    agencies: list[Agency]


class LogIndex(Answer, frozen=True, kw_only=True):
    log_index: int


class CertificateAccepted(Answer, frozen=True, kw_only=True):
    device_id: str | None = None
    log_index: int


class Device(Answer, frozen=True, kw_only=True):
    device_id: str | None = None
    agency: str | None = None
    certificate: Bytes
    log_index: int
    revoked: bool
    revocation: Bytes | None = None
    revocation_log_index: int | None = None
    tree_size: int
    inclusion_proof: list[Bytes]
    checkpoint: Note | None = None


class DeviceList(Answer, frozen=True, kw_only=True):
    devices: list[Device]
    checkpoint: Note | None = None


# --- Authentication and mailbox -----------------------------------------------------------------
class Challenge(Answer, frozen=True, kw_only=True):
    challenge: Bytes
    expires_at: int | None = None


class Token(Answer, frozen=True, kw_only=True):
    token: str
    expires_at: int


class SendReceipt(Answer, frozen=True, kw_only=True):
    message_id: str | None = None
    envelope_hash: Bytes | None = None
    log_index: int
    received_at: int | None = None


class UploadState(Answer, frozen=True, kw_only=True):
    upload_id: str
    offset: int
    size: int


class UploadOffset(Answer, frozen=True, kw_only=True):
    offset: int


class BlobStored(Answer, frozen=True, kw_only=True):
    blob: str
    size: int


class Message(Answer, frozen=True, kw_only=True):
    cursor: int
    message_id: str
    envelope: Bytes
    log_index: int
    received_at: int | None = None
    acknowledged: bool = False
    tree_size: int | None = None
    inclusion_proof: list[Bytes] | None = None


class MessagePage(Answer, frozen=True, kw_only=True):
    messages: list[Message]
    next_cursor: int | None = None
    checkpoint: Note | None = None


class CaseTagsAnswer(Answer, frozen=True, kw_only=True):
    message_id: str
    case_tags: int


# --- The log ------------------------------------------------------------------------------------
class CheckpointAnswer(Answer, frozen=True, kw_only=True):
    checkpoint: Note
    size: int
    cosigned: Note | None = None
    # Per witness key, its newest cosigned note (relays before issue 14 send none).
    witnessed: list[Note] = []


class ConsistencyProof(Answer, frozen=True, kw_only=True):
    proof: list[Bytes]


class InclusionProof(Answer, frozen=True, kw_only=True):
    leaf_hash: Bytes
    proof: list[Bytes]
    index: int | None = None
    size: int | None = None


class IndexedEntry(Answer, frozen=True, kw_only=True):
    index: int
    entry: LogEntry


class LogEntries(Answer, frozen=True, kw_only=True):
    entries: list[IndexedEntry]


class CosignatureReceipt(Answer, frozen=True, kw_only=True):
    size: int


# --- Supervisor review and the audit log --------------------------------------------------------
class ReviewKeyWrapItem(Answer, frozen=True, kw_only=True):
    key_id: str
    wrap: Bytes
    log_index: int | None = None


class ReviewKeyWraps(Answer, frozen=True, kw_only=True):
    wraps: list[ReviewKeyWrapItem]


class TrafficRecipient(Answer, frozen=True, kw_only=True):
    device_id: str
    acknowledged_at: int | None = None


class TrafficMessage(Answer, frozen=True, kw_only=True):
    message_id: str
    sender: str
    recipients: list[TrafficRecipient]
    size: int
    log_index: int
    received_at: int


class ReviewTraffic(Answer, frozen=True, kw_only=True):
    agency: str | None = None
    messages: list[TrafficMessage]


class ReviewRelease(Answer, frozen=True, kw_only=True):
    message_id: str
    envelope: Bytes
    envelope_log_index: int
    envelope_inclusion_proof: list[Bytes] | None = None
    review: LogEntry
    log_index: int
    tree_size: int | None = None
    inclusion_proof: list[Bytes] | None = None
    checkpoint: Note | None = None


class AuditRecord(Answer, frozen=True, kw_only=True):
    index: int
    entry: LogEntry
    inclusion_proof: list[Bytes] | None = None


class AuditRecords(Answer, frozen=True, kw_only=True):
    records: list[AuditRecord]
    next: int | None = None
    tree_size: int | None = None
    checkpoint: Note | None = None


# --- Retention and legal holds ------------------------------------------------------------------
class RetentionAnswer(Answer, frozen=True, kw_only=True):
    agency: str
    days: int
    log_index: int


class Hold(Answer, frozen=True, kw_only=True):
    case_tag: Bytes
    placed_by: str
    reason_hash: Bytes
    placed_at: int
    log_index: int


class Holds(Answer, frozen=True, kw_only=True):
    holds: list[Hold]


def decode_answer(route: str, body: Any, kind: type[AnswerT]) -> AnswerT:
    """`body` (the parsed JSON of a successful answer to `route`) as `kind`, strictly (no
    string read as a number), else InvalidAnswer."""
    try:
        return msgspec.convert(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidAnswer(route, str(exc)) from exc


__all__ = [
    "Agency",
    "AgencyCreated",
    "AgencyList",
    "Answer",
    "AuditRecord",
    "AuditRecords",
    "CaseTagsAnswer",
    "CertificateAccepted",
    "Challenge",
    "CheckpointAnswer",
    "ConsistencyProof",
    "CosignatureReceipt",
    "Device",
    "DeviceList",
    "Health",
    "Hold",
    "Holds",
    "InclusionProof",
    "IndexedEntry",
    "LogEntries",
    "LogIndex",
    "Message",
    "MessagePage",
    "RetentionAnswer",
    "ReviewKeyWrapItem",
    "ReviewKeyWraps",
    "ReviewRelease",
    "ReviewTraffic",
    "SendReceipt",
    "PeerRelay",
    "ServerInfo",
    "Token",
    "TrafficMessage",
    "TrafficRecipient",
    "decode_answer",
]
